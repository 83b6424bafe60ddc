"""Language-neutral features of a question and of every sentence of the retrieved chunks.

Everything is computed from what any language has: the stored e5 sentence vectors (the question's
similarity to a sentence and to its neighbours, with each document language's background
removed), the retrieval rank and scores, and the overlap of the question's terms with the
sentence, weighted by the corpus's IDF (``LexicalIndex.idf``; 0 for a term the corpus lacks), so
frequent words (in any language) weigh nothing and rare ones (names, numbers) a lot. "Names" are
the question's words that carry their own evidence in any script with capitals: a capitalized
word that does not open the question, or a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from rag.lang.bias import language_shifts
from rag.text import passage_term_prefixes, term_prefix, term_prefixes, word_tokens
from rag.types import Hit, Span

TermWeight = Callable[[str], float]  # a term prefix's IDF in the corpus; 0 if the corpus lacks it

SENTENCE_FEATURES = (
    "similarity", "similarity_debiased", "similarity_gap", "similarity_rank", "previous_similarity",
    "next_similarity", "hit_rank", "hit_score_gap", "hit_dense", "hit_sentence_gap", "overlap", "window_overlap",
    "chunk_overlap", "name_share", "chunk_name_share", "names_absent", "names_absent_nonlatin", "has_names",
    "latin_question", "has_digit", "new_capitals", "length", "type_number_digit", "type_date_year",
    "type_name_capital", "type_long_length", "question_weight", "overlap_gap", "best_similarity", "position",
    "first_in_document",
)
# A learned similarity: the question vector times the sentence vector, dimension by dimension (e5's
# 384). A linear unit over these is a diagonal bilinear form q^T diag(w) s: language-neutral, it can
# learn which directions mean "answers this" rather than "is about the same topic".
PRODUCT_FEATURES = tuple(f"qs_{i}" for i in range(384))


@dataclass(frozen=True)
class QuestionTerms:
    """The question's terms, their corpus weights, and which of them are names."""

    terms: frozenset[str]
    weights: dict[str, float]
    names: frozenset[str]
    names_absent: float  # share of the question's names the corpus lacks
    latin: float  # share of the question's letters in Latin script (its names can match Latin text)

    @property
    def total_weight(self) -> float:
        return sum(self.weights.values())

    @classmethod
    def of(cls, question: str, term_weight: TermWeight) -> "QuestionTerms":
        terms = frozenset(term_prefixes(question))
        weights = {t: term_weight(t) for t in terms}
        names = question_name_terms(question)
        absent = sum(1 for n in names if weights.get(n, term_weight(n)) <= 0) / len(names) if names else 0.0
        letters = [c for c in question if c.isalpha()]
        latin = sum(1 for c in letters if c.isascii() or "\u00c0" <= c <= "\u024f") / len(letters) if letters else 1.0
        return cls(terms, weights, names, absent, latin)


def name_words(question: str) -> list[str]:
    words = question.replace("¿", " ").replace("¡", " ").split()
    found = []
    for i, word in enumerate(words):
        stripped = word.strip("\"'«»“”‘’()[],.;:!?")
        if not stripped:
            continue
        if any(c.isdigit() for c in stripped) or (i > 0 and stripped[0].isupper()):
            found.append(stripped)
    return found


def question_name_terms(question: str) -> frozenset[str]:
    """Term prefixes of the question's names (see the module docstring)."""
    return frozenset(term_prefix(t) for word in name_words(question) for t in word_tokens(word))


@dataclass
class Candidate:
    """One sentence of a retrieved chunk, with where it came from."""

    hit: Hit
    rank: int  # the hit's retrieval rank
    index: int  # the sentence's index in its chunk
    span: Span
    vector: np.ndarray
    similarity: float

    @property
    def text(self) -> str:
        return self.span.text


def candidates(hits: list[Hit], question_vector: np.ndarray) -> list[Candidate]:
    """Every sentence of the hits, once (overlapping chunks repeat sentences: the best-ranked copy stays)."""
    seen: set[tuple[str, int, int]] = set()
    found: list[Candidate] = []
    for rank, hit in enumerate(hits):
        vectors = hit.sentence_vectors
        if vectors is None or len(vectors) != len(hit.chunk.sentences):
            continue
        similarities = vectors @ question_vector
        for index, span in enumerate(hit.chunk.sentences):
            key = (hit.chunk.doc_id, span.start, span.end)
            if key in seen:
                continue
            seen.add(key)
            found.append(Candidate(hit, rank, index, span, vectors[index], float(similarities[index])))
    return found


def sentence_features(found: list[Candidate], question_vector: np.ndarray, question: QuestionTerms,
                      type_probs: np.ndarray) -> np.ndarray:
    """One row of ``SENTENCE_FEATURES`` per candidate."""
    if not found:
        return np.zeros((0, len(SENTENCE_FEATURES)))
    shifts = language_shifts(found, lambda c: c.hit.chunk.lang, lambda c: c.similarity)
    debiased = np.array([c.similarity + shifts.get(c.hit.chunk.lang, 0.0) for c in found])
    order = np.argsort(-debiased, kind="stable")
    sim_rank = np.empty(len(found))
    sim_rank[order] = np.arange(len(found))
    top_score = found[0].hit.score
    total = question.total_weight
    overlaps = np.array([_overlap(c.text, question, total) for c in found])
    p_number, p_date, p_name, _p_short, p_long = type_probs
    rows = []
    for n, c in enumerate(found):
        sentences = c.hit.chunk.sentences
        shift = shifts.get(c.hit.chunk.lang, 0.0)
        window = " ".join(s.text for s in sentences[max(0, c.index - 1): c.index + 2])
        digit, capitals, length, year = _shape(c.text, question.terms)
        rows.append([
            c.similarity, debiased[n], debiased[n] - debiased[order[0]], 1.0 / (1.0 + sim_rank[n]),
            _neighbour_similarity(c, -1, question_vector, shift, debiased[n]),
            _neighbour_similarity(c, 1, question_vector, shift, debiased[n]),
            1.0 / (1.0 + c.rank), c.hit.score - top_score, float(c.hit.dense or 0.0),
            (c.hit.sentence or 0.0) - c.similarity,
            overlaps[n], _overlap(window, question, total), _overlap(c.hit.chunk.text, question, total),
            _name_share(c.text, question), _name_share(c.hit.chunk.text, question),
            question.names_absent * question.latin, question.names_absent * (1.0 - question.latin),
            float(bool(question.names)), question.latin, digit, capitals, length,
            p_number * digit, p_date * year, p_name * min(capitals, 1.0), p_long * length,
            math.log1p(total), overlaps[n] - overlaps.max(), debiased[order[0]],
            c.index / max(1, len(sentences) - 1), float(c.hit.chunk.position == 0 and c.index == 0),
        ])
    return np.asarray(rows, dtype=np.float64)


def sentence_inputs(found: list[Candidate], question_vector: np.ndarray, question: QuestionTerms,
                    type_probs: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
    """The rows a sentence scorer with ``features`` reads: ``SENTENCE_FEATURES``, then the
    ``PRODUCT_FEATURES`` when the scorer was trained with them."""
    base = sentence_features(found, question_vector, question, type_probs)
    if len(features) == len(SENTENCE_FEATURES) or not found:
        return base if found else np.zeros((0, len(features)))
    products = np.stack([c.vector for c in found]).astype(np.float64) * question_vector[None, :]
    return np.hstack([base, products])


def _neighbour_similarity(c: Candidate, step: int, question_vector: np.ndarray, shift: float, own: float) -> float:
    """The debiased similarity of the sentence before/after (the sentence's own when it has none)."""
    index = c.index + step
    vectors = c.hit.sentence_vectors
    if vectors is None or not 0 <= index < len(vectors):
        return own
    return float(vectors[index] @ question_vector) + shift


def _overlap(text: str, question: QuestionTerms, total: float) -> float:
    if total <= 0:
        return 0.0
    present = passage_term_prefixes(text)
    return sum(w for t, w in question.weights.items() if t in present) / total


def _name_share(text: str, question: QuestionTerms) -> float:
    if not question.names:
        return 1.0
    present = passage_term_prefixes(text)
    return sum(1 for n in question.names if n in present) / len(question.names)


def _shape(text: str, question_terms: frozenset[str]) -> tuple[float, float, float, float]:
    """(has a digit, log count of capitalized words the question lacks, log length, has a year)."""
    words = text.split()
    digit = float(any(ch.isdigit() for ch in text))
    capitals = 0
    year = 0.0
    for i, word in enumerate(words):
        stripped = word.strip("\"'«»“”‘’()[],.;:!?")
        if not stripped:
            continue
        if len(stripped) == 4 and stripped.isdigit() and stripped[0] in "12":
            year = 1.0
        if i > 0 and stripped[0].isupper() and not (passage_term_prefixes(stripped) & question_terms):
            capitals += 1
    return digit, math.log1p(capitals), math.log1p(len(words)), year
