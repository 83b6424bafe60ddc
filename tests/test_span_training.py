"""The short-answer span model's training: targets, thresholds, determinism (train/span.py)."""

from __future__ import annotations

import numpy as np

from rag.answer.model import TYPE_CLASSES, Scorer, load_model
from train.span import (SpanAsk, SpanRecipe, explanation_threshold, fit_span, out_of_fold_types, picks, span_floor,
                        span_rows)

VECTOR = np.zeros(384)


def _ask(question: str, sentence: str, answer: str, article: str = "xq_03") -> SpanAsk:
    return SpanAsk(article, question, sentence, answer, VECTOR)


def _types(asks: list[SpanAsk]) -> np.ndarray:
    return load_model().type_model.softmax(np.stack([a.vector for a in asks]))


def test_out_of_fold_types_come_from_models_that_never_saw_the_article() -> None:
    asks = [_ask("When did Quuxo open?", "s", "1999", article) for article in ("xq_03", "xq_13", "xq_17", "xq_19")]
    probs = out_of_fold_types(asks)
    assert probs.shape == (4, len(TYPE_CLASSES)) and np.allclose(probs.sum(axis=1), 1.0)
    assert np.allclose(out_of_fold_types(asks[:1]), 1.0 / len(TYPE_CLASSES))  # one article: nothing to learn from


def test_right_spans_contain_the_answer_and_the_shortest_weigh_most() -> None:
    asks = [_ask("Who founded Quuxo?", "Quuxo was founded in 1999 by Ada Quix in Berlin.", "Ada Quix")]
    rows = span_rows(asks, _types(asks), SpanRecipe(longer_weight=0.5))
    assert rows.right.any() and not rows.right.all()
    assert set(rows.y[rows.right].tolist()) == {1.0, 0.5}  # the exact span, then longer ones holding it
    assert (rows.y[~rows.right] == 0).all() and (rows.group == 0).all()


def test_the_span_fit_is_deterministic_and_picks_one_span_per_sentence() -> None:
    asks = [_ask("When did Quuxo open?", "Quuxo opened its first shop in 1999, after a long delay.", "1999"),
            _ask("Who founded Quuxo?", "Quuxo was founded by Ada Quix in Berlin.", "Ada Quix")]
    recipe = SpanRecipe(epochs=20)
    rows = span_rows(asks, _types(asks), recipe)
    first, second = fit_span(rows, recipe), fit_span(rows, recipe)
    assert isinstance(first, Scorer) and first.to_json() == second.to_json()
    ids, best, _ = picks(rows, first.probability(rows.x))
    assert ids.tolist() == [0, 1] and best.shape == (2,)


def test_the_span_floor_keeps_the_asked_precision() -> None:
    best = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    right = np.array([True, True, False, True, False])
    assert span_floor(best, right, 0.0) == 0.0  # no floor
    assert span_floor(best, right, 0.75) == 0.6  # the top 4 are right 3 times in 4
    assert span_floor(best, right, 1.0) == 0.8


def test_the_explanation_gate_fires_only_where_long_answers_dominate() -> None:
    p_long = [0.9, 0.8, 0.7, 0.6, 0.2]
    answers = ["one two three four five six", "one two three four five six seven", "Ada Quix",
               "one two three four five six", "1999"]
    asks = [_ask("q", "s", answer) for answer in answers]
    probs = np.zeros((len(asks), len(TYPE_CLASSES)))
    probs[:, TYPE_CLASSES.index("long")] = p_long
    assert explanation_threshold(asks, probs, 0.9) == 0.8
    assert explanation_threshold(asks, probs, 0.7) == 0.6
