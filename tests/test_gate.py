"""The answer-or-abstain gate (rag.answer.gate) over the rules answerer, on the seeded index."""

from pathlib import Path

import numpy as np

from rag.answer.gate import GATE_FEATURES, Gate, dumps_gate
from rag.answer.model import Scorer
from rag.pipeline import Pipeline

QUESTIONS = ("How much did Microsoft invest in Italy?", "Who co-founded Alibaba?", "Who is the CEO of Zorblax?")


def _gate_file(tmp_path: Path, threshold: float) -> str:
    """A gate that trusts the rules: P is high exactly when the rules' checks passed."""
    n = len(GATE_FEATURES)
    weights = np.zeros((n, 1))
    weights[GATE_FEATURES.index("rules_answer"), 0] = 10.0
    scorer = Scorer(GATE_FEATURES, np.zeros(n), np.ones(n), ((weights, np.asarray([-5.0])),))
    path = tmp_path / f"gate-{threshold}.json"
    path.write_text(dumps_gate(Gate(scorer, threshold, {})), encoding="utf-8")
    return str(path)


def test_a_gate_that_trusts_the_rules_answers_as_they_do_and_a_strict_one_abstains(seeded_home: Path,
                                                                                  tmp_path: Path) -> None:
    from tests.conftest import make_settings

    rules = Pipeline(make_settings(seeded_home, mode="extractive"))
    trusting = Pipeline(make_settings(seeded_home, mode="extractive", answer_gate_weights=_gate_file(tmp_path, 0.5)))
    strict = Pipeline(make_settings(seeded_home, mode="extractive", answer_gate_weights=_gate_file(tmp_path, 1.01)))
    for question in QUESTIONS:
        expected, gated = rules.ask(question), trusting.ask(question)
        assert (gated.abstained, gated.answer) == (expected.abstained, expected.answer)
        assert strict.ask(question).abstained
    assert not rules.ask(QUESTIONS[1]).abstained and rules.ask(QUESTIONS[2]).abstained
