"""`rag eval --sweep NAME=V1,V2,...`: one run per value of a Settings field, one table, one chart.

Values are typed after the field's default (int, float, bool, text; a tuple field takes values
joined with "+", and "none" for empty). A field that changes what is ingested (eval.session.
INGEST_FIELDS, e.g. chunk_tokens) gets a fresh temporary index per value; others (k, mode...)
share one. Writes each value's full reports under ``OUT/sweep/NAME=VALUE/`` and, in ``OUT``,
sweep.json, sweep.md and sweep.png (headline metrics against the values, latency on a second axis).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from rag.errors import InputError

SWEEP_METRICS = ("answer_accuracy", "abstention_accuracy", "citation_precision", "citation_recall", "hit@5", "mrr")
LATENCY_METRICS = ("latency_ms_p50", "latency_ms_p95")
# Console headers short enough for an 80-column terminal (the files keep the full names).
SHORT = {"answer_accuracy": "answer", "abstention_accuracy": "abstain", "citation_precision": "cite P",
         "citation_recall": "cite R", "hit@5": "hit@5", "mrr": "mrr", "latency_ms_p50": "p50", "latency_ms_p95": "p95"}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
NOT_SWEEPABLE = ("home", "chroma_url", "fault_at", "progress")


def _field(name: str) -> dataclasses.Field[Any]:
    from rag.config import Settings

    fields = {f.name: f for f in dataclasses.fields(Settings)}
    key = name.strip().lower().replace("-", "_")
    if key not in fields or not fields[key].repr or key in NOT_SWEEPABLE:
        choices = ", ".join(n for n, f in fields.items() if f.repr and n not in NOT_SWEEPABLE)
        raise InputError(f"--sweep: no setting {name!r} to sweep (one of: {choices})")
    return fields[key]


def _typed(raw: str, default: Any, name: str) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError
            return raw.lower() in _TRUE
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise InputError(f"--sweep {name}: {raw!r} is not a {type(default).__name__}") from None
    if isinstance(default, tuple):
        return () if raw.lower() == "none" else tuple(v for v in raw.split("+") if v)
    return raw


def parse_sweep(spec: str) -> tuple[str, list[Any]]:
    """"k=3,5,8" -> ("k", [3, 5, 8]); every value is checked by Settings before anything runs."""
    from rag.config import Settings

    name, sep, raw = spec.partition("=")
    if not sep or not raw.strip():
        raise InputError(f"--sweep wants NAME=V1,V2,... (e.g. k=3,5,8), not {spec!r}")
    field = _field(name)
    default = getattr(Settings(), field.name)
    values = [_typed(v.strip(), default, field.name) for v in raw.split(",") if v.strip()]
    if len(set(map(repr, values))) != len(values):
        raise InputError(f"--sweep {field.name}: a value is repeated")
    for value in values:
        Settings().with_overrides(**{field.name: value})  # a ConfigError names a bad value now
    return field.name, values


def label(value: Any) -> str:
    return "+".join(value) or "none" if isinstance(value, tuple) else str(value)


def sweep_rows(name: str, values: Sequence[Any], reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{name: label(v), "questions": r["counts"]["all"]["questions"], "correct": r["counts"]["all"]["correct"],
             **{m: r["metrics"].get(m) for m in (*SWEEP_METRICS, *LATENCY_METRICS)},
             "seconds": r["run"].get("seconds")} for v, r in zip(values, reports)]


def render_markdown(name: str, rows: Sequence[Mapping[str, Any]]) -> str:
    from eval.report import fmt

    columns = [name, *SWEEP_METRICS, *LATENCY_METRICS]
    lines = [f"# rag eval sweep over {name}", "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for row in rows:
        lines.append(f"| {row[name]} | " + " | ".join(fmt(m, row[m]) for m in columns[1:]) + " |")
    return "\n".join(lines + ["", f"Each value's full report: sweep/{name}=VALUE/report.html.", ""])


def write_chart(name: str, rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Headline metrics against the values (lines), latency p50 on a second axis (bars)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.2), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    xs = list(range(len(rows)))
    latency = axes.twinx()
    latency.bar(xs, [math.nan if r["latency_ms_p50"] is None else r["latency_ms_p50"] for r in rows], 0.5,
                color="#d0d7de", label="latency p50 (ms)")
    latency.set_ylabel("latency p50 (ms)")
    axes.set_zorder(latency.get_zorder() + 1)
    axes.patch.set_visible(False)
    for metric in SWEEP_METRICS:
        axes.plot(xs, [math.nan if r[metric] is None else r[metric] for r in rows], marker="o", label=metric)
    axes.set_xticks(xs)
    axes.set_xticklabels([str(r[name]) for r in rows])
    axes.set_xlabel(name)
    from eval.report import save_score_chart

    return save_score_chart(figure, axes, f"rag eval sweep over {name}", path, legend_columns=4, legend_y=-0.38)


def write_sweep(name: str, rows: Sequence[Mapping[str, Any]], reports: Sequence[Mapping[str, Any]],
                out: Path) -> list[Path]:
    from eval.session import write_reports

    out.mkdir(parents=True, exist_ok=True)
    for row, report in zip(rows, reports):
        write_reports(report, out / "sweep" / f"{name}={row[name]}")
    doc = {"kind": "rag-eval-sweep", "schema": 1, "setting": name, "rows": list(rows),
           "reproducibility": reports[0].get("reproducibility") if reports else None}
    json_path = out / "sweep.json"
    json_path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    md_path = out / "sweep.md"
    md_path.write_text(render_markdown(name, rows), encoding="utf-8")
    return [json_path, md_path, write_chart(name, rows, out / "sweep.png")]


def print_sweep(name: str, rows: Sequence[Mapping[str, Any]], console: Any, files: Sequence[Path]) -> None:
    from rich.table import Table

    from eval.report import fmt

    table = Table(title=f"rag eval sweep over {name}")
    table.caption = ", ".join(f"{SHORT[m]}: {m}" for m in (*SWEEP_METRICS, *LATENCY_METRICS) if SHORT[m] != m)
    for column in (name, *SWEEP_METRICS, *LATENCY_METRICS):
        table.add_column(SHORT.get(column, column), justify="right")
    for row in rows:
        table.add_row(str(row[name]), *(fmt(m, row[m]) for m in (*SWEEP_METRICS, *LATENCY_METRICS)))
    console.print(table)
    console.print("sweep: " + ", ".join(str(f) for f in files), markup=False, soft_wrap=True)
