"""Where a warm ``ask`` spends its time, stage by stage, with the query embedding timed in the same run.

    .venv/bin/python -m bench.query_profile --corpus seeds --gold eval/gold/seeds.jsonl --repeats 3

Each stage is timed by wrapping the live objects' methods (one pipeline, warm, the same questions):
the query embedding, the corpus view, the HNSW searches (one per document language, all of them in
wall time: ``HybridRetriever._nearest``; ``Store.query`` each before), the BM25 search, the fetch of
the candidates' texts and vectors not in the view's cache (``get_chunks``), the sentence-vector
fetch, and the answer step (``Answer.timings_ms``). Prints one JSON object: per-stage p50 ms per
question, the ask p50 and the ratio ask / embedding (issue 17's target: <= 1.6), ``ask_minus_embed``
(the non-model time, taken per question: on a loaded machine the p50s of the stages do not add up),
the same p50s over the first pass alone (``*_first_pass``: chunks met only once are not in the
view's caches yet) and over the later passes (``*_later_passes``: with ``--repeats 2`` the overall p50
falls between a cold and a warm pass; ``p50_ms_by_pass`` has every stage both ways), the caches'
sizes and the peak RSS. The retriever's spans:
``retrieve`` (its whole call), ``rows`` (candidate rows: the chunk cache, then ``get_chunks``),
``rescore`` (best-sentence re-score: the sentence cache, then ``sentence_vectors``), ``fusion``
(retrieve less its searches, rows and re-score: merging the legs, liveness, language bias, name
bonus, ranking) and ``outside`` (the ask less embedding, view, retrieve and answer step), each taken
per question.

``--synthetic 10k --home DIR`` profiles a synthetic corpus of the bench's (``bench.corpus``), ingested
into DIR first if DIR holds no index, with the bench's cached embeddings, the chunks' approximated
(``python -m bench --approx 10k``: store-bound, minutes, not hours; fine for costs, not for quality);
a later run with the same DIR reuses it. The questions are the seeds' gold set.

``--alternate search_threads=1,4`` asks every question once per value of a setting, in turn, in one
process: the values are compared under the same load (a shared machine's load moves between runs).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from statistics import median
from typing import Any, Callable

from bench.corpus import CACHE_DIR
from bench.jobs import load_questions

STAGES = ("embed_query", "view", "hnsw", "bm25", "get_chunks", "sentence_vectors")
# Spans that hold some of STAGES (wall time): the retriever's whole call, its row lookup (the view's
# chunk cache, then ``get_chunks``) and its best-sentence re-score (the sentence cache, then
# ``sentence_vectors``); what they leave is reported as ``fusion`` and ``outside`` (see ``_asked``).
SPANS = ("retrieve", "rows", "rescore")


def _timed(target: Any, name: str, stage: str, spent: dict[str, float]) -> None:
    """Replace ``target.name`` with a wrapper adding its wall time to ``spent[stage]``."""
    original: Callable[..., Any] = getattr(target, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[stage] += (time.perf_counter() - started) * 1000

    setattr(target, name, wrapper)


def build_synthetic(home: Path, size: str, cache_dir: Path) -> None:
    """Ingest the bench's synthetic corpus of ``size`` into ``home`` (approximate chunk vectors)."""
    from bench.corpus import DEFAULT_SEED, build_corpus, parse_size, sentence_pool
    from bench.embed_cache import CachingEmbedder
    from bench.jobs import close_chroma, make_pipeline, open_cache
    from rag.embedding import E5Embedder

    pool = sentence_pool()
    corpus = build_corpus(parse_size(size), DEFAULT_SEED, cache_dir, pool)
    cache = open_cache(str(cache_dir))
    # Every sentence of a synthetic corpus is a seed sentence: embedded once, then cached.
    CachingEmbedder(E5Embedder(), cache, "reuse").embed_passages(pool.texts())
    cache.flush()
    report = make_pipeline(home, cache, "approx").ingest(corpus.paths)
    cache.flush()
    close_chroma()  # the profile opens the index afresh, as a new process would
    print(f"built {home}: {report.chunks_added} chunks", file=sys.stderr)


def profile(home: Path, corpus: str, gold: str, repeats: int, questions: int | None,
            alternate: str = "") -> dict[str, Any]:
    """The per-stage p50s; with ``alternate`` ("search_threads=1,4"), every question is asked once per
    value of that setting in turn, in the same process, and each value gets its own p50s (a
    side-by-side that a changing machine load cannot tilt)."""
    from rag.config import Settings
    from rag.index.lexical import LexicalIndex
    from rag.pipeline import Pipeline

    pipeline = Pipeline(Settings(home=home))
    if corpus:
        pipeline.ingest([corpus])
    variants = _variants(pipeline.settings, alternate)
    items = load_questions(gold, questions)
    for item in items[:5]:  # warm-up: model, store, views, caches
        pipeline.ask(item.question)
    spent: dict[str, float] = defaultdict(float)
    store = pipeline._open_store(create=False)
    _timed(pipeline.embedder, "embed_query", "embed_query", spent)
    _timed(pipeline._corpus, "view", "view", spent)
    from rag.retrieve import hybrid

    # All of a question's searches, wall time (they may run side by side); before: Store.query each.
    searches: tuple[Any, str] = (hybrid.HybridRetriever, "_nearest") if hasattr(hybrid.HybridRetriever, "_nearest") \
        else (store, "query")
    original_nearest = getattr(*searches)
    _timed(searches[0], searches[1], "hnsw", spent)
    _timed(store, "get_chunks", "get_chunks", spent)
    _timed(store, "sentence_vectors", "sentence_vectors", spent)
    original_search = LexicalIndex.search
    _timed(LexicalIndex, "search", "bm25", spent)
    spans = [(hybrid.HybridRetriever, name, span) for name, span in
             (("retrieve", "retrieve"), ("_rows", "rows"), ("_rescore_by_best_sentence", "rescore"))]
    originals = [(target, name, getattr(target, name)) for target, name, _ in spans]
    for target, name, span in spans:
        _timed(target, name, span, spent)
    rows: dict[str, list[dict[str, float]]] = {label: [] for label in variants}
    try:
        for _ in range(repeats):
            for i, item in enumerate(items):
                # Each value goes first as often as the others (the first ask of a question fills the caches).
                order = list(variants.items())
                for label, settings in order[i % len(order):] + order[:i % len(order)]:
                    pipeline.settings = settings
                    rows[label].append(_asked(pipeline, item.question, spent))
    finally:
        setattr(LexicalIndex, "search", original_search)  # noqa: B010 (mypy: no assigning to a method)
        setattr(searches[0], searches[1], original_nearest)
        for target, name, original in originals:
            setattr(target, name, original)  # noqa: B010
    out: dict[str, Any] = {"questions": len(items), "repeats": repeats, "chunks": store.chunk_count()}
    summaries = {label: _summary(r, len(items)) for label, r in rows.items()}
    out.update(summaries[""] if not alternate else {"alternate": alternate, "variants": summaries})
    return out | {"cached_chunks": _cached(pipeline, "stored"), "cached_sentences": _cached(pipeline, "sentences"),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def _variants(settings: Any, alternate: str) -> dict[str, Any]:
    """label -> settings: one per value of ``NAME=V1,V2`` (a Settings field), or the settings as they are."""
    if not alternate:
        return {"": settings}
    name, _, values = alternate.partition("=")
    kind = type(getattr(settings, name))
    return {f"{name}={v}": replace(settings, **{name: kind(v)}) for v in values.split(",")}


def _asked(pipeline: Any, question: str, spent: dict[str, float]) -> dict[str, float]:
    """One warm ask: each stage's milliseconds, the answer step, the whole ask."""
    spent.clear()
    started = time.perf_counter()
    answer = pipeline.ask(question)
    row = {stage: spent.get(stage, 0.0) for stage in STAGES + SPANS}
    row["answer"] = answer.timings_ms.get("answer", 0.0)
    row["ask"] = (time.perf_counter() - started) * 1000
    # The retriever's own Python: merging both legs, liveness, language bias, name bonus, ranking.
    row["fusion"] = row["retrieve"] - row["hnsw"] - row["bm25"] - row["rows"] - row["rescore"]
    # Neither retrieval nor the answer step: cleaning the question, its language, the query object.
    row["outside"] = row["ask"] - row["embed_query"] - row["view"] - row["retrieve"] - row["answer"]
    row["ask_minus_embed"] = row["ask"] - row["embed_query"]  # per question: robust to load
    return row


def _summary(rows: list[dict[str, float]], first_pass: int) -> dict[str, Any]:
    p50 = {key: round(median(r[key] for r in rows), 2) for key in rows[0]}
    # Every stage over the first pass (a first pass reads what the caches lack) and over the later ones.
    passes = {"first_pass": rows[:first_pass], "later_passes": rows[first_pass:]}
    by_pass = {name: {key: round(median(r[key] for r in part), 2) for key in rows[0]}
               for name, part in passes.items() if part}
    # The keys earlier results carry, kept so runs stay comparable.
    p50["ask_first_pass"] = by_pass["first_pass"]["ask"]
    p50["ask_minus_embed_first_pass"] = by_pass["first_pass"]["ask_minus_embed"]
    if "later_passes" in by_pass:  # every chunk met before (if the caches hold it)
        p50["ask_minus_embed_later_passes"] = by_pass["later_passes"]["ask_minus_embed"]
        p50["embed_query_later_passes"] = by_pass["later_passes"]["embed_query"]
    rest = p50["ask"] - sum(p50[s] for s in STAGES) - p50["answer"]
    return {"p50_ms": p50, "p50_ms_by_pass": by_pass, "other_ms_approx": round(rest, 2),
            "ratio_ask_to_embed": round(p50["ask"] / p50["embed_query"], 2)}


def _cached(pipeline: Any, cache: str) -> int | None:
    """Entries in one of the view's caches (None: this version has no such cache)."""
    view = pipeline._corpus.current
    found = getattr(view, cache, None)
    return None if found is None else len(found._rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="an existing index (else a fresh one in a temp dir)")
    parser.add_argument("--corpus", default="", help="ingest this folder first ('seeds': the repo's seeds)")
    parser.add_argument("--gold", default="eval/gold/seeds.jsonl")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--questions", type=int)
    parser.add_argument("--alternate", default="", metavar="NAME=V1,V2",
                        help="ask every question once per value of this setting, in turn (e.g. search_threads=1,4)")
    parser.add_argument("--synthetic", metavar="SIZE", help="a bench corpus (10k, 100k), built into --home if empty")
    parser.add_argument("--cache-dir", default=str(CACHE_DIR), help="the bench's cache (corpora, embeddings)")
    args = parser.parse_args()
    corpus = str(Path(__file__).resolve().parents[1] / "seeds") if args.corpus == "seeds" else args.corpus
    with tempfile.TemporaryDirectory(prefix="rag-qprof-") as tmp:
        home = Path(args.home) if args.home else Path(tmp)
        if args.synthetic and not (home / "chroma").exists():
            build_synthetic(home, args.synthetic, Path(args.cache_dir))
        print(json.dumps(profile(home, corpus, args.gold, args.repeats, args.questions, args.alternate), indent=1))


if __name__ == "__main__":
    main()
