"""The answerer's training is deterministic and its shipped weights load and match the code."""

from __future__ import annotations

import json

import numpy as np

from rag.answer.features import PRODUCT_FEATURES, SENTENCE_FEATURES
from rag.answer.model import DEFAULT_WEIGHTS, TYPE_CLASSES, AnswererModel, dumps, load_model
from rag.answer.spans import SPAN_FEATURES
from train.answerer import SEED, _Groups, answer_class, answer_threshold, fit, token_f1


def _slice(rows: int = 400, columns: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A small fixed slice: features from a seeded generator, labels from a fixed rule."""
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(rows, columns))
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float64)


def _model_on_slice() -> AnswererModel:
    x, y = _slice()
    scorer = fit(x, y, [f"f{i}" for i in range(x.shape[1])], hidden=4, l2=1e-3, epochs=60)
    types = fit(x, (np.abs(x[:, 2]) * 2).astype(int).clip(0, 4).astype(float), [f"f{i}" for i in range(6)], 0, 1e-3,
                30, classes=len(TYPE_CLASSES))
    return AnswererModel("test", types, scorer, scorer, {"answer": 0.5, "second_statement": 0.9, "short_answer": 0.5},
                         {})


def test_training_on_a_fixed_slice_gives_the_same_bytes_every_time() -> None:
    first, second = dumps(_model_on_slice()), dumps(_model_on_slice())
    assert first == second
    reloaded = AnswererModel.from_json(json.loads(first))
    assert dumps(reloaded) == first  # rounding is stable: a reload writes the same file
    x, y = _slice()
    accuracy = ((reloaded.sentence.probability(x) > 0.5) == (y > 0)).mean()
    assert accuracy > 0.9  # it learned the rule


def test_the_shipped_weights_fit_the_feature_lists_and_rewrite_to_the_same_bytes() -> None:
    model = load_model()
    assert model.sentence.features in (SENTENCE_FEATURES, SENTENCE_FEATURES + PRODUCT_FEATURES)
    assert model.span.features == SPAN_FEATURES
    assert len(model.type_model.mean) == 384 and model.type_model.layers[-1][0].shape[1] == len(TYPE_CLASSES)
    assert 0 < model.thresholds["answer"] < 1
    assert dumps(model) == DEFAULT_WEIGHTS.read_text(encoding="utf-8")
    assert "held_out" in model.info and "xq_01" in model.info["held_out"]


def test_answer_threshold_keeps_ninety_percent_of_each_probe_kind_abstaining() -> None:
    class Ask:
        def __init__(self, kind: str) -> None:
            self.kind = kind

    asks = [Ask("removed")] * 10 + [Ask("absent")] * 10 + [Ask("answerable")] * 5
    best = np.concatenate([np.linspace(0.0, 0.9, 10), np.linspace(0.0, 0.45, 10), np.full(5, 0.95)])
    threshold = answer_threshold(best, asks)  # type: ignore[arg-type]
    assert (best[:10] < threshold).mean() >= 0.9 and (best[10:20] < threshold).mean() >= 0.9
    assert (best[20:] >= threshold).all()


def test_answer_classes_come_from_the_answers_shape() -> None:
    assert TYPE_CLASSES[answer_class("7 January 1943")] == "date"
    assert TYPE_CLASSES[answer_class("140 000")] == "number"
    assert TYPE_CLASSES[answer_class("Joe Tsai")] == "name"
    assert TYPE_CLASSES[answer_class("open standards with published specifications")] == "long"
    assert token_f1("the Saxon Garden", "Saxon Garden") == 0.8


def test_the_weights_file_is_small() -> None:
    assert DEFAULT_WEIGHTS.stat().st_size < 200_000


def _ranking_loss(logits: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    total, asks = 0.0, 0
    for g in np.unique(groups):
        mine = groups == g
        if y[mine].any():
            z = logits[mine]
            total += np.log(np.exp(z).sum()) - np.log(np.exp(z[y[mine] > 0]).sum())
            asks += 1
    return total / asks


def test_the_ranking_loss_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(SEED)
    groups = np.repeat(np.arange(5), [3, 4, 2, 5, 3])
    y = np.zeros(len(groups))
    y[[0, 4, 5, 12]] = 1.0  # the third ask has no answer sentence: it adds nothing to the ranking loss
    logits = rng.normal(size=len(groups))
    analytic = _Groups(groups, y).delta(logits)
    numeric = np.array([(_ranking_loss(logits + e, y, groups) - _ranking_loss(logits - e, y, groups)) / 2e-6
                        for e in np.eye(len(groups)) * 1e-6])
    assert np.allclose(analytic, numeric, atol=1e-6)
    assert analytic[groups == 2].tolist() == [0.0, 0.0]


def test_the_ranking_loss_teaches_which_sentence_of_a_question_wins() -> None:
    """Within each group one row is right; which one depends on feature 0 relative to the group's
    other rows (plus a group-wide offset that the logistic loss alone would chase)."""
    rng = np.random.default_rng(SEED)
    groups = np.repeat(np.arange(200), 6)
    x = rng.normal(size=(len(groups), 3))
    x[:, 1] = np.repeat(rng.normal(size=200), 6)
    y = np.zeros(len(groups))
    for g in range(200):
        rows = np.flatnonzero(groups == g)
        y[rows[np.argmax(x[rows, 0])]] = 1.0
    scorer = fit(x, y, ["a", "b", "c"], hidden=0, l2=1e-3, epochs=150, groups=groups, listwise=1.0)
    scores = scorer.probability(x)
    top = [np.flatnonzero(groups == g)[np.argmax(scores[groups == g])] for g in range(200)]
    assert y[top].mean() > 0.95
