"""`rag eval compare OLD/report.json NEW/report.json [--out DIR]`: what changed between two runs.

Prints, and writes as compare.md and a self-contained compare.html, the metric deltas (overall,
per question language, cross-lingual vs same language, and each gold set's when there are several)
and every question that flipped (right -> wrong, wrong -> right) with both answers and citations
side by side. Questions are matched by (set, id), or by id alone when both runs have one set.
Warns when the corpora or gold sets differ (their digests in report.json ``reproducibility`` /
``sets``). Exit 0, or 2 when a report cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from rag.errors import InputError

from eval.gate import read_json_file
from eval.scoring import METRIC_KEYS

DEFAULT_OUT = Path("eval/out/compare")
Key = tuple[str, str]  # (set, id)


@dataclass
class Comparison:
    old_path: str
    new_path: str
    deltas: dict[str, dict[str, dict[str, float | None]]]  # group -> metric -> old/new/delta
    broke: list[Key] = field(default_factory=list)  # right -> wrong
    fixed: list[Key] = field(default_factory=list)  # wrong -> right
    old_rows: dict[Key, dict[str, Any]] = field(default_factory=dict)
    new_rows: dict[Key, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old_path, "new": self.new_path, "deltas": self.deltas, "warnings": self.warnings,
                "right_to_wrong": [list(k) for k in self.broke], "wrong_to_right": [list(k) for k in self.fixed]}


def load_report(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    data = read_json_file(path, "report", f"no report at {path}")
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or "metrics" not in data:
        raise InputError(f"{path} is not a rag eval report.json (no metrics and rows)")
    return data


def _groups(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    groups: dict[str, Mapping[str, Any]] = {"all": report["metrics"]}
    groups.update({f"lang {k}": v for k, v in report.get("by_language", {}).items()})
    groups.update({k: v for k, v in report.get("by_crosslingual", {}).items()})
    sets = report.get("sets") or []
    if len(sets) > 1:
        groups.update({f"set {s['name']}": s["metrics"] for s in sets})
    return groups


def _delta(old: Any, new: Any) -> float | None:
    ok = all(isinstance(v, (int, float)) for v in (old, new))
    return new - old if ok else None


def _single(report: Mapping[str, Any]) -> bool:
    return len(report.get("sets") or []) <= 1


def _digests(report: Mapping[str, Any], by_set: bool) -> dict[str, tuple[Any, Any]]:
    """Set name ("" when sets are not told apart) -> (corpus digest, gold digest)."""
    sets = report.get("sets") or [{"name": "", **(report.get("reproducibility") or {})}]
    return {str(s.get("name", "")) if by_set else "": (s.get("corpus_digest"), s.get("gold_digest")) for s in sets}


def digest_warnings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    warnings: list[str] = []
    by_set = not (_single(old) and _single(new))
    before, after = _digests(old, by_set), _digests(new, by_set)
    for name in sorted(set(before) | set(after)):
        label = f"set {name}: " if name else ""
        if name not in before or name not in after:
            warnings.append(f"{label}only in the {'new' if name in after else 'old'} run")
            continue
        for i, what in enumerate(("corpora", "gold sets")):
            a, b = before[name][i], after[name][i]
            if a is None or b is None:
                warnings.append(f"{label}the {what} cannot be checked (a report without digests)")
            elif a != b:
                warnings.append(f"{label}the {what} differ ({a[:19]}... vs {b[:19]}...): the runs are not "
                                "measuring the same thing")
    return warnings


def _rows(report: Mapping[str, Any], by_set: bool) -> dict[Key, dict[str, Any]]:
    return {(str(r.get("set", "")) if by_set else "", str(r["id"])): r for r in report["rows"]}


def compare_reports(old: Mapping[str, Any], new: Mapping[str, Any], old_path: str = "old",
                    new_path: str = "new") -> Comparison:
    old_groups, new_groups = _groups(old), _groups(new)
    deltas = {g: {m: {"old": old_groups.get(g, {}).get(m), "new": new_groups.get(g, {}).get(m),
                      "delta": _delta(old_groups.get(g, {}).get(m), new_groups.get(g, {}).get(m))}
                  for m in METRIC_KEYS} for g in dict.fromkeys([*old_groups, *new_groups])}
    by_set = not (_single(old) and _single(new))  # two one-set runs: match by id, whatever the sets' names
    result = Comparison(old_path, new_path, deltas, old_rows=_rows(old, by_set), new_rows=_rows(new, by_set))
    for key, row in result.new_rows.items():
        before = result.old_rows.get(key)
        if before is None:
            continue
        if before["correct"] and not row["correct"]:
            result.broke.append(key)
        elif row["correct"] and not before["correct"]:
            result.fixed.append(key)
    result.warnings = digest_warnings(old, new)
    only_old = len(set(result.old_rows) - set(result.new_rows))
    only_new = len(set(result.new_rows) - set(result.old_rows))
    if only_old or only_new:
        result.warnings.append(f"{only_old} question(s) only in the old run, {only_new} only in the new one")
    return result


def cited(row: Mapping[str, Any]) -> list[str]:
    """'source: cited sentence' per citation (or just the sources, for older reports)."""
    passages = row.get("citation_passages")
    if passages:
        return [f"[{p.get('n')}] {p.get('source')}: {' '.join(str(p.get('text', '')).split())}" for p in passages]
    return [str(s) for s in row.get("cited_sources", [])]


def _md(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|").replace("`", "'")


def _fmt_delta(value: float | None, metric: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:+.0f} ms" if metric.startswith("latency") else f"{value:+.3f}"


def render_markdown(c: Comparison) -> str:
    from eval.report import fmt

    lines = ["# rag eval compare", "", f"Old `{_md(c.old_path)}`, new `{_md(c.new_path)}`.", ""]
    lines += [f"> warning: {_md(w)}" for w in c.warnings] + ([""] if c.warnings else [])
    groups = list(c.deltas)
    lines += ["## Metrics (old → new, delta)", "", "| metric | " + " | ".join(groups) + " |",
              "|---" * (len(groups) + 1) + "|"]
    for m in METRIC_KEYS:
        cells = [f"{fmt(m, c.deltas[g][m]['old'])} → {fmt(m, c.deltas[g][m]['new'])} "
                 f"({_fmt_delta(c.deltas[g][m]['delta'], m)})" for g in groups]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    for title, keys in (("Right → wrong", c.broke), ("Wrong → right", c.fixed)):
        lines += ["", f"## {title} ({len(keys)})", ""]
        if keys:
            lines += ["| question | old answer | old citations | new answer | new citations |", "|---|---|---|---|---|"]
        for key in keys:
            old, new = c.old_rows[key], c.new_rows[key]
            name = f"{key[0]}/{key[1]}" if key[0] else key[1]
            lines.append(f"| **{_md(name)}** ({_md(new['lang'])}) {_md(new['question'])} | {_md(old['answer'])} | "
                         f"{_md('; '.join(cited(old)))} | {_md(new['answer'])} | {_md('; '.join(cited(new)))} |")
        if not keys:
            lines.append("None.")
    return "\n".join(lines) + "\n"


def print_comparison(c: Comparison, console: Any, files: Sequence[Path]) -> None:
    from rich.table import Table

    from eval.report import fmt

    for warning in c.warnings:
        console.print(f"warning: {warning}", markup=False, soft_wrap=True)
    from eval.sweep import SHORT

    shown = tuple(SHORT)[:-1]  # the headline metrics and latency p50; the files have every metric
    table = Table(title="rag eval compare: new value, delta from old below",
                  caption=", ".join(f"{SHORT[m]}: {m}" for m in shown if SHORT[m] != m))
    table.add_column("group", no_wrap=True)
    for m in shown:
        table.add_column(SHORT[m], justify="right")
    for group, metrics in c.deltas.items():
        table.add_row(group, *(f"{fmt(m, metrics[m]['new'])}\n{_fmt_delta(metrics[m]['delta'], m)}" for m in shown))
    console.print(table)
    for title, keys in (("right -> wrong", c.broke), ("wrong -> right", c.fixed)):
        console.print(f"{title} ({len(keys)})" + (":" if keys else ""), markup=False)
        for key in keys:
            old, new = c.old_rows[key], c.new_rows[key]
            console.print(f"  {key[0] + '/' if key[0] else ''}{key[1]}: {new['question']}\n"
                          f"    old: {' '.join(str(old['answer']).split())[:200]}\n"
                          f"    new: {' '.join(str(new['answer']).split())[:200]}", markup=False, soft_wrap=True)
    console.print("compare: " + ", ".join(str(f) for f in files), markup=False, soft_wrap=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag eval compare",
                                     description="Compare two rag eval runs (report.json or its folder).")
    parser.add_argument("old", help="the earlier run's report.json")
    parser.add_argument("new", help="the later run's report.json")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"where compare.md, compare.html and compare.json go (default {DEFAULT_OUT})")
    return parser


def main(argv: Sequence[str]) -> int:
    from rich.console import Console

    from eval.html_report import write_compare_html

    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        result = compare_reports(load_report(args.old), load_report(args.new), args.old, args.new)
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        md = out / "compare.md"
        md.write_text(render_markdown(result), encoding="utf-8")
        js = out / "compare.json"
        js.write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        files = [md, write_compare_html(result, out / "compare.html"), js]
    except (InputError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_comparison(result, Console(), files)
    return 0
