"""What the claim check (rag.answer.verify) adds to an answer of five statements, on the seeds.

    python -m bench.verify_cost [INDEX_DIR]   # indexes ./seeds there once (default .cache/verify-bench)

For each question of eval/gold/seeds.jsonl (only its text is used: no gold answer), the top-3
retrieved chunks give five statements (two of their sentences paraphrased by reordering, three
quoted), cited [1]..[3]; the time measured is ``Verifier.claims`` alone: segmenting, the one batch
embedding call for the statements, the scorer and the hard checks; then the same with the statement
vectors already computed (what the checks cost beside the embedding). Prints p50/p95 in ms.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from rag.answer.verify import Verifier
from rag.answer.citations import parse_citations
from rag.config import Settings
from rag.errors import IndexNotFoundError
from rag.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 5


def five_statements(hits) -> str:  # type: ignore[no-untyped-def]
    sentences = [(i, s.text) for i, h in enumerate(hits[:3], start=1) for s in h.chunk.sentences[:2]][:5]
    parts = []
    for j, (n, text) in enumerate(sentences):
        words = text.rstrip(".").split()
        said = " ".join(words[len(words) // 2:] + words[:len(words) // 2]) if j % 2 else text.rstrip(".")
        parts.append(f"{said} [{n}].")
    return " ".join(parts)


def main(argv: list[str]) -> int:
    home = Path(argv[0]) if argv else ROOT / ".cache" / "verify-bench"
    pipeline = Pipeline(Settings(home=home, progress=False, mode="extractive"))
    try:
        indexed = pipeline.stats().chunks
    except IndexNotFoundError:
        indexed = 0
    if not indexed:
        pipeline.ingest([ROOT / "seeds"])
    cached = _Remembering(pipeline.embedder)
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "gold" / "seeds.jsonl").open()]
    timings: dict[str, list[float]] = {"verify": [], "checks": []}
    statements = []
    for question in questions:
        hits = pipeline.retrieve(question, k=5)
        parsed = parse_citations(five_statements(hits), hits)
        for name, verifier in (("verify", Verifier(pipeline.embedder)), ("checks", Verifier(cached))):
            for _ in range(ROUNDS):
                started = time.perf_counter()
                claims = verifier.claims(parsed.text, "en", parsed.citations, hits)
                timings[name].append((time.perf_counter() - started) * 1000)
        statements.append(len(claims))
    out: dict[str, object] = {"answers": len(questions), "rounds": ROUNDS, "statements_mean": statistics.mean(statements)}
    for name, values in timings.items():
        values.sort()
        out[f"{name}_ms_p50"] = round(statistics.median(values), 2)
        out[f"{name}_ms_p95"] = round(values[int(0.95 * (len(values) - 1))], 2)
    print(json.dumps(out))
    return 0


class _Remembering:
    """An embedder that computes each text once (to time the checks without the model)."""

    def __init__(self, embedder) -> None:  # type: ignore[no-untyped-def]
        self._embedder, self._seen = embedder, {}  # type: ignore[var-annotated]

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        import numpy as np

        todo = [t for t in texts if t not in self._seen]
        for text, vector in zip(todo, self._embedder.embed_passages(todo) if todo else []):
            self._seen[text] = vector
        return np.asarray([self._seen[t] for t in texts])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
