"""One `rag eval` run over one or several gold sets: indexes, asking, per-set and combined reports.

The shell (eval/cli.py) parses arguments; this module runs them. Each --corpus is ingested into a
temporary embedded index, once per (corpus, ingest settings): two sets over the same corpus, or a
sweep over a setting that does not affect ingest (k, mode...), share one index.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from eval.multiset import GoldSet

# Settings fields that change what ingest writes: a sweep over one of them re-ingests per value.
INGEST_FIELDS = ("chunk_tokens", "chunk_overlap_tokens", "embed", "openai_embed_model", "max_file_mb",
                 "collection")

SettingsFor = Callable[[argparse.Namespace, "Path | None", Mapping[str, Any]], Any]
Ingest = Callable[[Any, str, bool], None]


class Indexes:
    """Temporary index folders, one per (corpus, ingest-affecting settings), removed with the stack."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._homes: dict[tuple[Any, ...], Path] = {}

    def home_for(self, corpus: str, settings: Any) -> tuple[Path, bool]:
        """(folder, whether it still has to be ingested)."""
        key = (str(Path(corpus).resolve()), *(getattr(settings, f) for f in INGEST_FIELDS))
        if key in self._homes:
            return self._homes[key], False
        home = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="rag-eval-",
                                                                          ignore_cleanup_errors=True)))
        self._homes[key] = home
        return home, True


@dataclass
class SetRun:
    gold_set: GoldSet
    report: dict[str, Any]
    result: Any
    gate: Any = None
    ablations: list[str] = field(default_factory=list)


@dataclass
class Hooks:
    """What the shell lends the session (so cli.py keeps settings, ingest, judge and ablation)."""

    settings_for: SettingsFor
    ingest: Ingest
    judge: Callable[[argparse.Namespace, Any, Any], Any]
    ablate: Callable[[Any, Any, Any], list[str]]


def _pipeline_for(args: argparse.Namespace, gold_set: GoldSet, overrides: Mapping[str, Any], indexes: Indexes,
                  hooks: Hooks) -> tuple[Any, Any]:
    from rag.pipeline import Pipeline

    settings = hooks.settings_for(args, None, overrides)
    if not gold_set.corpus:
        return settings, Pipeline(settings)
    home, fresh = indexes.home_for(gold_set.corpus, settings)  # the ingest fields, before the home is set
    settings = hooks.settings_for(args, home, overrides)
    pipeline = Pipeline(settings)
    if fresh:
        hooks.ingest(pipeline, gold_set.corpus, settings.progress and sys.stderr.isatty())
    return settings, pipeline


def run_set(args: argparse.Namespace, gold_set: GoldSet, overrides: Mapping[str, Any], indexes: Indexes,
            hooks: Hooks, baseline: Any) -> SetRun:
    """Ask one gold set, score it, gate it: its full report (rows tagged with the set's name)."""
    from eval.cli import _progress
    from eval.borderline import reask_with
    from eval.gate import gate_rows
    from eval.multiset import tag_rows
    from eval.repro import reproducibility
    from eval.report import build_report
    from eval.runner import run_gold
    from eval.scoring import MIN_RETRIEVAL_DEPTH

    settings, pipeline = _pipeline_for(args, gold_set, overrides, indexes, hooks)
    with _progress(settings.progress and sys.stderr.isatty(), f"asking ({gold_set.name})") as update:
        result = run_gold(pipeline, gold_set.items, settings.k, progress=update)
    judge = hooks.judge(args, settings, result)
    model_id = pipeline.embedder.model_id
    gate = gate_rows(baseline, result.rows, args.tolerance, reask_with(pipeline, gold_set.items, settings.k)) \
        if baseline else None
    del pipeline
    ablations = hooks.ablate(settings, gold_set.items, result) if args.ablate else []
    run_info = {
        "gold": str(gold_set.gold), "corpus": gold_set.corpus,
        "index_dir": None if gold_set.corpus else str(settings.home),
        "mode": settings.resolved_mode(), "k": settings.k, "retrieval_depth": max(settings.k, MIN_RETRIEVAL_DEPTH),
        "embedding_model": model_id, "baseline": str(gold_set.baseline) if gold_set.baseline else None,
    }
    repro = reproducibility(settings, gold_set.gold, gold_set.corpus, model_id)
    report = build_report(result, run_info, judge, gate, repro)
    tag_rows(report, gold_set.name)
    return SetRun(gold_set, report, result, gate, ablations)


def combine(runs: Sequence[SetRun]) -> dict[str, Any]:
    """The report of the whole run: one set's report as is, or the combined headline over several."""
    from eval.multiset import merge_results, section
    from eval.report import build_report

    sections = [section(r.gold_set.name, r.gold_set, r.report) for r in runs]
    if len(runs) == 1:
        return {**runs[0].report, "sets": sections}
    first = runs[0].report
    run_info = {**first["run"], "gold": " + ".join(str(r.gold_set.gold) for r in runs),
                "corpus": " + ".join(str(r.gold_set.corpus or r.report["run"].get("index_dir")) for r in runs),
                "index_dir": None, "baseline": None, "sets": [r.gold_set.name for r in runs]}
    repro = {**first.get("reproducibility", {}), "corpus_digest": None, "gold_digest": None}
    report = build_report(merge_results([(r.gold_set.name, r.result) for r in runs]), run_info, None, None, repro)
    names = [r.gold_set.name for r in runs for _ in r.result.rows]
    for row, name in zip(report["rows"], names):
        row["set"] = name
    report["sets"] = sections
    return report


def run_all(args: argparse.Namespace, sets: Sequence[GoldSet], baselines: Sequence[Any],
            overrides: Mapping[str, Any], indexes: Indexes, hooks: Hooks) -> tuple[dict[str, Any], list[SetRun]]:
    runs = [run_set(args, s, overrides, indexes, hooks, b) for s, b in zip(sets, baselines)]
    return combine(runs), runs


def write_reports(report: Mapping[str, Any], out: Path) -> list[Path]:
    """report.json, report.md, metrics.png and report.html (which embeds the chart) into ``out``."""
    from eval.html_report import write_html
    from eval.report import write_chart, write_json, write_markdown

    out.mkdir(parents=True, exist_ok=True)
    chart = write_chart(report, out / "metrics.png")
    return [write_json(report, out / "report.json"), write_markdown(report, out / "report.md"), chart,
            write_html(report, out / "report.html", charts=[chart])]
