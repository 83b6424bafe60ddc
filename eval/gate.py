"""The regression gate: compare a run with a saved baseline.

A baseline file holds the run's metrics and per-question correctness by id::

    {"kind": "rag-eval-baseline", "schema": 1, "metrics": {...}, "correct": {"q1": true, ...}, ...}

(a report.json, which has "metrics" and "rows", is accepted as a baseline too).
The gate fails when a question that was correct now fails, or when a headline
metric drops by more than the tolerance. Questions new to the gold set, or gone
from it, are listed but never fail the gate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from rag.errors import InputError

from eval.scoring import HEADLINE_METRICS, aggregate

BASELINE_KIND = "rag-eval-baseline"
EPSILON = 1e-9  # 0.8 - 0.7 > 0.1 in floating point; such a drop is within tolerance


@dataclass(frozen=True)
class Baseline:
    metrics: dict[str, float | None]
    correct: dict[str, bool]


@dataclass
class GateResult:
    tolerance: float
    newly_failing: list[str] = field(default_factory=list)
    newly_passing: list[str] = field(default_factory=list)
    metric_drops: list[str] = field(default_factory=list)  # headline metrics that dropped past the tolerance
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)  # name -> baseline/current/delta
    new_questions: list[str] = field(default_factory=list)
    missing_questions: list[str] = field(default_factory=list)
    # Flips a nudged re-ask undoes (``eval.borderline``): listed, gated on the baseline's side.
    borderline: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.newly_failing and not self.metric_drops

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "tolerance": self.tolerance, "newly_failing": self.newly_failing,
            "newly_passing": self.newly_passing, "metric_drops": self.metric_drops, "metrics": self.metrics,
            "new_questions": self.new_questions, "missing_questions": self.missing_questions,
            "borderline": self.borderline,
        }


def make_baseline(report: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline document for a report (metrics + correctness by id + what produced it)."""
    return {
        "kind": BASELINE_KIND,
        "schema": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": report.get("run", {}),
        "metrics": dict(report["metrics"]),
        "correct": {str(row["id"]): bool(row["correct"]) for row in report["rows"]},
    }


def write_baseline(report: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(make_baseline(report), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def parse_baseline(data: Any, name: str = "baseline") -> Baseline:
    """A baseline document (or a report.json) -> :class:`Baseline`."""
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(f'{name} is not a rag eval baseline (no "metrics" object)')
    if isinstance(data.get("correct"), dict):
        correct = data["correct"]
    elif isinstance(data.get("rows"), list):
        correct = {r.get("id"): r.get("correct") for r in data["rows"] if isinstance(r, dict)}
    else:
        raise InputError(f'{name} is not a rag eval baseline (no "correct" by id, nor "rows")')
    if not all(isinstance(v, bool) for v in correct.values()):
        raise InputError(f"{name}: per-question correctness must be true or false")
    metrics = {k: v for k, v in data["metrics"].items() if v is None or isinstance(v, (int, float))}
    return Baseline(metrics, {str(k): v for k, v in correct.items()})


def read_json_file(path: Path, kind: str, missing: str) -> Any:
    """A JSON file eval reads (a baseline, a report), its failures as one line naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(missing) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {kind} {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{kind} {path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None


def load_baseline(path: str | Path) -> Baseline:
    path = Path(path)
    data = read_json_file(path, "baseline", f"no baseline at {path}: create one with --update-baseline")
    return parse_baseline(data, str(path))


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def compare(baseline: Baseline, metrics: Mapping[str, float | None], correct: Mapping[str, bool],
            tolerance: float = 0.0) -> GateResult:
    """Diff a run (metrics, correctness by id) against the baseline."""
    result = GateResult(tolerance=tolerance)
    for qid, now in correct.items():
        before = baseline.correct.get(qid)
        if before is None:
            result.new_questions.append(qid)
        elif before and not now:
            result.newly_failing.append(qid)
        elif now and not before:
            result.newly_passing.append(qid)
    result.missing_questions = [qid for qid in baseline.correct if qid not in correct]
    for name in HEADLINE_METRICS:
        old, new = _finite(baseline.metrics.get(name)), _finite(metrics.get(name))
        delta = new - old if old is not None and new is not None else None
        result.metrics[name] = {"baseline": old, "current": new, "delta": delta}
        if delta is not None and -delta > tolerance + EPSILON:
            result.metric_drops.append(name)
    return result


def gate_rows(baseline: Baseline, rows: Sequence[Any], tolerance: float = 0.0,
              reask: Callable[[str, int], Any] | None = None) -> GateResult:
    """Gate a run's scored rows; with ``reask`` (``eval.borderline``), a flipped question that a
    nudged re-ask returns to the baseline's verdict is borderline: that row stands in for it
    (in the verdicts and the metrics compared), and it is listed, not failed."""
    result = compare(baseline, aggregate(rows), {r.id: r.correct for r in rows}, tolerance)
    flipped = {qid: bool(baseline.correct[qid]) for qid in result.newly_failing + result.newly_passing}
    if reask is None or not flipped:
        return result
    from eval.borderline import baseline_side

    settled = baseline_side(flipped, reask)
    if not settled:
        return result
    rows = [settled.get(r.id, r) for r in rows]
    result = compare(baseline, aggregate(rows), {r.id: r.correct for r in rows}, tolerance)
    result.borderline = sorted(settled)
    return result
