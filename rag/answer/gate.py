"""The answer-or-abstain gate: a small logistic model decides whether the rules' pick is quoted.

The rules answerer (``rag.answer.rules``) ranks candidates well but abstains on many answerable
questions (a hand check fails: a type word, a name spelt otherwise). The gate weighs the
candidate the rules pick (from the ones that pass their checks, else from all) by signals that do
not depend on a language: its score and margin, its chunk's retrieval rank and scores, how many of
the question's names the corpus and the chunk hold, whether the rules' checks passed and which one
failed, cross-lingual or not. ``P(the pick states the answer) >= threshold``: quote it; else abstain.

Near-misses (the sentence states the fact for another entity: ``_near_miss_row``) are weighed by
where the question's names are (the pick, the sentence before it, its chunk, any hit), the new
names the pick brings, and how well it covers the question's words against the other candidates.
Two thresholds: one where the rules answer, one (``override_threshold``) where they refuse.

Trained by ``train/gate.py`` on xquad-dev's training articles only (out-of-fold by article for the
thresholds; negatives: questions whose article is not in the hits, and near-miss rewrites,
``train/near_miss.py``); the weights go to ``weights/gate-v1.json``. None ships: the best gate
measured (xquad-dev held-out first statement 0.742 -> 0.791, abstention 1.00) still loses on the
held-out seeds (answer 0.958 -> 0.831, abstention 0.692 -> 0.462; ``train/gate.py`` has the
numbers), and without that file there is no gate. Switch: ``answer_gate`` in ``Settings.answer_rules_off``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.model import WEIGHTS_DIR, Scorer
from rag.answer.rules import Candidate, Decision, _name_coverage, _new_names, _overlaps, sentence_has_type
from rag.retrieve.query import Query
from rag.text import passage_term_prefixes

GATE_WEIGHTS = WEIGHTS_DIR / "gate-v1.json"
REASONS = ("unrelated", "names_missing", "unsupported")
GATE_FEATURES = (
    "score", "similarity", "margin", "rank", "hit_score", "hit_dense", "hit_lexical", "rules_answer",
    *(f"reason_{r}" for r in REASONS), "eligible_share", "known_names", "unknown_names",
    "chunk_name_coverage", "sentence_name_coverage", "has_type", "no_type", "crosslingual", "window",
    *("window_name_coverage", "hits_name_coverage", "new_names", "key_coverage", "key_coverage_gap",
      "similarity_gap", "name_count"),
)
# The first 21 features (gate v1, absent-article negatives only); a weights file names the ones it
# reads (``Scorer.features``), so a file trained on fewer features still loads.


def gate_features(decision: Decision, query: Query, features: tuple[str, ...] = GATE_FEATURES) -> np.ndarray:
    """One row of ``features`` (names of ``gate_row``) for the rules' pick (``decision.chosen[0]``)."""
    row = gate_row(decision, query)
    return np.asarray([[row[name] for name in features]], dtype=np.float64)


def gate_row(decision: Decision, query: Query) -> dict[str, float]:
    """Every gate feature of the rules' pick, by name."""
    pick = decision.chosen[0]
    profile = query.profile
    names = list(profile.name_words)
    return {
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
        **_near_miss_row(decision, query),
    }


def _near_miss_row(decision: Decision, query: Query) -> dict[str, float]:
    """Signals of a near-miss: a sentence that states the fact for another entity or thing. The
    question's names are in the hits but not at the pick; the pick names others the question
    lacks; another passage covers the question's words better; a closer sentence exists."""
    pick, candidates, profile = decision.chosen[0], decision.candidates, query.profile
    names = list(profile.name_words)
    sentences = pick.hit.chunk.sentences
    first = next((i for i, s in enumerate(sentences) if s.start == pick.spans[0].start), 0)
    before = " ".join(s.text for s in sentences[max(0, first - 1): first])
    hits_text = " ".join(dict.fromkeys(c.hit.chunk.text for c in candidates))
    key_coverages = [_key_coverage(c.text, profile.key_terms) for c in candidates]
    own = _key_coverage(pick.text, profile.key_terms)
    return {
        "window_name_coverage": _name_coverage(f"{before} {pick.text}", names) if names else 1.0,
        "hits_name_coverage": _name_coverage(hits_text, names) if names else 1.0,
        "new_names": math.log1p(len(_new_names(pick.text, profile.names))),
        "key_coverage": own, "key_coverage_gap": own - max(key_coverages),
        "similarity_gap": pick.similarity - max(c.similarity for c in candidates),
        "name_count": math.log1p(len(names)),
    }


def _key_coverage(text: str, key_terms: frozenset[str]) -> float:
    """Share of the question's content words (``QuestionProfile.key_terms``) that ``text`` has."""
    return len(key_terms & passage_term_prefixes(text)) / len(key_terms) if key_terms else 1.0


def _margin(pick: Candidate, candidates: list[Candidate]) -> float:
    """How far the pick's score is ahead of the best candidate elsewhere (not overlapping it)."""
    others = [c.score for c in candidates if not _overlaps(c, pick)]
    return pick.score - max(others) if others else 0.1


@dataclass(frozen=True)
class Gate:
    """``threshold`` applies where the rules answer (the gate may veto), ``override_threshold``
    where they refuse (the gate may answer anyway): a refusal of the rules is evidence of a
    near-miss that the features see poorly, so overriding one may need more confidence."""

    scorer: Scorer
    threshold: float
    info: dict[str, Any]
    override_threshold: float | None = None  # None: ``threshold`` (gate files without one)

    def probability(self, decision: Decision, query: Query) -> float:
        return float(self.scorer.probability(gate_features(decision, query, self.scorer.features))[0])

    def answers(self, decision: Decision, query: Query) -> bool:
        if not decision.chosen:
            return False
        overriding = decision.reason is not None and self.override_threshold is not None
        threshold = self.override_threshold if overriding else self.threshold
        return self.probability(decision, query) >= float(threshold or 0.0)

    def to_json(self) -> dict[str, Any]:
        found = {"version": "gate-v1", "scorer": self.scorer.to_json(), "threshold": self.threshold,
                 "info": self.info}
        return found if self.override_threshold is None else {**found, "override_threshold": self.override_threshold}


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
    override = data.get("override_threshold")
    return Gate(Scorer.from_json(data["scorer"]), float(data["threshold"]), dict(data.get("info", {})),
                None if override is None else float(override))
