"""``python -m bench`` / ``rag bench``: the speed benchmark.

    python -m bench                               # seeds, 1k, 10k (+ reference, remote, chroma server)
    python -m bench --sizes seeds,1k,10k,100k     # 100k is opt-in (cached embeddings, see below)
    python -m bench --sizes xquad-dev             # only the LlamaIndex comparison on ../shared/data/xquad-dev
    python -m bench --quick                       # seeds + a tiny corpus, 1 repeat, no servers (~1 min)
    python -m bench --render bench/results.json   # tables and plot again (targets re-judged) from a results file

Each size runs in its own child process (its peak RSS is its own); then the
plain-LlamaIndex reference, the remote-embeddings measure, the Chroma
server measure and the xquad-dev comparison (bench/xquad.py: the product
beside three LlamaIndex variants on a real corpus), each in a child too. Results: a table on the console,
``--out`` (bench/results.json) and a PNG beside it (bench/results.png).

Sizes of 100k chunks and more take their passage embeddings from
``bench/cache/`` (real e5 vectors cached by earlier runs; a chunk missing from
the cache gets the mean of its sentences' e5 vectors), so they finish in
minutes; ``--exact-100k`` computes (and caches) the real vectors instead,
hours once on 2 cores. The output says which.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from rag.offline import apply_offline_env

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_SIZES = "seeds,1k,10k,xquad-dev"
XQUAD = "xquad-dev"  # a named real corpus, not a synthetic size
PARTS = ("reference", "remote", "server", "cold", "xquad")
CACHED_FROM_CHUNKS = 100_000  # sizes this big take their embeddings from the cache
FEW_INGESTS_FROM_CHUNKS = 10_000  # sizes this big ingest once unless --ingest-repeats says otherwise


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag bench", description="Speed benchmark of the rag pipeline "
                                "(ingest, query, cold start, memory) next to a plain LlamaIndex pipeline.")
    p.add_argument("--sizes", default=DEFAULT_SIZES,
                   help=f"comma-separated: seeds, tiny, 1k, 10k, 100k, a chunk count, or {XQUAD} (the real corpus "
                        f"in ../shared, product vs LlamaIndex variants) (default {DEFAULT_SIZES})")
    p.add_argument("--repeats", type=int, default=3, help="repeats of each measure (default 3)")
    p.add_argument("--ingest-repeats", type=int, default=None,
                   help=f"fresh ingests per size (default: --repeats below {FEW_INGESTS_FROM_CHUNKS:,} chunks, 1 above)")
    p.add_argument("--cold-runs", type=int, default=5, help="runs of `rag ask` in a fresh process (default 5)")
    p.add_argument("--questions", type=int, default=None, help="use this many gold questions (default all)")
    p.add_argument("--gold", default=None, help="gold set (default eval/gold/seeds.jsonl, else eval/dev/seeds-dev.jsonl)")
    p.add_argument("--out", default=str(BENCH_DIR / "results.json"), help="results JSON (the PNG goes beside it)")
    p.add_argument("--markdown", default=None, help="also write the tables as Markdown to this file")
    p.add_argument("--quick", action="store_true",
                   help="seeds + a tiny corpus, 1 repeat, 6 questions, no servers: a smoke test")
    p.add_argument("--only", default="", metavar="PARTS",
                   help=f"run only these parts (no sizes, except with xquad): {', '.join(PARTS[:3] + PARTS[4:])}")
    p.add_argument("--skip", default="", help=f"comma-separated parts to leave out: {', '.join(PARTS)}")
    p.add_argument("--server-size", default="1k", help="corpus size for the Chroma server measure (default 1k)")
    p.add_argument("--xquad-dir", default=None,
                   help="the xquad-dev folder (docs/ + gold.jsonl; default ../shared/data/xquad-dev beside the checkout)")
    p.add_argument("--embed-servers", default="1,2",
                   help="remote measure: numbers of loopback embedding servers to spread one ingest's texts over "
                        "(RAG_EMBED_URLS; default 1,2)")
    p.add_argument("--remote-configs", default="128x4,128x1,32x4,32x1",
                   help="remote measure: batch x concurrency settings against one server (default 128x4,128x1,32x4,32x1)")
    p.add_argument("--remote-texts", type=int, default=512, help="texts for the remote-embeddings measure (default 512)")
    p.add_argument("--model-chunks", type=int, default=1100,
                   help="chunks of text (a sample of files, at bigger sizes) for the model's own throughput (default 1100)")
    p.add_argument("--approx", default="", metavar="SIZES",
                   help="also take these sizes' embeddings from the cache, approximating what is missing (fast: "
                        "to look at store, index and query costs without hours of embedding)")
    p.add_argument("--exact-100k", action="store_true",
                   help="real embeddings at 100k+ (computed once, then cached) instead of sentence-mean approximations")
    p.add_argument("--seed", type=int, default=1234, help="seed of the synthetic corpora (default 1234)")
    p.add_argument("--cache-dir", default=str(BENCH_DIR / "cache"), help="corpora and embedding cache (default bench/cache)")
    p.add_argument("--work-dir", default=None, help="where the temporary indexes go (default: the system temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the indexes built (their paths are in the results)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="set an environment variable in every benchmark process (e.g. OMP_WAIT_POLICY=passive "
                        "to compare a setting); repeatable, recorded in the results")
    p.add_argument("--check", action="store_true", help="exit 1 if a target is not met")
    p.add_argument("--render", metavar="RESULTS_JSON", help="no run: print the tables and redraw the plot of a results file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--child-config", help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    return p


def run_child_job(args: argparse.Namespace) -> int:
    from bench.jobs import JOBS

    try:
        result = JOBS[args.child](json.loads(args.child_config))
    except Exception:  # noqa: BLE001 - the parent reports the tail of stderr
        traceback.print_exc()
        return 1
    Path(args.child_out).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0


def plan(args: argparse.Namespace) -> dict[str, Any]:
    """Resolve flags (and --quick) into what each child gets."""
    from bench.corpus import parse_size
    from bench.jobs import default_gold

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(PARTS)
    if unknown:
        raise ValueError(f"--skip: unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if only - set(PARTS):
        raise ValueError(f"--only: unknown part(s) {', '.join(sorted(only - set(PARTS)))}; choose from {', '.join(PARTS)}")
    names = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if only:  # e.g. --only remote: that part alone, no corpus sizes
        skip |= set(PARTS) - only
        names = [XQUAD] if "xquad" in only else []
    xquad = any(n.lower() == XQUAD for n in names) and "xquad" not in skip
    sizes = [parse_size(s) for s in names if s.lower() != XQUAD]
    notes = []
    if not sizes and not args.quick and not only:  # only the real corpus asked for: the synthetic-size parts are left out
        skip |= {"reference", "remote", "server"}
        notes.append(f"--sizes {XQUAD} alone: only the xquad-dev comparison runs")
    approx = {parse_size(s).name for s in args.approx.split(",") if s.strip()}
    repeats, cold_runs, questions, model_chunks = args.repeats, args.cold_runs, args.questions, args.model_chunks
    if args.quick:
        sizes = [parse_size("seeds"), parse_size("tiny")]
        xquad = False
        repeats, cold_runs, questions, model_chunks = 1, 1, questions or 6, 3
        skip |= {"remote", "server"}
        notes.append("--quick: seeds + a tiny corpus (cached/approximate embeddings), 1 repeat, 6 questions, "
                     "model throughput on a 3-chunk sample, no servers: a smoke test, not numbers to quote")
    if "reference" not in skip and sizes and not any(s.name == "seeds" for s in sizes):
        sizes.insert(0, parse_size("seeds"))
        notes.append("seeds added to the sizes: the LlamaIndex comparison needs the product's numbers on them")
    if repeats < 1:
        raise ValueError("--repeats must be at least 1")
    seen, unique = set(), []
    for s in sorted(sizes, key=lambda s: s.target_chunks):
        if s.name not in seen:
            seen.add(s.name)
            unique.append(s)
    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--env {item!r}: use KEY=VALUE")
        env[key] = value
    if env:
        notes.append("environment set for every benchmark process: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    common = {"env": env, "seed": args.seed, "cache_dir": args.cache_dir, "work_dir": args.work_dir,
              "gold": args.gold or str(default_gold()), "questions": questions, "repeats": repeats}
    size_jobs = []
    for s in unique:
        big = s.target_chunks >= FEW_INGESTS_FROM_CHUNKS
        cached = s.target_chunks >= CACHED_FROM_CHUNKS or (args.quick and s.synthetic) or s.name in approx
        exact = args.exact_100k and s.target_chunks >= CACHED_FROM_CHUNKS
        size_jobs.append(common | {
            "size": s.name,
            "ingest_repeats": args.ingest_repeats or (1 if big else repeats),
            "embeddings": ("cached" if exact else "approx") if cached else "real",
            "cold_runs": 0 if "cold" in skip else cold_runs,
            "model_chunks": model_chunks,
            "quality": s.name == "seeds",
            "keep": args.keep,
        })
        if cached and not args.quick:
            notes.append(f"{s.name}: embeddings from the benchmark cache "
                         + ("(real e5 vectors; missing ones computed and cached)" if exact else
                            "(a chunk not cached gets the mean of its sentences' real e5 vectors): "
                            "its ingest excludes real embedding work"))
    return {
        "sizes": size_jobs,
        "reference": None if "reference" in skip else common | {"ingest_repeats": repeats, "small_chunks": not args.quick},
        "remote": None if "remote" in skip else common | {"texts": args.remote_texts,
                                                            "configs": remote_configs(args.remote_configs),
                                                            "servers": servers(args.embed_servers)},
        "server": None if "server" in skip else common | {"size": args.server_size},
        "xquad": common | {"ingest_repeats": args.ingest_repeats or 1, "data_dir": args.xquad_dir} if xquad else None,
        "notes": notes,
        "quick": args.quick,
    }


def remote_configs(text: str) -> list[list[int]]:
    try:
        configs = [[int(n) for n in item.lower().split("x")] for item in text.split(",") if item.strip()]
    except ValueError:
        configs = []
    if not configs or any(len(c) != 2 or min(c) < 1 for c in configs):
        raise ValueError(f"--remote-configs {text!r}: use BATCHxCONCURRENCY items, e.g. 128x4,32x1")
    return configs


def servers(text: str) -> list[int]:
    try:
        counts = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ValueError(f"--embed-servers {text!r}: use numbers, e.g. 1,2") from None
    if not counts or counts[0] < 1:
        raise ValueError(f"--embed-servers {text!r}: each count must be at least 1")
    return counts


def machine() -> dict[str, Any]:
    import os

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "load_avg_at_start": load}


def make_console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # a log file or a pipe: wide enough for the tables
        console = Console(width=max(console.width, 180))
    return console


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from bench import report
    from bench.measure import run_child

    console = make_console()
    steps = plan(args)
    started = time.time()
    results: dict[str, Any] = {
        "meta": {"command": shlex.join(["python", "-m", "bench", *args.argv]),
                 "options": {k: v for k, v in vars(args).items() if not k.startswith("child") and k != "argv"},
                 "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
                 "machine": machine(), "notes": steps["notes"], "quick": steps["quick"]},
        "sizes": {},
    }
    for note in steps["notes"]:
        console.print(f"[yellow]note:[/] {note}")

    def echo(line: str) -> None:
        console.print(f"  [dim]{escape(line)}[/]", highlight=False)

    failed = False
    for cfg in steps["sizes"]:
        console.print(f"[bold]size {cfg['size']}[/] ({cfg['embeddings']} embeddings, {cfg['ingest_repeats']} fresh ingest(s))")
        results["sizes"][cfg["size"]] = out = run_child("size", cfg, echo)
        failed |= "error" in out
    for part, job in (("reference", "reference"), ("remote", "remote"), ("server", "chroma-server"),
                      ("xquad", "xquad")):
        if steps[part] is not None:
            console.print(f"[bold]{part}[/]")
            results[part] = out = run_child(job, steps[part], echo)
            failed |= "error" in out
            if out.get("skipped"):
                console.print(f"[yellow]note:[/] {out['skipped']}")
    results["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    results["meta"]["seconds"] = round(time.time() - started, 1)
    results["comparison"] = report.compare_reference(results)
    results["targets"] = report.evaluate_targets(results)

    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    report.print_tables(results, console)
    png = report.plot(results, out_path.with_suffix(".png"))
    console.print(f"results: {out_path}" + (f", plot: {png}" if png else ""))
    if args.markdown:
        Path(args.markdown).write_text(report.markdown(results), encoding="utf-8")
        console.print(f"markdown: {args.markdown}")
    if failed:
        console.print("[red]some parts failed: see the errors above and in the results[/]")
        return 1
    if args.check and any(t["status"] == "not met" for t in results["targets"]):
        return 1
    return 0


def render(args: argparse.Namespace) -> int:
    from bench import report

    path = Path(args.render)
    results = json.loads(path.read_text(encoding="utf-8"))
    results["comparison"] = report.compare_reference(results)
    results["targets"] = report.evaluate_targets(results)  # with today's rules, written back
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    console = make_console()
    report.print_tables(results, console)
    png = report.plot(results, path.with_suffix(".png"))
    if png:
        console.print(f"plot: {png}")
    if args.markdown:
        Path(args.markdown).write_text(report.markdown(results), encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    apply_offline_env()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error (argparse printed it)
        return int(exc.code or 0)
    args.argv = argv
    if args.child:
        return run_child_job(args)
    try:
        if args.render:
            return render(args)
        return run(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
