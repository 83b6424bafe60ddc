"""The answerer's training is deterministic and its shipped weights load and match the code."""

from __future__ import annotations

import json

import numpy as np

from rag.answer.features import SENTENCE_FEATURES
from rag.answer.model import DEFAULT_WEIGHTS, TYPE_CLASSES, AnswererModel, dumps, load_model
from rag.answer.spans import SPAN_FEATURES
from train.answerer import SEED, answer_class, answer_threshold, fit, token_f1


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
    assert model.sentence.features == SENTENCE_FEATURES
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
