"""The answerers the pipeline picks from by mode (``Settings.resolved_mode``), behind one interface
(:class:`rag.answer.base.Answerer`): the extractive one (the rules answerer with the learned short
answer, or the learned answerer: ``Settings.answerer``) and the LLM one (``rag.answer.llm``)."""

from __future__ import annotations

from typing import Any, Mapping

from rag.answer.base import Deltas, no_deltas
from rag.answer.draft import Draft
from rag.answer.extractive import ExtractiveAnswerer as LearnedAnswerer
from rag.answer.extractive import with_short_answer
from rag.answer.gate import load_gate
from rag.answer.model import load_model
from rag.answer.rules import ExtractiveAnswerer as RulesAnswerer
from rag.answer.rules import quoted
from rag.lang.messages import NOT_IN_DOCUMENTS, localized
from rag.config import Settings
from rag.index.corpus import CorpusView
from rag.retrieve.query import Query
from rag.types import Hit


class Extractive:
    """The LLM-free answer over the corpus as ``view`` shows it (its BM25 side gives term rarity)."""

    def __init__(self, settings: Settings, view: CorpusView) -> None:
        self._settings = settings
        self._view = view

    def answer(self, query: Query, hits: list[Hit], options: Mapping[str, Any]) -> Deltas:
        return no_deltas(self.draft(query, hits))

    def draft(self, query: Query, hits: list[Hit]) -> Draft:
        """The learned answerer's draft, or the rules' with the learned short answer (``Settings.answerer``)."""
        settings = self._settings
        if settings.answerer == "learned":
            return self._learned().answer(query.search, query.lang, query.vector, hits)
        draft = self._rules(query, hits)
        if draft.abstained or not draft.citations or "short_answer" in settings.answer_rules_off:
            return draft
        short = self._learned().short_answer_for(query.search, draft.citations[0].text, query.vector)
        return with_short_answer(draft, short)

    def _rules(self, query: Query, hits: list[Hit]) -> Draft:
        """The rules' draft; with the ``answer_gate`` rule on, the gate decides answer or abstain."""
        rules = RulesAnswerer(self._view.lexical.has_term)
        gate = None if "answer_gate" in self._settings.answer_rules_off else \
            load_gate(self._settings.answer_gate_weights or None)
        if gate is None:
            return rules.answer(query, hits)
        decision = rules.decide(query, hits)
        if not gate.answers(decision, query):
            return Draft(localized(NOT_IN_DOCUMENTS, query.lang), True, [])
        return quoted(decision.chosen)

    def _learned(self) -> LearnedAnswerer:  # loaded only when used: the default is the rules answerer
        return LearnedAnswerer(self._view.lexical.idf, load_model(self._settings.answer_weights or None),
                               self._settings.answer_rules_off)
