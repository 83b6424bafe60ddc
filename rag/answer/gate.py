"""The answer-or-abstain gate: a small logistic model decides whether the rules' pick is quoted.

The rules answerer (``rag.answer.rules``) ranks candidates well but abstains on many answerable
questions (a hand check fails: a type word, a name spelt otherwise). The gate weighs the
candidate the rules pick (from the ones that pass their checks, else from all) by signals that do
not depend on a language: its score and margin, its chunk's retrieval rank and scores, how many of
the question's names the corpus and the chunk hold, whether the rules' checks passed and which one
failed, cross-lingual or not. ``P(the pick states the answer) >= threshold``: quote it; else abstain.

Trained by ``train/gate.py`` on xquad-dev's training articles only (out-of-fold by article for the
threshold, chosen for >= 90% abstention on questions whose article is not in the hits); the
weights go to ``weights/gate-v1.json`` (not shipped yet: no gate file, no gate). Switch:
``answer_gate`` in ``Settings.answer_rules_off``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.model import WEIGHTS_DIR, Scorer
from rag.answer.rules import Candidate, Decision, _name_coverage, _overlaps, sentence_has_type
from rag.retrieve.query import Query

GATE_WEIGHTS = WEIGHTS_DIR / "gate-v1.json"
REASONS = ("unrelated", "names_missing", "unsupported")
GATE_FEATURES = (
    "score", "similarity", "margin", "rank", "hit_score", "hit_dense", "hit_lexical", "rules_answer",
    *(f"reason_{r}" for r in REASONS), "eligible_share", "known_names", "unknown_names",
    "chunk_name_coverage", "sentence_name_coverage", "has_type", "no_type", "crosslingual", "window",
)


def gate_features(decision: Decision, query: Query) -> np.ndarray:
    """One row of ``GATE_FEATURES`` for the rules' pick (``decision.chosen[0]``)."""
    pick = decision.chosen[0]
    profile = query.profile
    names = list(profile.name_words)
    row = {
        "score": pick.score, "similarity": pick.similarity, "margin": _margin(pick, decision.candidates),
        "rank": float(pick.rank), "hit_score": pick.hit.score, "hit_dense": pick.hit.dense or 0.0,
        "hit_lexical": pick.hit.lexical or 0.0, "rules_answer": float(decision.reason is None),
        **{f"reason_{r}": float(decision.reason == r) for r in REASONS},
        "eligible_share": decision.eligible / len(decision.candidates),
        "known_names": float(decision.known_names), "unknown_names": float(decision.unknown_names),
        "chunk_name_coverage": _name_coverage(pick.hit.chunk.text, names) if names else 1.0,
        "sentence_name_coverage": _name_coverage(pick.text, names) if names else 1.0,
        "has_type": float(sentence_has_type(pick.text, profile.answer_type, profile.names)),
        "no_type": float(profile.answer_type is None),
        "crosslingual": float(pick.hit.chunk.lang != query.lang), "window": float(len(pick.spans) > 1),
    }
    return np.asarray([[row[name] for name in GATE_FEATURES]], dtype=np.float64)


def _margin(pick: Candidate, candidates: list[Candidate]) -> float:
    """How far the pick's score is ahead of the best candidate elsewhere (not overlapping it)."""
    others = [c.score for c in candidates if not _overlaps(c, pick)]
    return pick.score - max(others) if others else 0.1


@dataclass(frozen=True)
class Gate:
    scorer: Scorer
    threshold: float
    info: dict[str, Any]

    def probability(self, decision: Decision, query: Query) -> float:
        return float(self.scorer.probability(gate_features(decision, query))[0])

    def answers(self, decision: Decision, query: Query) -> bool:
        return bool(decision.chosen) and self.probability(decision, query) >= self.threshold

    def to_json(self) -> dict[str, Any]:
        return {"version": "gate-v1", "scorer": self.scorer.to_json(), "threshold": self.threshold,
                "info": self.info}


def dumps_gate(gate: Gate) -> str:
    """The weights file's exact text (sorted keys: byte-reproducible)."""
    return json.dumps(gate.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


@lru_cache(maxsize=2)
def load_gate(path: str | None = None) -> Gate | None:
    """The gate at ``path`` (``Settings.answer_gate_weights``) or the shipped one; None when there is
    no such file (no gate ships until one is trained and measured better)."""
    source = Path(path or GATE_WEIGHTS)
    if not source.exists():
        return None
    data = json.loads(source.read_text(encoding="utf-8"))
    return Gate(Scorer.from_json(data["scorer"]), float(data["threshold"]), dict(data.get("info", {})))
