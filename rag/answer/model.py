"""The answerer's learned parts, read from a small JSON file shipped in the package.

* ``type``: softmax over the kind of answer a question wants (number, date, name, short phrase,
  explanation), from its e5 vector: prototypes learned from xquad-dev questions in 12 languages,
  instead of per-language question words;
* ``sentence``: P(this sentence states the answer), from ``features.SENTENCE_FEATURES``;
* ``span``: P(this run of words is the short answer), from ``spans.SPAN_FEATURES``;
* ``thresholds``: ``answer`` (abstain below it; chosen on held-out dev data for >= 90%
  abstention accuracy), ``second_statement`` (quote a second sentence only above it) and
  ``short_answer`` (no short answer when P(long) reaches it: the question wants an explanation) and
  ``short_answer_span`` (no short answer when the best span scores below it); both set by ``train.span``.

Each scorer is a standardized-input network with zero or one tanh hidden layer and a sigmoid
(or softmax) output; inference is a few numpy matrix products.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "answerer-v1.json"
TYPE_CLASSES = ("number", "date", "name", "short", "long")


@dataclass(frozen=True)
class Scorer:
    """x -> standardized -> [tanh hidden] -> logits."""

    features: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = (np.asarray(x, dtype=np.float64) - self.mean) / self.std
        for n, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if n < len(self.layers) - 1:
                h = np.tanh(h)
        return h

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Sigmoid of a one-output scorer, one value per row."""
        return 1.0 / (1.0 + np.exp(-self.logits(x)[:, 0]))

    def softmax(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x)
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Scorer":
        return cls(
            tuple(data["features"]), np.asarray(data["mean"], dtype=np.float64),
            np.asarray(data["std"], dtype=np.float64),
            tuple((np.asarray(layer["W"], dtype=np.float64), np.asarray(layer["b"], dtype=np.float64))
                  for layer in data["layers"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": _rounded(self.mean), "std": _rounded(self.std),
                "layers": [{"W": _rounded(w), "b": _rounded(b)} for w, b in self.layers]}


def _rounded(array: np.ndarray) -> Any:
    """Floats rounded to 7 significant digits: a smaller file, the same answers, exact reloads."""
    return np.vectorize(lambda v: float(f"{v:.7g}"), otypes=[float])(array).tolist()


@dataclass(frozen=True)
class AnswererModel:
    version: str
    type_model: Scorer
    sentence: Scorer
    span: Scorer
    thresholds: dict[str, float]
    info: dict[str, Any]

    def type_probabilities(self, question_vector: np.ndarray) -> np.ndarray:
        return self.type_model.softmax(question_vector[None, :])[0]

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "type": self.type_model.to_json(), "sentence": self.sentence.to_json(),
                "span": self.span.to_json(), "thresholds": self.thresholds, "info": self.info}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "AnswererModel":
        return cls(str(data["version"]), Scorer.from_json(data["type"]), Scorer.from_json(data["sentence"]),
                   Scorer.from_json(data["span"]), {k: float(v) for k, v in data["thresholds"].items()},
                   dict(data.get("info", {})))


def dumps(model: AnswererModel) -> str:
    """The weights file's exact text (sorted keys, fixed float format: byte-reproducible)."""
    return json.dumps(model.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> AnswererModel:
    """The shipped weights, or the file at ``path`` (``Settings.answer_weights``)."""
    source = Path(path) if path else DEFAULT_WEIGHTS
    return AnswererModel.from_json(json.loads(source.read_text(encoding="utf-8")))
