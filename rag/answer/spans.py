"""Short-answer candidates inside one sentence, and the features the span model scores them by.

A candidate is any run of 1..``MAX_SPAN_WORDS`` consecutive words. Its features describe its shape
(length, digits, capitals, the punctuation around it), how it sits relative to the words the
question shares with the sentence (an answer sits near them but is rarely one of them) and how
well that shape fits the kind of answer the question seems to want (probabilities from the
answer-type model, learned from question embeddings). Nothing here depends on a language's
vocabulary: words are runs of letters or digits, compared with the question by term prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.text import fold, term_prefix

MAX_SPAN_WORDS = 8
# A word: letters/digits, joined across inner hyphens, apostrophes, dots, commas and slashes
# ("co-founder", "4,3", "Llama-3.1") and across space-grouped thousands ("140 000").
_WORD = re.compile(r"\w+(?:(?:[-.,'’/]|(?<=\d)[\u00a0\u202f ](?=\d{3}(?!\d)))\w+)*")
_YEAR = re.compile(r"^(?:1\d{3}|20\d{2})$")
_PUNCT = re.compile(r"[^\w\s]")

SPAN_FEATURES = (
    "len1", "len2", "len3", "len4_5", "len6_8", "question_share", "question_any", "digit_share", "year_any",
    "capital_share", "first_capital", "last_capital", "type_number_digit", "type_date_year", "type_name_capital",
    "type_short_len", "type_long_len", "punct_before", "punct_after", "inner_punct", "first_short_lower",
    "last_short_lower", "first_length", "last_length", "question_distance", "left_question", "right_question",
    "relative_position", "whole_sentence", "inside_brackets",
    # added with the short-answer retrain (train/span.py): where the span sits among the question's words
    "question_edge", "sentence_has_question", "sentence_length", "aligned", "free_coverage",
)


@dataclass(frozen=True)
class Words:
    """The words of a sentence with their character offsets and per-word shape flags."""

    text: str
    starts: np.ndarray
    ends: np.ndarray
    in_question: np.ndarray
    digit: np.ndarray
    year: np.ndarray
    capital: np.ndarray  # capitalized, and not the sentence's first word
    short_lower: np.ndarray  # short lower-case word: often a function word, rarely an answer's edge
    length: np.ndarray
    punct_before: np.ndarray  # punctuation (or the sentence start) right before the word
    punct_after: np.ndarray
    bracket_depth: np.ndarray

    @property
    def n(self) -> int:
        return len(self.starts)


def sentence_words(text: str, question_terms: frozenset[str]) -> Words:
    matches = list(_WORD.finditer(text))
    starts = np.array([m.start() for m in matches], dtype=np.int64)
    ends = np.array([m.end() for m in matches], dtype=np.int64)
    words = [m.group(0) for m in matches]
    gaps = [text[(ends[i - 1] if i else 0):starts[i]] for i in range(len(words))] + \
        [text[ends[-1]:] if words else text]
    depth, depths = 0, []
    for i in range(len(words)):
        depth = max(0, depth + gaps[i].count("(") + gaps[i].count("[") - gaps[i].count(")") - gaps[i].count("]"))
        depths.append(depth)
    return Words(
        text=text, starts=starts, ends=ends,
        in_question=np.array([_word_in(w, question_terms) for w in words], dtype=bool),
        digit=np.array([any(c.isdigit() for c in w) for w in words], dtype=bool),
        year=np.array([bool(_YEAR.match(w)) for w in words], dtype=bool),
        capital=np.array([i > 0 and w[0].isupper() for i, w in enumerate(words)], dtype=bool),
        short_lower=np.array([len(w) <= 3 and w.islower() for w in words], dtype=bool),
        length=np.array([len(w) for w in words], dtype=np.float64),
        punct_before=np.array([i == 0 or bool(_PUNCT.search(gaps[i])) for i in range(len(words))], dtype=bool),
        punct_after=np.array([i == len(words) - 1 or bool(_PUNCT.search(gaps[i + 1])) for i in range(len(words))],
                             dtype=bool),
        bracket_depth=np.array(depths, dtype=np.int64),
    )


def _word_in(word: str, question_terms: frozenset[str]) -> bool:
    folded = fold(word)
    parts = re.findall(r"\w+", folded)
    return bool(parts) and all(term_prefix(p) in question_terms or p in question_terms for p in parts)


def candidate_spans(words: Words, max_words: int = MAX_SPAN_WORDS) -> np.ndarray:
    """(i, j) word index pairs, inclusive, of every run of 1..max_words words."""
    pairs = [(i, j) for i in range(words.n) for j in range(i, min(words.n, i + max_words))]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def span_features(words: Words, spans: np.ndarray, type_probs: np.ndarray) -> np.ndarray:
    """One row of ``SPAN_FEATURES`` per span; ``type_probs`` from the answer-type model
    (number, date, name, short, long)."""
    n = words.n
    if n == 0 or len(spans) == 0:
        return np.zeros((0, len(SPAN_FEATURES)))
    i, j = spans[:, 0], spans[:, 1]
    length = (j - i + 1).astype(np.float64)

    def span_sum(flags: np.ndarray) -> np.ndarray:
        cumulative = np.concatenate([[0.0], np.cumsum(flags.astype(np.float64))])
        return cumulative[j + 1] - cumulative[i]

    question = span_sum(words.in_question)
    digits = span_sum(words.digit)
    capitals = span_sum(words.capital)
    years = span_sum(words.year)
    inner = span_sum(words.punct_after) - words.punct_after[j]
    p_number, p_date, p_name, p_short, p_long = type_probs
    distance = _question_distance(words, i, j)
    left_q = np.where(i > 0, words.in_question[np.maximum(i - 1, 0)], False)
    right_q = np.where(j < n - 1, words.in_question[np.minimum(j + 1, n - 1)], False)
    columns = [
        length == 1, length == 2, length == 3, (length >= 4) & (length <= 5), length >= 6,
        question / length, question > 0, digits / length, years > 0,
        capitals / length, words.capital[i], words.capital[j],
        p_number * (digits > 0), p_date * (years > 0), p_name * (capitals / length),
        p_short * (length <= 3), p_long * (length / MAX_SPAN_WORDS),
        words.punct_before[i], words.punct_after[j], inner > 0,
        words.short_lower[i], words.short_lower[j],
        np.minimum(words.length[i], 12) / 12, np.minimum(words.length[j], 12) / 12,
        distance, left_q, right_q, i / n, length == n, words.bracket_depth[i] > 0,
        words.in_question[i] | words.in_question[j], np.full(len(i), words.in_question.any()),
        np.full(len(i), min(n, 60) / 60), _aligned(words, i, j, left_q, right_q),
        (length - question) / max(n - int(words.in_question.sum()), 1),
    ]
    return np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=1)


def _aligned(words: Words, i: np.ndarray, j: np.ndarray, left_q: np.ndarray, right_q: np.ndarray) -> np.ndarray:
    """Both edges at a boundary: punctuation, the sentence's ends or a question word next to it
    (an answer is often a whole clause part, or all that sits between the question's words)."""
    left = words.punct_before[i] | left_q
    right = words.punct_after[j] | right_q
    return left & right


def _question_distance(words: Words, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Words from the span to the nearest question word outside it, scaled to 0..1 (1: none)."""
    positions = np.flatnonzero(words.in_question)
    if len(positions) == 0:
        return np.ones(len(i))
    before = np.full(len(i), 10.0)
    after = np.full(len(i), 10.0)
    for p in positions:
        before = np.where(p < i, np.minimum(before, i - p), before)
        after = np.where(p > j, np.minimum(after, p - j), after)
    return np.minimum(np.minimum(before, after), 10.0) / 10.0


def span_text(words: Words, i: int, j: int) -> str:
    return words.text[int(words.starts[i]):int(words.ends[j])]
