"""Labelled scripted answers for the claim checker (tests/fixtures/claims): run and score them.

Each fixture is one LLM answer: statements with ``{A}``-style placeholders for their citations,
and for each placeholder what the cited source is: a substring of the chunk (the first retrieved
chunk holding it), or ``{"without": [...]}`` (the first retrieved chunk holding none of those
words: a wrong source). The answer is scripted on the loopback OpenAI stub and asked through the
real ``openai`` client and the pipeline, so the claims checked are the product's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

FIXTURES = Path(__file__).parent / "fixtures" / "claims"
SEEDS_FIXTURES = FIXTURES / "seeds.jsonl"
XQUAD_FIXTURES = FIXTURES / "xquad-dev" / "claims.jsonl"
K = 8  # sources per answer: enough that a wrong source and the right one are both retrieved


class FixtureError(AssertionError):
    """A fixture's cited passage was not retrieved: the fixture, not the checker, is wrong."""


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _resolve(cite: Any, hits: Sequence[Any]) -> int:
    for i, hit in enumerate(hits, start=1):
        text = hit.chunk.text.casefold()
        if isinstance(cite, str) and cite.casefold() in text:
            return i
        if isinstance(cite, dict) and not any(w.casefold() in text for w in cite["without"]):
            return i
    raise FixtureError(f"no retrieved chunk fits {cite!r}: " + " | ".join(h.chunk.text[:60] for h in hits))


def reply_for(record: dict[str, Any], hits: Sequence[Any]) -> str:
    reply = " ".join(s["text"] for s in record["statements"])
    for name, cite in record["cites"].items():
        reply = reply.replace("{" + name + "}", f"[{_resolve(cite, hits)}]")
    return reply


@dataclass
class Outcome:
    id: str
    kind: str
    expected: bool  # labelled supported
    flagged: bool  # the checker said unsupported
    score: float | None
    failed: list[str]


def run(pipeline: Any, stub: Any, records: Sequence[dict[str, Any]], k: int = K) -> list[Outcome]:
    """Ask every fixture through the stub; one Outcome per labelled statement."""
    outcomes = []
    for record in records:
        hits = pipeline.retrieve(record["question"], k=k)
        stub.script_chat(reply_for(record, hits))
        answer = pipeline.ask(record["question"], k=k, mode="llm")
        labels = record["statements"]
        assert len(answer.claims) == len(labels), (record["id"], [c.text for c in answer.claims])
        for label, claim in zip(labels, answer.claims):
            outcomes.append(Outcome(record["id"], label["kind"], label["supported"], not claim.supported,
                                    claim.score, claim.failed))
    return outcomes


def metrics(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Precision and recall of the "unsupported" flag; pass rates of the faithful kinds."""
    flagged = [o for o in outcomes if o.flagged]
    unsupported = [o for o in outcomes if not o.expected]
    caught = [o for o in unsupported if o.flagged]
    by_kind: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_kind.setdefault(o.kind, []).append(o)
    return {
        "statements": len(outcomes),
        "precision": len(caught) / len(flagged) if flagged else 1.0,
        "recall": len(caught) / len(unsupported) if unsupported else 1.0,
        "crosslingual_passed": _passed(by_kind.get("crosslingual", [])),
        "right": {kind: sum(o.flagged != o.expected for o in rows) / len(rows) for kind, rows in by_kind.items()},
        "wrong": [(o.id, o.kind, o.score, o.failed) for o in outcomes if o.flagged == o.expected],
    }


def _passed(rows: Sequence[Outcome]) -> float | None:
    return sum(not o.flagged for o in rows) / len(rows) if rows else None
