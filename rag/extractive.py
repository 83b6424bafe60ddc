"""Extractive answering: quote the sentence(s) that answer, cite them, or abstain.

This is the embedded default, used when no LLM is configured. For every
sentence of the retrieved chunks we have a stored e5 embedding (ingest wrote
it), so scoring is a matrix product, not a model call. A sentence's score is
its cosine similarity to the question, plus small bonuses for covering the
question's key terms (names, numbers, content words, matched across languages
by their first letters) and for being in the question's language.

Abstention needs more evidence than one similarity score (a threshold alone
either drops right answers or answers made-up questions). We abstain when

* nothing is even loosely related (best similarity under a floor), or
* the question names something (a person, company, number) that appears
  nowhere in the corpus, unless the best sentence is a very close match, or
* the question asks for a kind of answer (an amount, a date, a name) that no
  well-matching sentence contains.

The thresholds are properties of the e5 model's similarity scale, not of any
question set; ``eval/`` measures them on gold sets in several languages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from rag.messages import NOT_IN_DOCUMENTS, localized
from rag.text import fold, term_prefix, term_prefixes, word_tokens
from rag.types import Citation, Hit, Span

AnswerType = Literal["number", "date", "name", "place"]

# --- calibration on e5-small's cosine scale (query: vs passage: prefixes) ---------
SIMILARITY_FLOOR = 0.80  # below this the best sentence is unrelated to the question
CONFIDENT_SIMILARITY = 0.875  # a match this close survives one unknown name
TYPE_MATCH_FLOOR = 0.80  # a sentence of the asked-for type must still be this related
KEY_TERM_BONUS = 0.04  # times the share of key terms a sentence covers
SAME_LANGUAGE_BONUS = 0.005  # prefer the question's language among translations
HIT_RANK_PENALTY = 0.003  # per retrieval rank, so retrieval order breaks ties
SECOND_SENTENCE_MARGIN = 0.015  # quote a second sentence only if nearly as good
DUPLICATE_SIMILARITY = 0.93  # two sentences this similar say the same (translations)

_QUESTION_TYPES: list[tuple[AnswerType, re.Pattern[str]]] = [
    ("date", re.compile(
        r"\b(when|what year|which year|in what year|quand|en quelle annee|quelle annee|a quelle date|"
        r"depuis quand|wann|in welchem jahr|seit wann|cuando|en que ano|quando|in che anno|wanneer)\b")),
    ("number", re.compile(
        r"\b(how much|how many|what amount|what percentage|what share|by how much|combien|quel montant|"
        r"quelle somme|quel pourcentage|de combien|wie viel|wie viele|wieviel|wieviele|welchen betrag|"
        r"welche summe|um wie viel|cuanto|cuanta|cuantos|cuantas|quanto|quanta|quanti|quante|hoeveel)\b")),
    ("name", re.compile(r"^(who|whom|whose|qui|wer|wem|wen|wessen|quien|chi|wie)\b")),
    ("place", re.compile(r"^(where|ou|wo|wohin|donde|dove|waar)\b")),
]

_NUMBER_WORDS = re.compile(
    r"\d|\b(dozens?|hundreds?|thousands?|millions?|billions?|dizaines?|centaines?|milliers?|"
    r"milliards?|dutzende?n?|hunderte?n?|tausende?n?|milliarden?|millionen?)\b"
)
_DATE = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|\bq[1-4]\b|\b(january|february|march|april|may|june|july|august|september|"
    r"october|november|december|janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|"
    r"novembre|decembre|januar|februar|marz|juni|juli|oktober|dezember)\b"
)
_CAPITALIZED = re.compile(r"(?<![\w'’])([A-ZÀ-ÖØ-Þ][\w’'.-]*|\d[\d.,]*)")


@dataclass
class QuestionProfile:
    """What the question asks for, worked out once per question."""

    answer_type: AnswerType | None
    key_terms: list[str]  # folded prefixes of content words
    names: list[str]  # folded prefixes of names/numbers the question mentions

    @classmethod
    def of(cls, question: str) -> "QuestionProfile":
        folded = fold(question).strip(" ¿¡\"'«»")
        answer_type: AnswerType | None = None
        for kind, pattern in _QUESTION_TYPES:
            if pattern.search(folded):
                answer_type = kind
                break
        key_terms = sorted({term_prefix(t) for t in word_tokens(question) if len(t) >= 3 or t[0].isdigit()})
        names = []
        for i, match in enumerate(_CAPITALIZED.finditer(question)):
            word = match.group(1).strip(".-’'")
            if (i == 0 and match.start() < 2) or not word:
                continue  # the question's first word is capitalized anyway
            for token in word_tokens(word):
                if len(token) >= 3 or token[0].isdigit():
                    names.append(term_prefix(token))
        return cls(answer_type, key_terms, sorted(set(names)))


@dataclass
class Candidate:
    rank: int  # of the hit it belongs to
    hit: Hit
    span: Span
    vector: np.ndarray
    similarity: float
    score: float = 0.0
    terms: set[str] = field(default_factory=set)


@dataclass
class Draft:
    """What an answerer produced: text with [n] markers and the citations they point at."""

    text: str
    abstained: bool
    citations: list[Citation]


def sentence_has_type(text: str, answer_type: AnswerType | None, question_names: list[str]) -> bool:
    if answer_type is None:
        return True
    folded = fold(text)
    if answer_type == "number":
        return bool(_NUMBER_WORDS.search(folded))
    if answer_type == "date":
        return bool(_DATE.search(folded))
    # name / place: some proper name that the question did not already give
    known = set(question_names)
    for i, match in enumerate(_CAPITALIZED.finditer(text)):
        word = match.group(1)
        if i == 0 and match.start() == 0 or word[0].isdigit():
            continue
        if any(term_prefix(t) not in known for t in word_tokens(word)):
            return True
    return False


class ExtractiveAnswerer:
    def __init__(self, corpus_has_term: Callable[[str], bool]) -> None:
        """``corpus_has_term(prefix)`` tells whether any indexed text has a word with that prefix."""
        self._corpus_has_term = corpus_has_term

    def answer(
        self,
        question: str,
        lang: str,
        question_vector: np.ndarray,
        hits: list[Hit],
        sentence_vectors: dict[str, np.ndarray],
    ) -> Draft:
        profile = QuestionProfile.of(question)
        candidates = self._candidates(hits, sentence_vectors, question_vector, profile, lang)
        abstain = Draft(localized(NOT_IN_DOCUMENTS, lang), True, [])
        if not candidates:
            return abstain
        best_similarity = max(c.similarity for c in candidates)
        if best_similarity < SIMILARITY_FLOOR:
            return abstain
        unknown_names = [n for n in profile.names if not self._corpus_has_term(n)]
        if unknown_names and best_similarity < CONFIDENT_SIMILARITY:
            return abstain
        eligible = [
            c for c in candidates
            if c.similarity >= TYPE_MATCH_FLOOR and sentence_has_type(c.span.text, profile.answer_type, profile.names)
        ]
        if not eligible:
            return abstain
        chosen = self._choose(eligible)
        citations = [
            Citation(
                n=i + 1, source=c.hit.chunk.source, chunk=c.hit.chunk.chunk_id, start=c.span.start, end=c.span.end,
                text=c.span.text, score=c.hit.score, lang=c.hit.chunk.lang, chunk_text=c.hit.chunk.text,
                chunk_start=c.hit.chunk.start,
            )
            for i, c in enumerate(chosen)
        ]
        text = " ".join(f"{c.span.text} [{i + 1}]" for i, c in enumerate(chosen))
        return Draft(text, False, citations)

    def _candidates(
        self,
        hits: list[Hit],
        sentence_vectors: dict[str, np.ndarray],
        question_vector: np.ndarray,
        profile: QuestionProfile,
        lang: str,
    ) -> list[Candidate]:
        seen: set[tuple[str, int, int]] = set()
        candidates: list[Candidate] = []
        key_terms = set(profile.key_terms)
        for rank, hit in enumerate(hits):
            vectors = sentence_vectors.get(hit.chunk.chunk_id)
            if vectors is None:
                continue
            similarities = vectors @ question_vector
            for span, vector, similarity in zip(hit.chunk.sentences, vectors, similarities):
                key = (hit.chunk.doc_id, span.start, span.end)
                if key in seen:  # overlapping chunks repeat sentences
                    continue
                seen.add(key)
                terms = term_prefixes(span.text)
                coverage = len(key_terms & terms) / len(key_terms) if key_terms else 0.0
                score = (
                    float(similarity)
                    + KEY_TERM_BONUS * coverage
                    + (SAME_LANGUAGE_BONUS if hit.chunk.lang == lang else 0.0)
                    - HIT_RANK_PENALTY * rank
                )
                candidates.append(Candidate(rank, hit, span, vector, float(similarity), score, terms))
        return candidates

    @staticmethod
    def _choose(eligible: list[Candidate]) -> list[Candidate]:
        ranked = sorted(eligible, key=lambda c: c.score, reverse=True)
        best = ranked[0]
        chosen = [best]
        for other in ranked[1:3]:
            if other.score < best.score - SECOND_SENTENCE_MARGIN:
                break
            if any(float(other.vector @ c.vector) >= DUPLICATE_SIMILARITY for c in chosen):
                continue
            chosen.append(other)
            break
        # Quote in document order when both come from the same document.
        if len(chosen) == 2 and chosen[0].hit.chunk.doc_id == chosen[1].hit.chunk.doc_id:
            chosen.sort(key=lambda c: c.span.start)
        return chosen
