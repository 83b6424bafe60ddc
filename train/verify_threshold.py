"""Calibrate the claim checker's support threshold on the xquad-dev claim fixtures (never the seeds).

    python -m train.verify_threshold [INDEX_DIR]   # indexes xquad-dev docs there once (default .cache/verify-xq)

Every labelled statement of ``tests/fixtures/claims/xquad-dev/claims.jsonl`` is asked through the
loopback OpenAI stub with the similarity check switched off, so the other checks' verdicts and the
raw evidence scores are seen separately. The threshold printed is the midpoint of the widest gap that
gives the best F1 of the "unsupported" flag; the seeds fixtures are then scored with it, for the report.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from rag.config import Settings
from rag.pipeline import Pipeline
from tests import claims_harness as harness
from tests.openai_server import OpenAIStubServer

DOCS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xquad-dev" / "docs"


def outcomes(home: Path, fixtures: Path, corpus: Path | None) -> list[harness.Outcome]:
    with OpenAIStubServer() as stub:
        settings = Settings(home=home, openai_base_url=stub.base_url, openai_api_key="calibration",
                            llm_model="stub-chat", mode="llm", progress=False, verify_off=("similarity",))
        pipeline = Pipeline(settings)
        if corpus is not None and not pipeline.stats().get("chunks"):
            pipeline.ingest([corpus])
        return harness.run(pipeline, stub, harness.load(fixtures))


def flags(rows: Sequence[harness.Outcome], threshold: float) -> list[harness.Outcome]:
    """The outcomes as they would be with the similarity check at ``threshold``."""
    return [harness.Outcome(o.id, o.kind, o.expected, o.flagged or (o.score is not None and o.score < threshold),
                            o.score, o.failed) for o in rows]


def best_threshold(rows: Sequence[harness.Outcome]) -> tuple[float, dict[str, object]]:
    scores = sorted({round(o.score, 4) for o in rows if o.score is not None})
    cuts = [(a + b) / 2 for a, b in zip(scores, scores[1:])]
    best: tuple[float, float, float] | None = None  # (f1, gap, cut)
    for i, cut in enumerate(cuts):
        m = harness.metrics(flags(rows, cut))
        f1 = 2 * m["precision"] * m["recall"] / (m["precision"] + m["recall"] or 1)
        gap = scores[i + 1] - scores[i]
        if best is None or (f1, gap) > best[:2]:
            best = (f1, gap, cut)
    assert best is not None
    return round(best[2], 3), harness.metrics(flags(rows, best[2]))


def main(argv: Sequence[str]) -> int:
    home = Path(argv[0]) if argv else Path(".cache/verify-xq")
    rows = outcomes(home, harness.XQUAD_FIXTURES, DOCS)
    threshold, chosen = best_threshold(rows)
    off = harness.metrics(rows)
    print(json.dumps({"threshold": threshold, "xquad-dev": _short(chosen), "xquad-dev, similarity off": _short(off)},
                     indent=1))
    for o in sorted(rows, key=lambda o: o.score or 0):
        print(f"{o.id:8} {o.kind:13} supported={o.expected!s:5} score={o.score} other checks failed={o.failed}")
    return 0


def _short(m: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in m.items() if k != "wrong"} | {"wrong": m["wrong"]}


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
