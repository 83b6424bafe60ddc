"""train.near_miss: the gate's near-miss negatives (swapped names and content words), and a gate
file that reads fewer features than ``GATE_FEATURES`` (gate v1) still loading and scoring."""

import json
from pathlib import Path

import numpy as np

from rag.answer.gate import GATE_FEATURES, Gate, dumps_gate, load_gate
from rag.answer.model import Scorer
from train.near_miss import content_word, name_pool, name_swap, word_swap

DOCUMENT = ("Acme Corp was founded in Berlin in 1990. Its chairman is Paul Weber. "
            "Globex opened a lab in Munich in 2004. The lab employs 300 engineers.")
PARAGRAPH = "Acme Corp was founded in Berlin in 1990. Its chairman is Paul Weber."


def _item(question: str, ident: str = "q1", key: str = "p1") -> dict[str, str]:
    return {"id": ident, "question": question, "paragraph_key": key}


def test_the_name_pool_holds_the_documents_names_and_numbers_not_sentence_openers() -> None:
    pool = name_pool(DOCUMENT)
    assert {"Corp", "Berlin", "1990", "Paul", "Weber", "Munich", "2004", "300"} <= set(pool)
    assert "Its" not in pool and "The" not in pool and "Globex" not in pool  # they open a sentence


def test_a_name_swap_puts_another_name_of_the_document_not_of_the_gold_paragraph() -> None:
    from rag.text import term_prefixes

    item = _item("Who is the chairman of Acme in Berlin?")
    swapped = name_swap(item, PARAGRAPH, name_pool(DOCUMENT), term_prefixes(DOCUMENT))
    assert swapped is not None and swapped != item["question"]
    assert "Munich" in swapped and ("Acme" in swapped) != ("Berlin" in swapped)
    # the same question gives the same rewrite (a fixed seed): byte-reproducible training
    assert name_swap(item, PARAGRAPH, name_pool(DOCUMENT), term_prefixes(DOCUMENT)) == swapped


def test_a_number_is_swapped_for_a_number_and_an_unknown_name_is_not_swapped() -> None:
    from rag.text import term_prefixes

    pool, terms = name_pool(DOCUMENT), term_prefixes(DOCUMENT)
    assert name_swap(_item("What happened in 1990?"), PARAGRAPH, pool, terms) in {
        "What happened in 2004?", "What happened in 300?"}
    assert name_swap(_item("Who leads Initech?"), PARAGRAPH, pool, terms) is None


def test_a_word_swap_takes_the_main_word_of_a_question_on_another_paragraph() -> None:
    assert content_word("Who is the chairman of Acme?") == "chairman"
    others = [_item("How many engineers does the lab employ?", "q2", "p2"),
              _item("Who founded Acme?", "q3", "p1")]  # same paragraph: not a source
    assert word_swap(_item("Who is the chairman of Acme?"), PARAGRAPH, others) == "Who is the engineers of Acme?"
    assert word_swap(_item("Who is the chairman of Acme?"), PARAGRAPH, others[1:]) is None
    # a word the gold paragraph has is no swap: the question would still be answered there
    assert word_swap(_item("Who is the chairman of Acme?"), PARAGRAPH,
                     [_item("Where was it founded?", "q4", "p2")]) is None


def test_a_gate_file_with_fewer_features_reads_only_those(tmp_path: Path) -> None:
    features = GATE_FEATURES[:21]
    weights = np.zeros((len(features), 1))
    weights[features.index("rules_answer"), 0] = 10.0
    scorer = Scorer(features, np.zeros(len(features)), np.ones(len(features)), ((weights, np.asarray([-5.0])),))
    path = tmp_path / "gate-v1-features.json"
    path.write_text(dumps_gate(Gate(scorer, 0.5, {})), encoding="utf-8")
    gate = load_gate(str(path))
    assert gate is not None and gate.scorer.features == features


def test_overriding_a_refusal_of_the_rules_needs_the_override_threshold() -> None:
    from dataclasses import dataclass

    from rag.answer.rules import Decision

    @dataclass(frozen=True)
    class Fixed(Gate):
        p: float = 0.5

        def probability(self, decision: Decision, query: object) -> float:  # type: ignore[override]
            return self.p

    scorer = Scorer(GATE_FEATURES, np.zeros(len(GATE_FEATURES)), np.ones(len(GATE_FEATURES)),
                    ((np.zeros((len(GATE_FEATURES), 1)), np.zeros(1)),))
    answered = Decision([], [object()], None, 1, 0, 0)  # type: ignore[list-item]
    refused = Decision([], [object()], "unsupported", 0, 0, 0)  # type: ignore[list-item]
    gate = Fixed(scorer, 0.3, {}, 0.7, p=0.5)
    assert gate.answers(answered, None) and not gate.answers(refused, None)  # type: ignore[arg-type]
    assert Fixed(scorer, 0.3, {}, None, p=0.5).answers(refused, None)  # type: ignore[arg-type]
    assert not Fixed(scorer, 0.3, {}, 0.7, p=0.5).answers(Decision([], [], "nothing", 0, 0, 0), None)  # type: ignore[arg-type]
    reloaded = json.loads(dumps_gate(gate))
    assert reloaded["override_threshold"] == 0.7 and "override_threshold" not in json.loads(
        dumps_gate(Fixed(scorer, 0.3, {}, None)))


def test_the_thresholds_keep_the_abstention_targets_and_answer_the_most() -> None:
    from train.gate import ABSTENTION, KEEP_REFUSALS, choose_thresholds, gated

    rng = np.random.default_rng(0)
    n = 400
    kinds = rng.integers(0, 4, n)
    rules = (rng.random(n) < 0.6).astype(float)
    y = ((kinds == 0) & (rng.random(n) < 0.7)).astype(float)
    scores = np.clip(0.5 * y + 0.5 * rng.random(n), 0, 1)
    threshold, override = choose_thresholds(scores, y, kinds, rules)
    answers = gated(scores, rules, threshold, override)
    near = kinds >= 2
    assert (~answers[kinds == 1]).mean() >= ABSTENTION
    assert (~answers[near]).mean() >= 1 - rules[near].mean()
    assert (~answers[near & (rules == 0)]).mean() >= KEEP_REFUSALS
    assert (y[kinds == 0] * answers[kinds == 0]).mean() > 0.3  # the positives score higher: most are answered
