"""HTML for the chat UI: answers with clickable ``[n]`` markers, the sources panel, the index summary.

Everything that comes from a document, a question or an LLM is HTML-escaped
here; the only markup is the one these functions add. Pure functions over
plain dicts (the per-session chat state), so they are easy to test.
"""

from __future__ import annotations

import html
import re
from typing import Any, Iterable, Mapping, Sequence

from rag.types import Answer, IngestReport, Stats

Turn = dict[str, Any]  # one question and its reply, as kept in the session state

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
MAX_TURNS_IN_PANEL = 50
SHOWN_IN_HEADER = 200  # characters of the question above its sources

LANG_NAMES = {
    "ar": "Arabic", "de": "German", "en": "English", "es": "Spanish", "fr": "French", "it": "Italian",
    "ja": "Japanese", "ko": "Korean", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "ru": "Russian",
    "sv": "Swedish", "tr": "Turkish", "uk": "Ukrainian", "zh": "Chinese",
}


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _lines(text: str) -> str:
    """Escaped text on one line (newlines as <br>), so Markdown treats it as one raw HTML block."""
    return "<br>".join(esc(line) for line in str(text).replace("\r\n", "\n").split("\n"))


# --- state --------------------------------------------------------------------


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, with an ellipsis that says how long it was."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[: max(0, limit - 1)]}… ({len(text):,} characters)"


def turn_from_answer(answer: Answer, seconds: float) -> Turn:
    citations = []
    for c in answer.citations:
        rel_start = max(0, min(len(c.chunk_text), c.start - c.chunk_start))
        rel_end = max(rel_start, min(len(c.chunk_text), c.end - c.chunk_start))
        citations.append({
            "n": c.n, "source": c.source, "title": c.title, "lang": c.lang, "score": float(c.score), "text": c.text,
            "chunk_text": c.chunk_text, "rel_start": rel_start, "rel_end": rel_end,
        })
    _highlight_evidence(citations, answer)
    cited = {c.chunk for c in answer.citations}
    # What retrieval found and the answer does not cite: what a search-only user wants to see too.
    others = [{"source": h.chunk.source, "title": h.chunk.title, "lang": h.chunk.lang, "score": float(h.score),
               "chunk_text": h.chunk.text} for h in answer.hits if h.chunk.chunk_id not in cited]
    return {"question": answer.question, "answer": answer.answer, "mode": answer.mode,
            "abstained": answer.abstained, "citations": citations, "others": others, "seconds": seconds,
            "error": "", "hint": "", "claims": [{**c.to_json(), "start": c.start, "end": c.end} for c in answer.claims],
            "short_answer": answer.short_answer}


def _highlight_evidence(citations: list[dict[str, Any]], answer: Answer) -> None:
    """Card n highlights the evidence sentence of the first supported statement citing n (the claim
    checker's best sentence), where there is one; otherwise the citation's own span."""
    starts = {c.n: c.chunk_start for c in answer.citations}
    done: set[int] = set()
    for claim in answer.claims:
        evidence = claim.evidence if claim.supported else None
        if evidence is None or evidence.n in done or evidence.n not in starts:
            continue
        card = next(c for c in citations if c["n"] == evidence.n)
        start = max(0, min(len(card["chunk_text"]), evidence.start - starts[evidence.n]))
        card["rel_start"], card["rel_end"] = start, max(start, min(len(card["chunk_text"]), evidence.end - starts[evidence.n]))
        done.add(evidence.n)


def error_turn(question: str, message: str, mode: str, partial: str = "", hint: str = "") -> Turn:
    return {"question": question, "answer": partial, "mode": mode, "abstained": True, "citations": [], "others": [],
            "seconds": 0.0, "error": message, "hint": hint}


def history_pairs(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    """The conversation so far for ``ask_stream(history=...)``: answered turns only."""
    return [(t["question"], t["answer"]) for t in turns if not t.get("error") and t.get("answer")]


def plain_text(turn: Turn | None) -> str:
    """What the Copy button puts on the clipboard: the answer, then its sources."""
    if not turn:
        return ""
    if turn.get("error"):
        return f"{turn['answer']}\n\nError: {turn['error']}".strip()
    lines = [turn["answer"]]
    if turn["citations"]:
        lines.append("")
        lines += [f"[{c['n']}] {c['source']}: {c['text']}" for c in turn["citations"]]
    return "\n".join(lines)


# --- chat ---------------------------------------------------------------------


def link_markers(escaped: str, turn_index: int, numbers: Iterable[int]) -> str:
    """Turn ``[1]`` / ``[1, 2]`` markers that point at a citation into links to the sources panel."""
    known = set(numbers)

    def replace(match: re.Match[str]) -> str:
        parts = [int(n) for n in re.findall(r"\d+", match.group(1))]
        if not parts or any(n not in known for n in parts):
            return match.group(0)
        return "".join(
            f'<a class="rag-cite" href="#src-{turn_index}-{n}" data-turn="{turn_index}" data-n="{n}" '
            f'title="Show source {n}">[{n}]</a>' for n in parts
        )

    return _MARKER.sub(replace, escaped)


def _claims_html(text: str, claims: Sequence[Mapping[str, Any]], turn_index: int) -> str:
    """The answer, escaped, each statement wrapped: a supported one links to its evidence (card n,
    highlighted), an unsupported one is marked ⚠ (rag.answer.verify)."""
    parts, cursor = [], 0
    for claim in sorted(claims, key=lambda c: c["start"]):
        start, end = claim["start"], claim["end"]
        if start < cursor or end > len(text):
            continue
        parts.append(_lines(text[cursor:start]))
        statement = text[start:end]
        cut = _MARKER.search(statement)
        body, tail = (statement[:cut.start()], statement[cut.start():]) if cut else (statement, "")
        if claim["supported"] and claim.get("evidence"):
            n = claim["evidence"]["n"]
            parts.append(f'<a class="rag-claim" href="#src-{turn_index}-{n}" title="Show the evidence in source {n}">'
                         f'{_lines(body)}</a>{_lines(tail)}')
        elif not claim["supported"]:
            parts.append(f'<span class="rag-unsupported" title="Not supported by its cited source">\u26a0 '
                         f'{_lines(body)}</span>{_lines(tail)}')
        else:
            parts.append(_lines(statement))
        cursor = end
    parts.append(_lines(text[cursor:]))
    return "".join(parts)


def answer_html(turn: Turn, turn_index: int) -> str:
    """The assistant message of one turn: the answer with linked markers, then a footer with the mode."""
    escaped = _claims_html(turn["answer"], turn["claims"], turn_index) if turn.get("claims") else _lines(turn["answer"])
    body = _bold_short_answer(link_markers(escaped, turn_index, (c["n"] for c in turn["citations"])), turn.get("short_answer"))
    parts = [f'<div class="rag-answer" id="answer-{turn_index}" data-turn="{turn_index}">{body}</div>'] if body else []
    if turn.get("error"):
        parts.append(f'<div class="rag-error"><b>Error:</b> {_lines(turn["error"])}</div>')
    if turn.get("hint"):
        parts.append(f'<div class="rag-hint">{_lines(turn["hint"])}</div>')
    meta = [f"mode: {esc(turn['mode'])}"]
    if turn.get("seconds"):
        meta.append(f"{turn['seconds']:.1f} s")
    if turn["citations"]:
        count = len(turn["citations"])
        meta.append(f"{count} source{'s' if count > 1 else ''}")
    elif not turn.get("error") and turn.get("abstained"):
        meta.append("not found in the documents")
    unsupported = sum(1 for c in turn.get("claims", []) if not c["supported"])
    if unsupported:
        meta.append(f'<span class="rag-unsupported">\u26a0 {unsupported} unsupported</span>')
    parts.append(f'<div class="rag-meta">{" · ".join(meta)}</div>')
    return "".join(parts)


def _bold_short_answer(body: str, short: str | None) -> str:
    """The reply leads with the short answer (``short — sentence [1]``): shown bold, the rest unchanged."""
    if not short:
        return body
    shown = esc(short)
    return body.replace(shown, f'<strong class="rag-short">{shown}</strong>', 1)


def streaming_html(text: str, mode: str) -> str:
    body = _lines(text)
    return (f'<div class="rag-answer rag-streaming">{body}<span class="rag-cursor">▍</span></div>'
            f'<div class="rag-meta">mode: {esc(mode)} · writing…</div>')


def pending_html() -> str:
    return '<div class="rag-pending"><span class="rag-dot"></span><span class="rag-dot"></span>' \
           '<span class="rag-dot"></span> searching the documents…</div>'


def question_html(question: str) -> str:
    return f'<div class="rag-question">{_lines(question)}</div>'


def waiting_html() -> str:
    return '<div class="rag-pending rag-waiting">waiting for the question before…</div>'


def chat_messages(turns: Sequence[Turn], pending: Sequence[str] = (), partial: str | None = None,
                  mode: str = "") -> list[dict[str, str]]:
    """The Chatbot value (messages format): the answered turns, then the questions still waiting, in
    order; the first of those is being answered (``partial``: the LLM text so far)."""
    messages: list[dict[str, str]] = []
    for i, turn in enumerate(turns):
        messages.append({"role": "user", "content": question_html(turn["question"])})
        messages.append({"role": "assistant", "content": answer_html(turn, i)})
    for i, question in enumerate(pending):
        messages.append({"role": "user", "content": question_html(question)})
        if i:
            content = waiting_html()
        else:
            content = pending_html() if partial is None else streaming_html(partial, mode)
        messages.append({"role": "assistant", "content": content})
    return messages


def notice_messages(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": f'<div class="rag-hint">{_lines(text)}</div>'}]


# --- sources panel ------------------------------------------------------------


def _highlighted(chunk_text: str, start: int, end: int) -> str:
    if end <= start:
        return _lines(chunk_text)
    return (_lines(chunk_text[:start]) + "<mark>" + _lines(chunk_text[start:end]) + "</mark>"
            + _lines(chunk_text[end:]))


def _source_names(c: Mapping[str, Any]) -> str:
    """The document's title with its file name beside it (the file name alone when there is no title)."""
    source, title = str(c["source"]), str(c.get("title") or "").strip()
    file_name = f'<span class="src-file" title="{esc(source)}">{esc(source)}</span>'
    if not title or title == source:
        return f'<span class="src-names">{file_name}</span>'
    return f'<span class="src-names"><span class="src-title" title="{esc(title)}">{esc(title)}</span>{file_name}</span>'


def _card_header(label: str, c: Mapping[str, Any]) -> str:
    lang = c.get("lang") or "?"
    return (f'<header>{label}{_source_names(c)}'
            f'<span class="src-tag" title="{esc(LANG_NAMES.get(lang, lang))}">{esc(lang)}</span>'
            f'<span class="src-score" title="retrieval score">score {c["score"]:.3f}</span></header>')


def _citation_card(turn_index: int, c: Mapping[str, Any]) -> str:
    if c["chunk_text"]:
        text = _highlighted(c["chunk_text"], c["rel_start"], c["rel_end"])
    else:
        text = f"<mark>{_lines(c['text'])}</mark>"
    return (
        f'<article class="src-card" id="src-{turn_index}-{c["n"]}" data-n="{c["n"]}">'
        + _card_header(f'<span class="src-n">[{c["n"]}]</span>', c)
        + f'<div class="src-text">{text}</div></article>'
    )


def _other_passages(others: Sequence[Mapping[str, Any]]) -> str:
    """The retrieved passages the answer does not cite, folded away under their count."""
    if not others:
        return ""
    cards = "".join(f'<article class="src-card src-other">{_card_header("", o)}'
                    f'<div class="src-text">{_lines(o["chunk_text"])}</div></article>' for o in others)
    return (f'<details class="src-others"><summary>Other passages retrieved ({len(others)})</summary>'
            f"{cards}</details>")


def _turn_cards(turn: Turn, i: int) -> str:
    if turn["citations"]:
        cards = "".join(_citation_card(i, c) for c in turn["citations"])
    elif turn.get("error"):
        cards = '<div class="src-empty">No sources: the question could not be answered.</div>'
    else:
        cards = '<div class="src-empty">No sources: the documents do not answer this question.</div>'
    return cards + _other_passages(turn.get("others") or [])


def sources_html(turns: Sequence[Turn], selected: int | None = None) -> str:
    """Every turn's sources, one section per turn; only the selected one (default: latest) is shown.

    Clicking a ``[n]`` marker switches sections in the browser (no round trip) and highlights card n.
    """
    if not turns:
        return ('<div class="rag-sources"><div class="src-empty">Ask a question: the passages the answer '
                'cites appear here, with the cited sentence highlighted.</div></div>')
    selected = len(turns) - 1 if selected is None else selected
    first = max(0, len(turns) - MAX_TURNS_IN_PANEL)
    sections = []
    for i in range(first, len(turns)):
        turn = turns[i]
        hidden = "" if i == selected else " hidden"
        sections.append(
            f'<section class="src-turn" data-turn="{i}" data-copy="{esc(plain_text(turn))}"{hidden}>'
            f'<div class="src-question"><span>Sources for</span> “{esc(shorten(turn["question"], SHOWN_IN_HEADER))}”'
            f"</div>{_turn_cards(turn, i)}</section>"
        )
    return f'<div class="rag-sources">{"".join(sections)}</div>'


def pending_sources_html(question: str) -> str:
    return (f'<div class="rag-sources"><div class="src-empty">Finding the sources for '
            f"“{esc(shorten(question, SHOWN_IN_HEADER))}”…</div></div>")


# --- documents tab ------------------------------------------------------------


def document_label(doc: Mapping[str, Any]) -> str:
    """How the Documents tab names a document: its title, then its file name."""
    title, source = str(doc.get("title") or "").strip(), str(doc["source"])
    return f"{title} ({source})" if title and title != source else source


def _document_item(doc: Mapping[str, Any]) -> str:
    title, source = str(doc.get("title") or "").strip(), str(doc["source"])
    named = (f'<span class="doc-title">{esc(title)}</span> <span class="doc-file">{esc(source)}</span>'
             if title and title != source else f'<span class="doc-file">{esc(source)}</span>')
    return f'<li title="{esc(doc.get("path", source))}">{named} <span class="doc-meta">{esc(doc.get("lang", ""))} · ' \
           f'{doc.get("chunks", 0)} chunks</span></li>'


def stats_html(stats: Stats | None, error: str = "",
               documents: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The index summary; ``documents`` (title, source, path, lang, chunks) lists the files by title."""
    if stats is None:
        return (f'<div class="rag-stats"><div class="rag-hint">{esc(error or "No index yet.")} '
                "Upload documents below to build it.</div></div>")
    languages = stats.languages
    langs = ", ".join(f"{esc(k)} ({v})" for k, v in languages.items()) or "–"
    if documents is None:
        documents = [{"source": s} for s in stats.sources]
    items = "".join(_document_item(d) for d in documents) or '<li class="src-empty">none yet</li>'
    return (
        '<div class="rag-stats">'
        '<div class="stat-row">'
        f'<div class="stat"><div class="stat-num">{stats.documents}</div><div>documents</div></div>'
        f'<div class="stat"><div class="stat-num">{stats.chunks}</div><div>chunks</div></div>'
        f'<div class="stat"><div class="stat-num">{len(languages)}</div><div>languages</div></div>'
        "</div>"
        f'<div class="stat-line"><b>Languages:</b> {langs}</div>'
        f'<div class="stat-line"><b>Embedding model:</b> {esc(stats.embedding_model)}</div>'
        f'<div class="stat-line"><b>Store:</b> <code>{esc(stats.store)}</code></div>'
        f'<details open><summary>Indexed files ({len(documents)})</summary><ul class="doc-list">{items}</ul></details>'
        "</div>"
    )


def preview_html(doc: Mapping[str, Any] | None, text: str = "", limit: int = 20_000, error: str = "") -> str:
    """A document's indexed text (its first ``limit`` characters), under its title and file name."""
    if error:
        return f'<div class="rag-preview"><div class="rag-error"><b>Error:</b> {esc(error)}</div></div>'
    if doc is None:
        return '<div class="rag-preview"><div class="src-empty">Choose a document to see its text.</div></div>'
    more = (f'<div class="rag-hint">The first {limit:,} of {len(text):,} characters.</div>'
            if len(text) > limit else "")
    return (f'<div class="rag-preview"><div class="preview-head">{_source_names(doc)}'
            f'<span class="src-tag">{esc(doc.get("lang") or "?")}</span></div>'
            f'<div class="preview-text">{esc(text[:limit])}</div>{more}</div>')


def delete_result_html(name: str, chunks: int = 0, error: str = "") -> str:
    if error:
        return f'<div class="rag-upload"><div class="rag-error"><b>Error:</b> {esc(error)}</div></div>'
    return (f'<div class="rag-upload"><div class="up-summary">Deleted {esc(name)} '
            f'({chunks} chunk{"s" if chunks != 1 else ""})</div></div>')


def upload_report_html(report: IngestReport | None, refused: Sequence[tuple[str, str]],
                       names: Mapping[str, str], error: str = "") -> str:
    """What happened to each uploaded file. ``names`` maps a staged path to the name the user sent."""
    rows = []
    labels = {"added": "indexed", "replaced": "re-indexed", "unchanged": "unchanged (already indexed)",
              "skipped": "not indexed"}
    ok = bad = 0
    if report is not None:
        for outcome in report.files:
            if outcome.status == "pruned":
                continue
            name = names.get(outcome.path, outcome.path.rsplit("/", 1)[-1])
            good = outcome.status != "skipped"
            ok += good
            bad += not good
            detail = f"{outcome.chunks} chunk{'s' if outcome.chunks != 1 else ''}" if good else esc(outcome.reason)
            rows.append(f'<li class="{"up-ok" if good else "up-bad"}"><b>{esc(name)}</b>: '
                        f'{labels.get(outcome.status, outcome.status)} — {detail}</li>')
    for name, reason in refused:
        bad += 1
        rows.append(f'<li class="up-bad"><b>{esc(name)}</b>: refused — {esc(reason)}</li>')
    head = []
    if error:
        head.append(f'<div class="rag-error"><b>Error:</b> {esc(error)}</div>')
    if ok or bad:
        head.append(f'<div class="up-summary">{ok} file{"s" if ok != 1 else ""} indexed'
                    + (f", {bad} not indexed" if bad else "") + "</div>")
    return f'<div class="rag-upload">{"".join(head)}<ul>{"".join(rows)}</ul></div>' if head or rows else ""
