"""What the claim check (rag.answer.verify) adds to an answer of five statements, on the seeds.

    python -m bench.verify_cost [INDEX_DIR]   # indexes ./seeds there once (default .cache/verify-bench)

For each question of eval/gold/seeds.jsonl (only its text is used: no gold answer), the top-3
retrieved chunks give five statements (two of their sentences paraphrased by reordering, three
quoted), cited [1]..[3].

* ``added``: the product's path. The reply is scripted on the loopback OpenAI stub of the tests
  (tests/openai_server.py), streamed a word per SSE event every :data:`TOKEN_DELAY_S` (about 50
  words/s: a fast hosted model), asked through the real ``openai`` client and ``Pipeline.ask_stream``.
  Timed: from the last text delta the caller gets to the final Answer with its claims; ``added`` is
  that minus the same with ``RAG_VERIFY=off`` (same question, same stream), per question. Statements
  are embedded while the reply streams (``StatementPrefetch``), on the worker thread (``added``) or in
  the consumer between deltas (``added_inline``). ``last_paraphrased`` does the same with the last
  statement paraphrased too (three paraphrased): what is left to embed when the reply ends.
* ``verify``: the old whole check, ``Verifier.claims`` on the finished reply (segmenting, the one batch
  embedding call, the scorer and the hard checks); ``checks``: the same with the statement vectors
  already computed (what the checks cost beside the embedding).

Prints p50/p95 in ms.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from rag.answer.verify import Verifier, statements
from rag.answer.citations import parse_citations
from rag.config import Settings
from rag.errors import IndexNotFoundError
from rag.lang.detect import detect_question_language
from rag.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 5
TOKEN_DELAY_S = 0.02  # between the stub's SSE events (one word each)
K = 8  # retrieved: enough for five sentences in the question's language on most seeds questions


def five_statements(hits, lang: str, last_paraphrased: bool = False) -> str | None:  # type: ignore[no-untyped-def]
    """Five statements from the first sentences of the question's language's retrieved chunks (a reply
    in another language would be asked for again: the language check), cited by their hit numbers;
    None when the hits have fewer than five such sentences."""
    sentences = [(i, s.text) for i, h in enumerate(hits, start=1) if h.chunk.lang == lang
                 for s in h.chunk.sentences[:2]][:5]
    if len(sentences) < 5:
        return None
    parts = []
    for j, (n, text) in enumerate(sentences):
        words = text.rstrip(".").split()
        paraphrased = j % 2 == 1 or (last_paraphrased and j == len(sentences) - 1)
        said = " ".join(words[len(words) // 2:] + words[:len(words) // 2]) if paraphrased else text.rstrip(".")
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
    asked = [json.loads(line)["question"] for line in (ROOT / "eval" / "gold" / "seeds.jsonl").open()]
    replies = {q: five_statements(pipeline.retrieve(q, k=K), detect_question_language(q)) for q in asked}
    questions = [q for q, reply in replies.items() if reply is not None and len(statements(reply)) == 5]
    timings: dict[str, list[float]] = {"verify": [], "checks": []}
    timings.update(streamed(home, questions))
    counts = []
    for question in questions:
        hits = pipeline.retrieve(question, k=K)
        parsed = parse_citations(replies[question] or "", hits)
        lang = detect_question_language(question)
        for name, verifier in (("verify", Verifier(pipeline.embedder)), ("checks", Verifier(cached))):
            for _ in range(ROUNDS):
                started = time.perf_counter()
                claims = verifier.claims(parsed.text, lang, parsed.citations, hits)
                timings[name].append((time.perf_counter() - started) * 1000)
        counts.append(len(claims))
    out: dict[str, object] = {"answers": len(questions), "of": len(asked), "rounds": ROUNDS,
                              "statements_mean": statistics.mean(counts)}
    for name, values in timings.items():
        values.sort()
        out[f"{name}_ms_p50"] = round(statistics.median(values), 2)
        out[f"{name}_ms_p95"] = round(values[int(0.95 * (len(values) - 1))], 2)
    print(json.dumps(out))
    return 0


def streamed(home: Path, questions: list[str]) -> dict[str, list[float]]:
    """Per question: ms from the last delta to the final Answer, verify on minus verify off."""
    from tests.openai_server import OpenAIStubServer

    # name: (RAG_VERIFY, how statements are embedded while streaming, last statement paraphrased)
    variants = {"off": ("off", "worker", False), "added": ("mark", "worker", False),
                "added_inline": ("mark", "inline", False), "added_no_prefetch": ("mark", "none", False),
                "last_paraphrased": ("mark", "worker", True), "off_last_paraphrased": ("off", "worker", True)}
    tails: dict[str, list[float]] = {name: [] for name in variants}
    with OpenAIStubServer(api_key="sk-bench", stream_chunk_delay=TOKEN_DELAY_S) as stub:
        settings = Settings(home=home, progress=False, mode="llm", openai_base_url=stub.base_url,
                            openai_api_key="sk-bench", llm_model="stub-chat", llm_max_retries=0, k=K)
        for name, (verify, prefetch, last) in variants.items():
            pipeline = Pipeline(settings.with_overrides(verify=verify))
            if prefetch != "worker":  # the old path (batch at the end) or embedding between deltas
                pipeline._prefetch = _prefetcher(pipeline, prefetch)  # type: ignore[method-assign]
            for question in questions:
                reply = five_statements(pipeline.retrieve(question, k=K), detect_question_language(question), last)
                stub.script_stream(reply or "")
                tails[name].append(_tail_ms(pipeline, question))
    out = {name: [on - off for on, off in zip(tails[name], tails["off"])]
           for name in ("added", "added_inline", "added_no_prefetch")}
    out["last_paraphrased"] = [on - off for on, off in zip(tails["last_paraphrased"], tails["off_last_paraphrased"])]
    out["tail_off"] = tails["off"]
    return out


def _tail_ms(pipeline: Pipeline, question: str) -> float:
    stream = pipeline.ask_stream(question, k=K)
    last = time.perf_counter()
    for _ in stream:
        last = time.perf_counter()
    answer = stream.answer()
    assert answer.language_ok and (len(answer.claims) == 5 or pipeline.settings.verify == "off")
    return (time.perf_counter() - last) * 1000


def _prefetcher(pipeline: Pipeline, how: str):  # type: ignore[no-untyped-def]
    from rag.answer.verify import StatementPrefetch

    if how == "none":
        return lambda hits: None
    return lambda hits: StatementPrefetch(pipeline.embedder, hits, background=False)


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
