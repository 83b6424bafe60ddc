"""Reports: report.json (the contract), report.md (for people), metrics.png, the console table."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from eval.gate import GateResult
from eval.runner import RunResult
from eval.scoring import METRIC_KEYS, Row, aggregate, breakdowns, counts

REPORT_KIND = "rag-eval-report"
CHART_METRICS = ("answer_accuracy", "abstention_accuracy", "citation_precision", "citation_recall", "hit@5", "mrr")
BREAKDOWN_TITLES = {"by_language": "By question language", "by_crosslingual": "Cross-lingual vs same language",
                    "by_document_language": "By document language", "by_source": "By gold source"}


# --- report.json ------------------------------------------------------------------


def build_report(result: RunResult, run: Mapping[str, Any], judge: Mapping[str, Any] | None = None,
                 gate: GateResult | None = None, repro: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything a run produced, as the report.json document."""
    groups = breakdowns(result.rows)
    report: dict[str, Any] = {
        "kind": REPORT_KIND,
        "schema": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": {**run, "seconds": round(result.seconds, 2)},
        "metrics": aggregate(result.rows),
        "counts": {"all": counts(result.rows)},
    }
    for name, buckets in groups.items():
        report[name] = {key: aggregate(rows) for key, rows in buckets.items()}
        report["counts"][name] = {key: counts(rows) for key, rows in buckets.items()}
    report["document_languages"] = dict(sorted(result.document_langs.items()))
    report["corpus_languages"] = result.corpus_langs
    report["warnings"] = list(result.warnings)
    report["judge"] = dict(judge) if judge is not None else None
    report["gate"] = gate.to_json() if gate is not None else None
    report["rows"] = [row.to_json() for row in result.rows]
    _add_failures_and_passages(report, result)
    if repro is not None:
        report["reproducibility"] = dict(repro)
    return report


def _add_failures_and_passages(report: dict[str, Any], result: RunResult) -> None:
    """Each row's failure category and cited passages (for report.html); the counts per language."""
    from eval.failures import failure_category, failure_counts

    for row, outcome in zip(report["rows"], result.outcomes):
        row["failure"] = failure_category(row)
        row["citation_passages"] = list(getattr(outcome, "citations", []))
    report["failures"] = failure_counts(report["rows"])


def write_json(report: Mapping[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


# --- formatting -------------------------------------------------------------------


def fmt(name: str, value: Any) -> str:
    """A metric value for people: ratios to 3 places, latencies in ms, missing as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if name == "unsupported_claims":
        return str(value)
    if name.startswith("latency"):
        return f"{value:.0f} ms"
    return f"{value:.3f}"


def _md(text: Any) -> str:
    """Text safe inside a Markdown table cell or list item."""
    return " ".join(str(text).split()).replace("|", "\\|").replace("`", "'")


def _metric_table(columns: Mapping[str, Mapping[str, Any]], counts_by: Mapping[str, Mapping[str, int]]) -> list[str]:
    names = list(columns)
    lines = ["| metric | " + " | ".join(_md(n) for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    lines.append("| questions | " + " | ".join(str(counts_by.get(n, {}).get("questions", "")) for n in names) + " |")
    for key in METRIC_KEYS:
        lines.append(f"| {key} | " + " | ".join(fmt(key, columns[n].get(key)) for n in names) + " |")
    return lines


def _expected(row: Mapping[str, Any]) -> str:
    if row["unanswerable"]:
        return "abstain (unanswerable)"
    joined = ", ".join(f"`{_md(a)}`" for a in row["expected"])
    return f"{joined} (match {row['match']})"


def _got(row: Mapping[str, Any]) -> str:
    if row.get("error"):
        return f"error: {_md(row['error'])}"
    text = _md(row["answer"]) or "(empty)"
    return f"(abstained) {text}" if row["abstained"] else text


def _failure(row: Mapping[str, Any]) -> list[str]:
    crosslingual: Any = row.get("crosslingual")  # True, False or None
    cross = {True: ", cross-lingual", False: ", same language"}.get(crosslingual, "")
    rank = row.get("retrieval_rank")
    lines = [
        f"### {_md(row['id'])} ({row['lang']}{cross})",
        "",
        f"- **Question:** {_md(row['question'])}",
        f"- **Expected:** {_expected(row)}",
        f"- **Got:** {_got(row)}",
        f"- **Cited sources:** {', '.join(_md(s) for s in row['cited_sources']) or 'none'}",
    ]
    if not row["unanswerable"]:
        lines.append(f"- **Gold sources:** {', '.join(_md(s) for s in row['sources'])}; "
                     f"retrieval rank: {rank if rank is not None else 'not retrieved'}")
    return lines + [""]


def render_markdown(report: Mapping[str, Any]) -> str:
    run, all_counts = report["run"], report["counts"]["all"]
    lines = [
        "# rag eval report",
        "",
        f"Gold `{_md(run.get('gold'))}` over {_md(run.get('corpus') or run.get('index_dir'))}; "
        f"mode {run.get('mode')}, k={run.get('k')} (retrieval depth {run.get('retrieval_depth')}), "
        f"{run.get('embedding_model', '')}; {report['created']}.",
        "",
        f"{all_counts['questions']} questions ({all_counts['answerable']} answerable, "
        f"{all_counts['unanswerable']} unanswerable): {all_counts['correct']} correct, "
        f"{all_counts['questions'] - all_counts['correct']} failing.",
        "",
        "## Headline",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {key} | {fmt(key, report['metrics'].get(key))} |" for key in METRIC_KEYS),
        "",
    ]
    for name, title in BREAKDOWN_TITLES.items():
        if report.get(name):
            lines += [f"## {title}", "", *_metric_table(report[name], report["counts"][name]), ""]
    if report.get("warnings"):
        lines += ["## Warnings", "", *(f"- {_md(w)}" for w in report["warnings"]), ""]
    lines += _extra_sections(report)
    lines += _judge_section(report.get("judge")) + _gate_section(report.get("gate"))
    failures = [row for row in report["rows"] if not row["correct"]]
    lines += [f"## Failures ({len(failures)})", ""]
    for row in failures:
        lines += _failure(row)
    if not failures:
        lines += ["None.", ""]
    return "\n".join(lines)


def _extra_sections(report: Mapping[str, Any]) -> list[str]:
    """Failure categories, the gold sets (several in one run), reproducibility."""
    from eval.failures import failure_table

    lines: list[str] = []
    if report.get("failures"):
        lines += ["## Failure categories", "", *failure_table(report["failures"]), ""]
    sets = report.get("sets") or []
    if len(sets) > 1:
        for section in sets:
            lines += [f"## Set {_md(section['name'])}: `{_md(section['gold'])}` over {_md(section['corpus'])}", "",
                      *_metric_table({"all": section["metrics"], **section["by_language"],
                                      **section["by_crosslingual"]},
                                     {"all": section["counts"]["all"], **section["counts"]["by_language"],
                                      **section["counts"]["by_crosslingual"]}), ""]
            if section.get("failures"):
                lines += [*failure_table(section["failures"]), ""]
            lines += _gate_section(section.get("gate"))
    repro = report.get("reproducibility")
    if repro:
        dirty = " (with uncommitted changes)" if repro.get("git_dirty") else ""
        lines += ["## Reproducibility", "", f"- version {_md(repro.get('version'))}, git commit "
                  f"{_md(repro.get('git_commit') or 'unknown')}{dirty}, "
                  f"embedding model {_md(repro.get('embedding_model'))}"]
        for section in sets or [{"name": "", **repro}]:
            lines.append(f"- {_md(section.get('name') or 'gold')}: gold {_md(section.get('gold_digest'))}, "
                         f"corpus {_md(section.get('corpus_digest') or 'an existing index')}")
        lines.append("")
    return lines


def _judge_section(judge: Mapping[str, Any] | None) -> list[str]:
    if not judge:
        return []
    return ["## LLM judge (not gated)", "",
            f"judge_faithfulness: {fmt('judge', judge.get('judge_faithfulness'))} over {judge.get('judged')} "
            f"answers ({judge.get('unjudged')} unjudged), judge model {_md(judge.get('model'))}.", ""]


def _gate_section(gate: Mapping[str, Any] | None) -> list[str]:
    if not gate:
        return []
    lines = ["## Regression gate", "", f"**{'PASSED' if gate['passed'] else 'FAILED'}** "
             f"(tolerance {gate['tolerance']}).", "", "| metric | baseline | current | delta |", "|---|---|---|---|"]
    for name, m in gate["metrics"].items():
        delta = m["delta"]
        lines.append(f"| {name} | {fmt(name, m['baseline'])} | {fmt(name, m['current'])} | "
                     f"{'–' if delta is None else f'{delta:+.3f}'} |")
    for key, title in (("newly_failing", "Newly failing"), ("newly_passing", "Newly passing"),
                       ("borderline", "Borderline (within e5's float noise, gated on the baseline's side)"),
                       ("new_questions", "New questions"), ("missing_questions", "Gone from the gold set")):
        if gate.get(key):
            lines += ["", f"{title}: " + ", ".join(_md(q) for q in gate[key])]
    return lines + [""]


def write_markdown(report: Mapping[str, Any], path: Path) -> Path:
    path.write_text(render_markdown(report), encoding="utf-8")
    return path


# --- metrics.png ------------------------------------------------------------------


def write_chart(report: Mapping[str, Any], path: Path) -> Path:
    """Grouped bars: the ratio metrics, overall and per question language (Agg, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups = {"all": report["metrics"], **report["by_language"]}
    names = list(groups)
    width = 0.8 / len(CHART_METRICS)
    figure = Figure(figsize=(max(6.0, 1.6 * len(names) + 3), 4.2), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for i, metric in enumerate(CHART_METRICS):
        values = [groups[g].get(metric) for g in names]
        xs = [j + (i - (len(CHART_METRICS) - 1) / 2) * width for j in range(len(names))]
        axes.bar(xs, [math.nan if v is None else v for v in values], width, label=metric)
    axes.set_xticks(range(len(names)))
    sizes = {"all": report["counts"]["all"], **report["counts"]["by_language"]}
    axes.set_xticklabels([f"{g}\n(n={sizes[g]['questions']})" for g in names])
    title = f"rag eval by question language (mode {report['run'].get('mode')}, k={report['run'].get('k')})"
    return save_score_chart(figure, axes, title, path, legend_columns=3, legend_y=-0.42)


def save_score_chart(figure: Any, axes: Any, title: str, path: Path, legend_columns: int, legend_y: float) -> Path:
    """The common finish of eval's charts: a 0..1 score axis, a title, the legend below, PNG."""
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("score")
    axes.set_title(title)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=7, ncol=legend_columns, loc="lower center", bbox_to_anchor=(0.5, legend_y))
    figure.tight_layout()
    figure.savefig(path, format="png", bbox_inches="tight")
    return path


# --- console ----------------------------------------------------------------------


def console_tables(report: Mapping[str, Any]) -> list[Any]:
    """Rich renderables: metrics by column (all, languages, cross/same)."""
    from rich.table import Table

    columns: dict[str, Mapping[str, Any]] = {"all": report["metrics"], **report["by_language"]}
    column_counts = {"all": report["counts"]["all"], **report["counts"]["by_language"]}
    for key, value in report["by_crosslingual"].items():
        columns[key] = value
        column_counts[key] = report["counts"]["by_crosslingual"][key]
    for key, value in report.get("by_document_language", {}).items():
        columns[f"doc {key}"] = value
        column_counts[f"doc {key}"] = report["counts"]["by_document_language"][key]
    n = report["counts"]["all"]
    table = Table(title=f"rag eval: {n['questions']} questions, {n['correct']} correct "
                        f"(mode {report['run'].get('mode')}, k={report['run'].get('k')})")
    table.add_column("metric", no_wrap=True)
    for name in columns:
        table.add_column(name, justify="right")
    table.add_row("questions", *(str(column_counts[c]["questions"]) for c in columns))
    for key in METRIC_KEYS:
        table.add_row(key, *(fmt(key, columns[c].get(key)) for c in columns))
    return [table]


def print_summary(report: Mapping[str, Any], console: Any, files: Sequence[Path]) -> None:
    for renderable in console_tables(report):
        console.print(renderable)
    judge = report.get("judge")
    if judge:
        console.print(f"judge_faithfulness (LLM judge, not gated): {fmt('judge', judge.get('judge_faithfulness'))}")
    for warning in report.get("warnings", []):
        console.print(f"warning: {warning}", markup=False)
    console.print("reports: " + ", ".join(str(f) for f in files), markup=False, soft_wrap=True)


def print_gate(gate: GateResult, rows: Sequence[Row], console: Any) -> None:
    """Newly failing / newly passing questions and metric drops, then the verdict."""
    questions = {row.id: row.question for row in rows}
    for title, ids in (("newly failing", gate.newly_failing), ("newly passing", gate.newly_passing)):
        console.print(f"{title} ({len(ids)}):" if ids else f"{title}: none", markup=False)
        for qid in ids:
            console.print(f"  {qid}: {questions.get(qid, '')}", markup=False, soft_wrap=True)
    if gate.borderline:
        console.print(f"borderline (a query nudged within e5's float noise restores the baseline's verdict; "
                      f"gated on that side, see eval/borderline.py) ({len(gate.borderline)}):", markup=False)
        for qid in gate.borderline:
            console.print(f"  {qid}: {questions.get(qid, '')}", markup=False, soft_wrap=True)
    for name in gate.metric_drops:
        m = gate.metrics[name]
        console.print(f"metric drop: {name} {fmt(name, m['baseline'])} -> {fmt(name, m['current'])} "
                      f"(tolerance {gate.tolerance})", markup=False)
    if gate.new_questions:
        console.print(f"new questions (not in the baseline): {len(gate.new_questions)}", markup=False)
    if gate.missing_questions:
        console.print(f"gone from the gold set: {', '.join(gate.missing_questions)}", markup=False, soft_wrap=True)
    console.print(f"regression gate: {'PASSED' if gate.passed else 'FAILED'}", markup=False)
