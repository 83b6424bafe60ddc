"""Several gold sets in one run: naming the sets, one section per set, one combined report.

The combined report.json has the usual top-level metrics and breakdowns computed over every
question of every set (the combined headline), ``sets`` with one section per set (its own metrics,
breakdowns, failures, gate, digests), and ``rows`` from all sets, each tagged with its ``set``.
A single-set run has the same shape with one section.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from rag.errors import InputError

from eval.gold_format import GoldItem
from eval.runner import RunResult

SECTION_KEYS = ("metrics", "counts", "by_language", "by_crosslingual", "failures", "gate", "warnings")


@dataclass(frozen=True)
class GoldSet:
    name: str
    gold: Path
    corpus: str | None
    items: list[GoldItem]
    baseline: Path | None = None


def set_names(golds: Sequence[Path]) -> list[str]:
    """The gold file's stem (its folder's name for a file called gold.jsonl), made unique with -2, -3..."""
    names: list[str] = []
    for path in golds:
        base = path.parent.name if path.stem == "gold" and path.parent.name else path.stem
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def pair_corpora(golds: Sequence[Path], corpora: Sequence[str] | None) -> list[str | None]:
    """One corpus per gold file, in order; a single --corpus serves every gold file."""
    given: list[str | None] = list(corpora or [])
    if not given:
        return [None] * len(golds)
    if len(given) == 1:
        return given * len(golds)
    if len(given) != len(golds):
        raise InputError(f"{len(golds)} --gold files but {len(given)} --corpus folders: give one --corpus "
                         "per --gold (in the same order), or a single one for all")
    return given


def pair_baselines(golds: Sequence[Path], baselines: Sequence[Path] | None) -> list[Path | None]:
    given: list[Path | None] = list(baselines or [])
    if not given:
        return [None] * len(golds)
    if len(given) != len(golds):
        raise InputError(f"{len(golds)} --gold files but {len(given)} --baseline files: give one --baseline "
                         "per --gold, in the same order")
    return given


def tag_rows(report: dict[str, Any], name: str) -> None:
    for row in report["rows"]:
        row["set"] = name


def section(name: str, gold_set: GoldSet, report: Mapping[str, Any]) -> dict[str, Any]:
    """One set's part of the combined report (everything but its rows)."""
    repro = report.get("reproducibility") or {}
    return {"name": name, "gold": str(gold_set.gold), "corpus": gold_set.corpus or report["run"].get("index_dir"),
            "baseline": str(gold_set.baseline) if gold_set.baseline else None,
            "gold_digest": repro.get("gold_digest"), "corpus_digest": repro.get("corpus_digest"),
            **{key: report.get(key) for key in SECTION_KEYS}}


def merge_results(results: Sequence[tuple[str, RunResult]]) -> RunResult:
    """Every set's rows and outcomes as one result (for the combined headline and breakdowns)."""
    langs: dict[str, str] = {}
    for _, result in results:
        langs.update(result.document_langs)
    return RunResult(
        rows=[row for _, r in results for row in r.rows],
        outcomes=[outcome for _, r in results for outcome in r.outcomes],
        document_langs=langs,
        corpus_langs=sorted({lang for _, r in results for lang in r.corpus_langs}),
        sources=[s for _, r in results for s in r.sources],
        warnings=[f"{name}: {w}" if len(results) > 1 else w for name, r in results for w in r.warnings],
        seconds=sum(r.seconds for _, r in results),
    )
