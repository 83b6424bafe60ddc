"""The extractive answerer: the sentence that states the answer, the short answer inside it, cited.

1. Every sentence of the retrieved chunks is a candidate (their e5 vectors were stored at ingest
   and ride on the hits: no model call here). The sentence model scores each one: P(it states
   the answer).
2. Below the ``answer`` threshold (chosen on held-out dev data for >= 90% abstention accuracy on
   unanswerable probes) the answerer abstains, in the question's language where
   ``rag.lang.messages`` has one.
3. Otherwise the best sentence is quoted with its citation; a second one only when it too
   scores above ``second_statement`` (on dev data such a sentence states an answer 9 times in
   10: a question that needs two facts).
4. Unless the question wants an explanation (answer-type model), the span model picks the short
   answer: a run of at most 8 words of the quoted sentence. The reply leads with it.

Named rules (``RULES``), each with a switch (``Settings.answer_rules_off``), measured by
``rag eval --ablate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from rag.answer.draft import Draft
from rag.answer.features import Candidate, QuestionTerms, TermWeight, candidates, sentence_inputs
from rag.answer.model import TYPE_CLASSES, AnswererModel
from rag.answer.spans import candidate_spans, sentence_words, span_features, span_text
from rag.lang.messages import NOT_IN_DOCUMENTS, localized
from rag.types import Citation, Hit

RULES = {
    "second_statement": "quote a second sentence when it too scores above the second_statement threshold",
    "question_language": "among translations of the chosen sentence, quote the one in the question's language",
    "followup_names": "a follow-up without names of its own is searched with the previous question's names",
    "learned_pick": "where the rules have no words for the question's language (outside en/fr/de/es/it/pt/nl), "
                    "the learned sentence model picks the statement among those the rules let through",
    "answer_gate": "the answer-or-abstain gate (rag.answer.gate) decides whether the rules' pick is quoted "
                   "(runs only where its weights file exists: none ships yet)",
    "short_answer": "lead the reply with the span model's short answer (off by default: right for 0.34 of "
                    "held-out xquad-dev factoids, the target is 0.60)",
    "short_answer_explanation": "no short answer when the answer-type model says the question wants a long answer "
                                "(threshold short_answer; shipped 1.0: never, see train/span.py)",
    "short_answer_floor": "no short answer when the best span scores below short_answer_span (precision floor; "
                          "shipped 0: none, see train/span.py)",
}
# Two sentences whose e5 vectors are this close say the same thing (a translation): measured on
# parallel xquad paragraphs (en/de/es), where translated sentence pairs score above it.
TRANSLATION_SIMILARITY = 0.93


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float


class ExtractiveAnswerer:
    def __init__(self, term_weight: TermWeight, model: AnswererModel, rules_off: Iterable[str] = ()) -> None:
        """``term_weight(prefix)``: the corpus IDF of a term prefix (0 when no document has it)."""
        self._term_weight = term_weight
        self._model = model
        self._off = frozenset(rules_off)

    def answer(self, question: str, lang: str, question_vector: np.ndarray, hits: list[Hit]) -> Draft:
        ranked = self.ranked(question, question_vector, hits)
        abstain = Draft(localized(NOT_IN_DOCUMENTS, lang), True, [], score=0.0)
        if not ranked:
            return abstain
        best = ranked[0]
        if best.score < self._model.thresholds["answer"]:
            abstain.score = best.score
            return abstain
        if "question_language" not in self._off:
            best = _in_question_language(best, ranked, lang)
        chosen = [best]
        if "second_statement" not in self._off:
            chosen += self._second(best, ranked)
        short = None if "short_answer" in self._off else \
            self.short_answer_for(question, best.candidate.text, question_vector)
        return _draft(chosen, short, best.score)

    def ranked(self, question: str, question_vector: np.ndarray, hits: list[Hit]) -> list[Scored]:
        """Every sentence of the hits with the sentence model's P(it states the answer), best first."""
        found = candidates(hits, question_vector)
        if not found:
            return []
        type_probs = self._model.type_probabilities(question_vector)
        terms = QuestionTerms.of(question, self._term_weight)
        rows = sentence_inputs(found, question_vector, terms, type_probs, self._model.sentence.features)
        scores = self._model.sentence.probability(rows)
        return [Scored(found[i], float(scores[i])) for i in np.argsort(-scores, kind="stable")]

    def short_answer_for(self, question: str, sentence: str, question_vector: np.ndarray) -> str | None:
        """The short answer in ``sentence``, or None when the question wants an explanation."""
        type_probs = self._model.type_probabilities(question_vector)
        if "short_answer_explanation" not in self._off and \
                type_probs[TYPE_CLASSES.index("long")] >= self._model.thresholds["short_answer"]:
            return None
        return self.short_answer(sentence, QuestionTerms.of(question, self._term_weight), type_probs)

    def _second(self, best: Scored, ranked: list[Scored]) -> list[Scored]:
        threshold = self._model.thresholds["second_statement"]
        for other in ranked[1:4]:
            if other.score < threshold:
                break
            if _same_statement(other.candidate, best.candidate):
                continue
            return [other]
        return []

    def short_answer(self, sentence: str, terms: QuestionTerms, type_probs: np.ndarray) -> str | None:
        words = sentence_words(sentence, terms.terms)
        spans = candidate_spans(words)
        if not len(spans):
            return None
        scores = self._model.span.probability(span_features(words, spans, type_probs))
        floor = 0.0 if "short_answer_floor" in self._off else self._model.thresholds.get("short_answer_span", 0.0)
        if scores.max() < floor:
            return None  # not sure enough: the statement alone is the answer
        i, j = spans[int(np.argmax(scores))]
        return span_text(words, int(i), int(j)) or None


def with_short_answer(draft: Draft, short: str | None) -> Draft:
    """A rule-based draft led by the short answer (the reply leads with it, then the evidence)."""
    if draft.abstained or not short:
        return draft
    return Draft(f"{short} — {draft.text}", False, draft.citations, short_answer=short, score=draft.score)


def _draft(chosen: list[Scored], short: str | None, score: float) -> Draft:
    # Quote in document order when both come from the same document.
    if len(chosen) == 2 and chosen[0].candidate.hit.chunk.doc_id == chosen[1].candidate.hit.chunk.doc_id:
        chosen = sorted(chosen, key=lambda s: s.candidate.span.start)
    citations = [Citation.of(n + 1, s.candidate.hit.chunk, s.candidate.span, s.candidate.hit.score)
                 for n, s in enumerate(chosen)]
    statements = " ".join(f"{s.candidate.text} [{n + 1}]" for n, s in enumerate(chosen))
    text = f"{short} — {statements}" if short else statements
    return Draft(text, False, citations, short_answer=short, score=score)


def _same_statement(a: Candidate, b: Candidate) -> bool:
    """The same sentence again (overlapping chunks), or its translation."""
    if a.hit.chunk.doc_id == b.hit.chunk.doc_id and a.span.start < b.span.end and b.span.start < a.span.end:
        return True
    return float(a.vector @ b.vector) >= TRANSLATION_SIMILARITY


def _in_question_language(best: Scored, ranked: list[Scored], lang: str) -> Scored:
    """If the chosen sentence has a translation in the question's language, quote that one."""
    if best.candidate.hit.chunk.lang == lang:
        return best
    for other in ranked:
        if other.candidate.hit.chunk.lang == lang and \
                float(other.candidate.vector @ best.candidate.vector) >= TRANSLATION_SIMILARITY:
            return Scored(other.candidate, best.score)
    return best
