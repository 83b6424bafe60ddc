"""``rag eval`` (also ``python -m eval``): score the pipeline against a gold set.

    rag eval --gold eval/gold/seeds.jsonl --corpus seeds            # fresh temporary index
    rag eval --gold eval/gold/seeds.jsonl --index-dir .rag          # an existing index
    rag eval --gold G --corpus seeds --baseline eval/baseline.json  # regression gate
    rag eval --gold G --corpus seeds --update-baseline              # (re)write the baseline

Writes report.json, report.md and metrics.png to --out (default eval/out).

Exit codes: 0 the run finished (and the gate, if any, passed); 1 the regression
gate failed (a previously correct question fails, or a headline metric dropped
by more than --tolerance); 2 nothing could be scored: bad arguments, a bad gold
file (every bad line is named), a missing baseline, no index, an empty corpus.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

EXIT_OK, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2
DEFAULT_OUT = Path("eval/out")
DEFAULT_BASELINE = Path("eval/baseline.json")


def _tolerance(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1 (a drop in a 0..1 metric)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag eval", description="Score cited answers against a gold set (JSON lines).",
        epilog="exit codes: 0 ok, 1 regression gate failed, 2 could not run (bad arguments, gold file, "
               "baseline or index)",
    )
    parser.add_argument("--gold", required=True, metavar="FILE", help="gold questions, JSON lines")
    parser.add_argument("--corpus", metavar="DIR", help="ingest this folder into a fresh temporary index first")
    parser.add_argument("--index-dir", metavar="DIR", help="existing index (default $RAG_HOME or ./.rag); "
                        "ignored with --corpus")
    parser.add_argument("--out", metavar="DIR", type=Path, default=DEFAULT_OUT,
                        help=f"report folder (default {DEFAULT_OUT})")
    parser.add_argument("--mode", choices=["auto", "extractive", "llm"], help="answering mode (default $RAG_MODE or auto)")
    parser.add_argument("--k", type=int, metavar="N", help="chunks retrieved to answer (default $RAG_K or 5); "
                        "retrieval metrics use max(N, 5)")
    parser.add_argument("--baseline", metavar="FILE", type=Path, help="compare with this saved run; exit 1 on a regression")
    parser.add_argument("--update-baseline", action="store_true",
                        help=f"write this run as the baseline (to --baseline, default {DEFAULT_BASELINE})")
    parser.add_argument("--tolerance", type=_tolerance, default=0.0, metavar="X",
                        help="allowed drop of a headline metric before the gate fails (default 0)")
    parser.add_argument("--ablate", action="store_true",
                        help="also rerun with each named answer rule switched off and print what it is worth")
    parser.add_argument("--judge", action="store_true",
                        help="also score faithfulness with an LLM judge (needs an LLM; reported, never gated)")
    return parser


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def _progress(enabled: bool, description: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr, or None (not a TTY, or RAG_PROGRESS=0)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_stderr_console(), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _settings(args: argparse.Namespace, home: Path | None) -> Any:
    from rag.config import Settings
    from rag.errors import ConfigError

    overrides: dict[str, Any] = {"mode": args.mode, "k": args.k}
    if home is not None:  # --corpus: a private embedded index, never the configured server
        overrides.update(home=home, chroma_url="")
    else:
        overrides["home"] = args.index_dir
    settings = Settings.from_env().with_overrides(**overrides)
    if settings.resolved_mode() == "llm" and not settings.llm_configured:
        raise ConfigError("--mode llm needs an LLM: set OPENAI_API_KEY and/or OPENAI_BASE_URL")
    return settings


def _ingest(pipeline: Pipeline, corpus: str, show_progress: bool) -> None:
    from rag.errors import InputError

    if not Path(corpus).exists():
        raise InputError(f"corpus not found: {corpus}")
    with _progress(show_progress, "ingesting") as update:
        callback = (lambda done, total, _name: update(done, total)) if update else None
        report = pipeline.ingest([corpus], progress=callback)
    if not any(f.status in ("added", "replaced", "unchanged") for f in report.files):
        raise InputError(f"no documents could be ingested from {corpus} (.txt .md .html .pdf)")


def run(args: argparse.Namespace) -> int:
    """Load and check everything, run the gold set, write the reports, gate."""
    from rich.console import Console

    from eval.gate import compare, write_baseline
    from eval.gold_format import load_gold
    from eval.report import build_report, print_gate, print_summary, write_chart, write_json, write_markdown
    from eval.runner import run_gold
    from eval.scoring import MIN_RETRIEVAL_DEPTH, aggregate

    items = load_gold(args.gold)  # every line is checked before anything runs
    baseline = _baseline_for(args)
    console = Console()
    with ExitStack() as stack:
        home = None
        if args.corpus:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rag-eval-", ignore_cleanup_errors=True)))
        settings = _settings(args, home)
        from rag.pipeline import Pipeline

        pipeline = Pipeline(settings)
        show_progress = settings.progress and sys.stderr.isatty()
        if args.corpus:
            _ingest(pipeline, args.corpus, show_progress)
        with _progress(show_progress, "asking") as update:
            result = run_gold(pipeline, items, settings.k, progress=update)
        judge = _judge(args, settings, result)
        model_id = pipeline.embedder.model_id
        del pipeline
        ablations = _ablate(settings, items, result) if args.ablate else []
    gate = compare(baseline, aggregate(result.rows), {r.id: r.correct for r in result.rows}, args.tolerance) \
        if baseline else None
    run_info = {
        "gold": str(args.gold), "corpus": args.corpus, "index_dir": None if args.corpus else str(settings.home),
        "mode": settings.resolved_mode(), "k": settings.k,
        "retrieval_depth": max(settings.k, MIN_RETRIEVAL_DEPTH),
        "embedding_model": model_id, "baseline": str(args.baseline) if args.baseline else None,
    }
    report = build_report(result, run_info, judge, gate)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    files = [write_json(report, out / "report.json"), write_markdown(report, out / "report.md"),
             write_chart(report, out / "metrics.png")]
    print_summary(report, console, files)
    for line in ablations:
        console.print(line, markup=False)
    if gate:
        print_gate(gate, result.rows, console)
    if args.update_baseline:
        path = write_baseline(report, args.baseline or DEFAULT_BASELINE)
        note = " (the diff above did not gate this run)" if gate else ""
        console.print(f"baseline written: {path}{note}", markup=False)
        return EXIT_OK
    return gate.exit_code if gate else EXIT_OK


ABLATION_METRICS = ("answer_accuracy", "first_statement_accuracy", "short_answer_accuracy", "abstention_accuracy")


def _ablate(settings: Any, items: Any, result: Any) -> list[str]:
    """Rerun the gold set once per named answer rule switched off (same index): what each is worth."""
    from rag.answer.extractive import RULES
    from rag.pipeline import Pipeline

    from eval.report import fmt
    from eval.runner import run_gold
    from eval.scoring import aggregate

    full = aggregate(result.rows)
    lines = ["ablation (metric with the rule on -> off; positive delta: the rule pays):"]
    for rule in RULES:
        off = settings.with_overrides(answer_rules_off=tuple(settings.answer_rules_off) + (rule,))
        metrics = aggregate(run_gold(Pipeline(off), items, off.k).rows)
        parts = []
        for key in ABLATION_METRICS:
            on_value, off_value = full.get(key), metrics.get(key)
            delta = "" if on_value is None or off_value is None else f" ({on_value - off_value:+.3f})"
            parts.append(f"{key} {fmt(key, on_value)} -> {fmt(key, off_value)}{delta}")
        lines.append(f"  {rule}: " + "; ".join(parts))
    return lines


def _baseline_for(args: argparse.Namespace) -> Any:
    """The baseline to compare with: --baseline must exist, unless this run rewrites it
    (--update-baseline), in which case an existing one is only diffed, for information."""
    from rag.errors import InputError

    from eval.gate import load_baseline

    if not args.update_baseline:
        return load_baseline(args.baseline) if args.baseline else None
    path = args.baseline or DEFAULT_BASELINE
    try:
        return load_baseline(path) if path.exists() else None
    except InputError:
        return None  # about to be overwritten anyway


def _judge(args: argparse.Namespace, settings: Any, result: Any) -> dict[str, Any] | None:
    if not args.judge:
        return None
    if not settings.llm_configured:
        print("--judge skipped: no LLM configured (set OPENAI_API_KEY and/or OPENAI_BASE_URL)", file=sys.stderr)
        return None
    from eval.judge import judge_outcomes
    from rag.openai_client import make_client

    return judge_outcomes(result.outcomes, settings.llm_model, make_client(settings))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``rag eval ARGS`` and ``python -m eval``; returns the exit code."""
    from rag.offline import apply_offline_env

    apply_offline_env()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `rag eval -- --gold FILE`: the separator is not ours
        argv = argv[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    from rag.errors import RagError

    from eval.gold_format import GoldFormatError

    try:
        return run(args)
    except GoldFormatError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        print("error: the gold file is invalid; nothing was run", file=sys.stderr)
        return EXIT_ERROR
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
