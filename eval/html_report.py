"""report.html: one self-contained page to click through a run.

No outside request: CSS and JS are inline, charts are data: URIs, and a Content-Security-Policy
forbids anything else (even if a document's text tried). Every piece of text from questions,
answers and documents is escaped (they are untrusted).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from eval.failures import CATEGORIES
from eval.report import METRIC_KEYS, fmt

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "form-action 'none'; base-uri 'none'")
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #d0d7de;padding:.2rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:1.6rem}
details.q{border:1px solid #d0d7de;border-radius:6px;margin:.3rem 0;padding:.3rem .6rem}
details.q.ok{border-left:5px solid #2da44e}details.q.bad{border-left:5px solid #cf222e}
summary{cursor:pointer}.tag{font-size:.8em;background:#eaeef2;border-radius:4px;padding:0 .35rem;margin-right:.3rem}
.passage{white-space:pre-wrap;background:#f6f8fa;border-radius:4px;padding:.4rem;margin:.3rem 0}
mark{background:#fff1a8}dt{font-weight:600}dd{margin:0 0 .4rem 1rem}img{max-width:100%}
.meta{color:#57606a;font-size:.9em}
"""
SCRIPT = """
function setAll(open){document.querySelectorAll('details.q').forEach(d=>{d.open=open;});}
function onlyFailing(on){document.querySelectorAll('details.q.ok').forEach(d=>{d.hidden=on;});}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def metrics_table(part: Mapping[str, Any]) -> str:
    """Metrics as rows; all, each question language and cross/same as columns."""
    columns = {"all": part["metrics"], **part.get("by_language", {}), **part.get("by_crosslingual", {})}
    sizes = {"all": part["counts"]["all"], **part["counts"].get("by_language", {}),
             **part["counts"].get("by_crosslingual", {})}
    rows = [["questions", *(sizes.get(c, {}).get("questions", "") for c in columns)]]
    rows += [[key, *(fmt(key, columns[c].get(key)) for c in columns)] for key in METRIC_KEYS]
    return _table(["metric", *columns], rows)


def failures_table(failures: Mapping[str, Any] | None) -> str:
    if not failures:
        return ""
    columns = {"all": failures["all"], **failures["by_language"]}
    return _table(["failure", *columns], ([c, *(col.get(c, 0) for col in columns.values())] for c in CATEGORIES))


def highlighted(passage: Mapping[str, Any]) -> str:
    """The cited chunk, escaped, with the cited sentence in <mark>."""
    chunk, cited = str(passage.get("chunk_text") or ""), str(passage.get("text") or "")
    start = int(passage.get("start", 0)) - int(passage.get("chunk_start", 0))
    if not (0 <= start and chunk[start:start + len(cited)] == cited):
        start = chunk.find(cited) if cited else -1
    if start < 0:
        return f"<mark>{esc(cited)}</mark>"
    end = start + len(cited)
    return f"{esc(chunk[:start])}<mark>{esc(chunk[start:end])}</mark>{esc(chunk[end:])}"


def _expected(row: Mapping[str, Any]) -> str:
    if row["unanswerable"]:
        return "abstain (unanswerable)"
    return " | ".join(row["expected"]) + f"  (match {row['match']})"


def question_row(row: Mapping[str, Any]) -> str:
    """One question as an expandable <details> row."""
    verdict, css = ("right", "ok") if row["correct"] else ("wrong", "bad")
    rank = row.get("retrieval_rank")
    tags = [row.get("set"), row["lang"], verdict, row.get("failure")]
    summary = "".join(f'<span class="tag">{esc(t)}</span>' for t in tags if t) + esc(row["question"])
    got = "error: " + str(row["error"]) if row.get("error") else ("(abstained) " if row["abstained"] else "")
    fields = [("Question", esc(row["question"])), ("Language", esc(row["lang"])), ("Expected", esc(_expected(row))),
              ("Short answer", esc(row.get("short_answer") or "–")), ("Full answer", esc(got + str(row["answer"]))),
              ("Gold sources", esc(", ".join(row.get("sources", [])) or "–")),
              ("Gold passage retrieval rank", esc(rank if rank is not None else "not retrieved")
               if not row["unanswerable"] else "–"),
              ("Failure category", esc(row.get("failure") or "none (right)"))]
    passages = "".join(f'<div class="passage" data-source="{esc(p.get("source"))}"><b>[{esc(p.get("n"))}] '
                       f'{esc(p.get("title") or p.get("source"))}</b> <span class="meta">{esc(p.get("source"))}'
                       f'</span>\n{highlighted(p)}</div>' for p in row.get("citation_passages", []))
    body = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in fields)
    body += f"<dt>Cited passages</dt><dd>{passages or 'none'}</dd>"
    return (f'<details class="q {css}" id="q-{esc(row.get("set", ""))}-{esc(row["id"])}" '
            f'data-failure="{esc(row.get("failure") or "")}"><summary><b>{esc(row["id"])}</b> {summary}'
            f"</summary><dl>{body}</dl></details>")


def _sets(report: Mapping[str, Any]) -> str:
    sets = report.get("sets") or []
    if len(sets) < 2:
        return ""
    parts = []
    for part in sets:
        gate = part.get("gate")
        verdict = "" if not gate else f"<p>regression gate: <b>{'PASSED' if gate['passed'] else 'FAILED'}</b></p>"
        parts.append(f"<h2>Set {esc(part['name'])}</h2><p class=meta>{esc(part['gold'])} over "
                     f"{esc(part['corpus'])}</p>{metrics_table(part)}{failures_table(part.get('failures'))}{verdict}")
    return "".join(parts)


def render_html(report: Mapping[str, Any], charts: Sequence[Path] = ()) -> str:
    run, repro = report["run"], report.get("reproducibility") or {}
    n = report["counts"]["all"]
    images = "".join(f'<img alt="{esc(p.name)}" src="{data_uri(p)}">' for p in charts)
    rows = "".join(question_row(r) for r in report["rows"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rag eval report</title><style>{STYLE}</style><script>{SCRIPT}</script></head><body>
<h1>rag eval report</h1>
<p class="meta">Gold {esc(run.get('gold'))} over {esc(run.get('corpus') or run.get('index_dir'))}; mode
{esc(run.get('mode'))}, k={esc(run.get('k'))}; {esc(run.get('embedding_model'))}; {esc(report.get('created'))};
version {esc(repro.get('version'))}, commit {esc(repro.get('git_commit') or 'unknown')}.</p>
<p>{esc(n['questions'])} questions ({esc(n['answerable'])} answerable, {esc(n['unanswerable'])} unanswerable):
{esc(n['correct'])} right, {esc(n['questions'] - n['correct'])} wrong.</p>
<h2>Headline</h2>{metrics_table(report)}
<h2>Failure categories</h2>{failures_table(report.get('failures'))}
{_sets(report)}
<h2>Charts</h2>{images or '<p>none</p>'}
<h2>Questions</h2>
<p><button type="button" id="expand-all" onclick="setAll(true)">expand all</button>
<button type="button" id="collapse-all" onclick="setAll(false)">collapse all</button>
<label><input type="checkbox" id="only-failing" onchange="onlyFailing(this.checked)"> only wrong</label></p>
{rows}
</body></html>
"""


def write_html(report: Mapping[str, Any], path: Path, charts: Sequence[Path] = ()) -> Path:
    path.write_text(render_html(report, charts), encoding="utf-8")
    return path


# --- compare.html -----------------------------------------------------------------


def _side(row: Mapping[str, Any]) -> str:
    passages = "".join(f'<div class="passage"><b>[{esc(p.get("n"))}] {esc(p.get("source"))}</b>\n'
                       f"{highlighted(p)}</div>" for p in row.get("citation_passages", []))
    if not passages:
        passages = esc(", ".join(row.get("cited_sources", [])) or "no citations")
    state = ("right" if row["correct"] else "wrong") + (f", {row['failure']}" if row.get("failure") else "")
    return (f"<td><p><b>{esc(state)}</b> <span class=meta>expected {esc(_expected(row))}</span></p>"
            f"<p>{esc(row['answer'])}</p>"
            f"<details><summary>citations</summary>{passages}</details></td>")


def _signed(metric: str, delta: float) -> str:
    return f"{delta:+.0f} ms" if metric.startswith("latency") else f"{delta:+.3f}"


def render_compare_html(c: Any) -> str:
    """The deltas table and each flipped question, old and new side by side (c: eval.compare.Comparison)."""
    groups = list(c.deltas)
    deltas = _table(["metric", *groups], ([m, *(
        f"{fmt(m, c.deltas[g][m]['old'])} → {fmt(m, c.deltas[g][m]['new'])}"
        + ("" if c.deltas[g][m]["delta"] is None else f" ({_signed(m, c.deltas[g][m]['delta'])})") for g in groups)]
        for m in METRIC_KEYS))
    warnings = "".join(f"<p><b>warning:</b> {esc(w)}</p>" for w in c.warnings)
    sections = []
    for title, keys in (("Right → wrong", c.broke), ("Wrong → right", c.fixed)):
        rows = "".join(
            f'<tr class="flip"><td><b>{esc(k[0] + "/" if k[0] else "")}{esc(k[1])}</b> ({esc(c.new_rows[k]["lang"])})'
            f"<br>{esc(c.new_rows[k]['question'])}</td>{_side(c.old_rows[k])}{_side(c.new_rows[k])}</tr>"
            for k in keys)
        sections.append(f"<h2>{title} ({len(keys)})</h2>" + (
            f"<table class=side><thead><tr><th>question</th><th>old</th><th>new</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>" if keys else "<p>None.</p>"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>rag eval compare</title>
<style>{STYLE} table.side td,table.side th{{vertical-align:top;text-align:left;width:33%}}</style>
</head><body><h1>rag eval compare</h1>
<p class="meta">old {esc(c.old_path)} → new {esc(c.new_path)}</p>{warnings}
<h2>Metrics (old → new, delta)</h2>{deltas}{''.join(sections)}</body></html>
"""


def write_compare_html(c: Any, path: Path) -> Path:
    path.write_text(render_compare_html(c), encoding="utf-8")
    return path
