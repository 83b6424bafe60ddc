"""The Gradio chat UI (``rag ui``): a thin shell over :class:`rag.pipeline.Pipeline`.

Nothing here retrieves or answers: questions go to ``Pipeline.ask_stream`` (the
chat) or ``Pipeline.ask`` (the ``/ask`` API endpoint, same JSON as
``rag ask --json``), uploads to ``Pipeline.ingest``, the Documents tab and the
filter dropdowns read ``Pipeline.stats()``. This module only turns those into
HTML (``ui.render``), copies uploads safely (``ui.uploads``) and wires events.

Concurrency: Gradio's queue, 8 events of a kind at a time. The chat answer is
two events in separate concurrency groups, one for extractive answers and one
for streaming LLM answers (each returns at once when the question is for the
other), so slow LLM streams never queue extractive answers behind them.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from rag.offline import apply_offline_env

apply_offline_env()  # before gradio is imported: no analytics, no version check

import gradio as gr  # noqa: E402

from rag import Filters, Settings  # noqa: E402
from rag.errors import IndexNotFoundError, RagError  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.types import Answer, IngestReport  # noqa: E402
from ui import render, uploads  # noqa: E402
from ui.assets import COPY_JS, CSS, SOURCES_JS, theme  # noqa: E402

log = logging.getLogger("rag.ui")

MODES = ("auto", "extractive", "llm")
K_MAX = 20
CONCURRENCY = 8  # default_concurrency_limit of the queue, and of each answering group
EMPTY_INDEX = "No documents are indexed yet."
EMPTY_HINT = "Upload .txt, .md, .html or .pdf files in the Documents tab (or run `rag ingest PATH`), then ask again."
STREAM_EVERY_S = 0.04  # coalesce LLM deltas: at most ~25 chat updates a second


def parse_auth(value: str) -> tuple[str, str] | None:
    """``RAG_UI_AUTH=user:password`` -> ("user", "password"); empty -> None."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise RagError("RAG_UI_AUTH must look like user:password")
    return user, password


class RagBlocks(gr.Blocks):
    """gr.Blocks whose launch() brings the app's theme, CSS, upload limit and login, and never shares.

    So ``build_app(p).launch(server_port=...)`` in a test serves the same app as ``rag ui``.
    """

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rag_settings = settings

    def launch(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def,override]
        settings = self.rag_settings
        kwargs["share"] = False
        kwargs.setdefault("server_name", "127.0.0.1")
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("theme", theme())
        kwargs.setdefault("max_file_size", f"{settings.ui_max_upload_mb}mb")
        kwargs.setdefault("footer_links", ["api", "settings"])
        kwargs.setdefault("show_error", True)
        if "auth" not in kwargs:
            auth = parse_auth(settings.ui_auth)
            if auth:
                kwargs["auth"] = auth
                kwargs.setdefault("auth_message", "Log in to ask your documents.")
        return super().launch(*args, **kwargs)


@dataclass
class UploadOutcome:
    """What happened to one batch of uploads: the library's report plus the files refused before it."""

    report: IngestReport | None = None
    refused: list[tuple[str, str]] = field(default_factory=list)  # (name sent, reason)
    names: dict[str, str] = field(default_factory=dict)  # staged path -> name shown
    error: str = ""

    def html(self) -> str:
        return render.upload_report_html(self.report, self.refused, self.names, self.error)


def ingest_uploads(pipeline: Pipeline, files: Sequence[str | Path],
                   progress: Callable[[int, int, str], None] | None = None) -> UploadOutcome:
    """Copy uploads into ``<index dir>/uploads/`` (checked, cleaned names) and ingest just those.

    A file the library skips is reported with its reason and removed again (an earlier file of the
    same name comes back); the others are searchable as soon as this returns.
    """
    settings = pipeline.settings
    staged = uploads.stage_uploads(files, Path(settings.home), settings.ui_max_upload_mb)
    outcome = UploadOutcome(refused=[(r.name, r.reason) for r in staged.refused],
                            names={str(s.path.resolve()): s.name for s in staged.staged})
    if not staged.staged:
        if not staged.refused:
            outcome.error = "no file arrived: choose files to upload"
        return outcome
    if progress:
        progress(0, len(staged.staged), "")
    try:
        report = pipeline.ingest([s.path for s in staged.staged], progress=progress)
    except RagError as exc:
        outcome.error = str(exc)
    except Exception as exc:
        log.exception("ingesting uploads failed")
        outcome.error = f"unexpected error ({type(exc).__name__}); see the server log"
    else:
        for item in report.files:
            item.path = str(Path(item.path).resolve())
        outcome.report = report
    status = {o.path: o.status for o in outcome.report.files} if outcome.report else {}
    for item in staged.staged:
        # Outcome unknown (the ingest failed): keep the new file, it may be committed already.
        kept = outcome.report is None or status.get(str(item.path.resolve()), "skipped") != "skipped"
        uploads.settle(item, kept)
    return outcome


def build_app(pipeline: Pipeline) -> gr.Blocks:
    settings = pipeline.settings

    # --- helpers over the library ----------------------------------------------

    def read_stats() -> tuple[dict[str, Any] | None, str]:
        try:
            return pipeline.stats(), ""
        except IndexNotFoundError:
            return None, EMPTY_INDEX
        except RagError as exc:
            return None, str(exc)

    def index_is_empty() -> bool:
        stats, _ = read_stats()
        return stats is None or not stats.get("documents")

    def resolve(mode: str | None) -> str:
        return settings.resolved_mode(mode if mode in MODES else None)  # type: ignore[arg-type]

    def make_filters(lang: str | None, source: str | None) -> Filters | None:
        if not lang and not source:
            return None
        return Filters(lang=lang or "", source=source or "")

    def clamp_k(k: Any) -> int:
        try:
            return max(1, min(K_MAX, int(k)))
        except (TypeError, ValueError):
            return settings.k

    def ask_events(question: str, turns: list[render.Turn], mode: str, k: Any, lang: str, source: str
                   ) -> Iterator[tuple[str, Any]]:
        """("delta", text) while an LLM streams, then ("turn", turn): errors become a turn, never a traceback."""
        resolved = resolve(mode)
        started = time.perf_counter()
        partial: list[str] = []
        try:
            answer: Answer | None = None
            for event in pipeline.ask_stream(question, k=clamp_k(k), mode=mode if mode in MODES else None,  # type: ignore[arg-type]
                                             filters=make_filters(lang, source),
                                             history=render.history_pairs(turns)):
                if isinstance(event, str):
                    partial.append(event)
                    yield "delta", "".join(partial)
                else:
                    answer = event
            assert answer is not None
            turn = render.turn_from_answer(answer, time.perf_counter() - started)
            if answer.abstained and not answer.hits and index_is_empty():
                turn["hint"] = EMPTY_HINT
            yield "turn", turn
        except IndexNotFoundError:
            turn = render.error_turn(question, "", resolved, hint=EMPTY_HINT)
            turn["answer"] = EMPTY_INDEX
            yield "turn", turn
        except RagError as exc:
            yield "turn", render.error_turn(question, str(exc), resolved, partial="".join(partial))
        except Exception as exc:  # the app keeps serving; the details go to the server log
            log.exception("answering %r failed", question)
            yield "turn", render.error_turn(question, f"unexpected error ({type(exc).__name__}); see the server log",
                                            resolved, partial="".join(partial))

    # --- chat handlers ---------------------------------------------------------

    def finished(turns: list[render.Turn]) -> tuple[Any, ...]:
        return (render.chat_messages(turns), turns, render.sources_html(turns),
                gr.update(interactive=True), gr.update(interactive=True))

    def skipped() -> tuple[Any, ...]:
        return tuple(gr.skip() for _ in range(5))

    def prepare(question: str, turns: list[render.Turn]) -> tuple[Any, ...]:
        question = question or ""
        return (gr.update(value="", interactive=False), gr.update(interactive=False), question,
                render.chat_messages(turns, pending=question), render.pending_sources_html(question))

    def answer_extractive(question: str, turns: list[render.Turn], mode: str, k: Any, lang: str, source: str
                          ) -> tuple[Any, ...]:
        if resolve(mode) != "extractive":
            return skipped()
        turn = None
        for kind, value in ask_events(question, turns, mode, k, lang, source):
            if kind == "turn":
                turn = value
        return finished([*turns, turn])

    def answer_llm(question: str, turns: list[render.Turn], mode: str, k: Any, lang: str, source: str
                   ) -> Iterator[tuple[Any, ...]]:
        if resolve(mode) != "llm":
            yield skipped()
            return
        last = 0.0
        for kind, value in ask_events(question, turns, mode, k, lang, source):
            if kind == "delta":
                now = time.perf_counter()
                if now - last >= STREAM_EVERY_S:
                    last = now
                    yield (render.chat_messages(turns, pending=question, partial=value, mode="llm"),
                           gr.skip(), gr.skip(), gr.skip(), gr.skip())
            else:
                yield finished([*turns, value])

    def clear() -> tuple[Any, ...]:
        return (initial_messages(), [], render.sources_html([]), "",
                gr.update(interactive=True), gr.update(interactive=True))

    def initial_messages() -> list[dict[str, str]]:
        return render.notice_messages(f"{EMPTY_INDEX} {EMPTY_HINT}") if index_is_empty() else []

    # --- documents handlers ----------------------------------------------------

    def dropdowns(stats: dict[str, Any] | None, lang: str | None, source: str | None) -> tuple[Any, Any]:
        languages = (stats or {}).get("languages") or {}
        sources = sorted(set((stats or {}).get("sources") or []))
        lang_choices = [("All languages", "")] + [
            (f"{render.LANG_NAMES.get(code, code)} ({code}) · {n} doc{'s' if n != 1 else ''}", code)
            for code, n in languages.items()]
        source_choices = [("All documents", "")] + [(s, s) for s in sources]
        return (gr.update(choices=lang_choices, value=lang if lang in languages else ""),
                gr.update(choices=source_choices, value=source if source in sources else ""))

    def refresh(lang: str | None, source: str | None) -> tuple[Any, ...]:
        stats, error = read_stats()
        lang_dd, source_dd = dropdowns(stats, lang, source)
        return render.stats_html(stats, error), lang_dd, source_dd

    def on_load(lang: str | None, source: str | None) -> tuple[Any, ...]:
        return (*refresh(lang, source), initial_messages())

    def on_upload(files: list[str] | str | None, lang: str | None, source: str | None,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        def on_progress(done: int, total: int, current: str) -> None:
            desc = f"Indexing {Path(current).name}" if current else "Updating the search index…"
            progress((done, max(total, 1)), desc=desc, unit="files")

        paths = [files] if isinstance(files, str) else list(files or [])
        outcome = ingest_uploads(pipeline, paths, progress=on_progress)
        stats, stats_error = read_stats()
        lang_dd, source_dd = dropdowns(stats, lang, source)
        return (outcome.html(), render.stats_html(stats, stats_error), lang_dd, source_dd, None)

    # Open the store now, before requests arrive in parallel: Pipeline._open_store has no lock and two
    # threads opening chromadb's PersistentClient at once break each other (KeyError / tenant errors).
    read_stats()

    # --- the API endpoint: same JSON as `rag ask --json` ---------------------------

    def ask(question: str) -> dict[str, Any]:
        """Answer a question from the indexed documents; returns the `rag ask --json` object."""
        try:
            return pipeline.ask(question).to_json()
        except RagError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    # --- layout ----------------------------------------------------------------

    resolved_default = resolve(settings.mode)
    engine = (f"LLM {settings.llm_model}" if resolved_default == "llm" else "extractive, offline")
    mode_labels = [(f"auto ({resolve('auto')})", "auto"), ("extractive", "extractive"), ("llm", "llm")]

    with RagBlocks(settings, title="Ask your documents", analytics_enabled=False) as app:
        turns = gr.State([])
        pending = gr.State("")
        gr.HTML(
            '<div id="rag-header"><h1>Ask your documents</h1>'
            "<p>Questions in any language; every answer cites the passages it comes from. "
            f'<span class="pill">{render.esc(engine)}</span></p></div>'
        )
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=7, min_width=420):
                        chatbot = gr.Chatbot(
                            label="Conversation", elem_id="rag-chat", height=540, show_label=False,
                            placeholder="Ask about your documents, e.g. *Combien Microsoft a-t-il investi en Italie ?*",
                            feedback_options=None, buttons=[], group_consecutive_messages=False,
                        )
                        with gr.Row(equal_height=True):
                            question = gr.Textbox(
                                placeholder="Ask a question in any language…", show_label=False, lines=1,
                                max_lines=6, scale=8, elem_id="rag-question", autofocus=True, submit_btn=False,
                            )
                            send = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="rag-send")
                        with gr.Row():
                            clear_btn = gr.Button("Clear", size="sm", variant="secondary", elem_id="rag-clear")
                            copy_btn = gr.Button("Copy answer", size="sm", variant="secondary", elem_id="rag-copy")
                        with gr.Accordion("Settings", open=False, elem_id="rag-settings"):
                            with gr.Row():
                                mode = gr.Radio(mode_labels, value=settings.mode, label="Answer mode",
                                                info="llm needs OPENAI_BASE_URL or OPENAI_API_KEY"
                                                if not settings.llm_configured else None)
                                k = gr.Slider(1, K_MAX, value=min(settings.k, K_MAX), step=1,
                                              label="Passages retrieved (k)")
                            with gr.Row():
                                lang = gr.Dropdown([("All languages", "")], value="", label="Document language",
                                                   elem_id="rag-lang")
                                source = gr.Dropdown([("All documents", "")], value="", label="Document",
                                                     elem_id="rag-source")
                    with gr.Column(scale=5, min_width=320):
                        gr.HTML('<h3 class="rag-panel-title">Sources</h3>', elem_id="rag-sources-title")
                        sources = gr.HTML(render.sources_html([]), elem_id="rag-sources-box",
                                          js_on_load=SOURCES_JS)
            with gr.Tab("Documents", id="documents"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=6):
                        stats_box = gr.HTML(render.stats_html(None, "Loading…"), elem_id="rag-stats")
                        refresh_btn = gr.Button("Refresh", size="sm", variant="secondary")
                    with gr.Column(scale=5):
                        upload = gr.File(label="Add documents", file_count="multiple",
                                         file_types=list(uploads.ALLOWED_SUFFIXES), elem_id="rag-upload")
                        gr.HTML(
                            f'<div class="rag-upload-help">{" ".join(uploads.ALLOWED_SUFFIXES)} · up to '
                            f"{settings.ui_max_upload_mb} MB each. Files are copied into "
                            f"<code>{render.esc(uploads.uploads_dir(settings.home))}</code> and indexed at once; "
                            "a file with the same name replaces the earlier one.</div>"
                        )
                        upload_status = gr.HTML("", elem_id="rag-upload-status")

        # --- events --------------------------------------------------------------
        answer_inputs = [pending, turns, mode, k, lang, source]
        answer_outputs = [chatbot, turns, sources, question, send]
        asked = gr.on([question.submit, send.click], prepare, [question, turns], [question, send, pending, chatbot, sources],
                      queue=False, show_progress="hidden", api_visibility="private")
        asked.then(answer_extractive, answer_inputs, answer_outputs, show_progress="hidden",
                   concurrency_id="answer-extractive", concurrency_limit=CONCURRENCY, api_visibility="private")
        asked.then(answer_llm, answer_inputs, answer_outputs, show_progress="hidden",
                   concurrency_id="answer-llm", concurrency_limit=CONCURRENCY, api_visibility="private")
        clear_btn.click(clear, None, [chatbot, turns, sources, pending, question, send], queue=False,
                        api_visibility="private")
        chatbot.clear(clear, None, [chatbot, turns, sources, pending, question, send], queue=False,
                      api_visibility="private")
        copy_btn.click(None, None, None, js=COPY_JS, api_visibility="private")

        upload.upload(on_upload, [upload, lang, source], [upload_status, stats_box, lang, source, upload],
                      concurrency_id="ingest", concurrency_limit=1, api_visibility="private",
                      show_progress_on=[upload_status])
        refresh_btn.click(refresh, [lang, source], [stats_box, lang, source], api_visibility="private")
        app.load(on_load, [lang, source], [stats_box, lang, source, chatbot], api_visibility="private")

        gr.api(ask, api_name="ask", concurrency_id="api-ask", concurrency_limit=CONCURRENCY)

    app.queue(default_concurrency_limit=CONCURRENCY)
    return app


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag ui", description="Start the web chat UI.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--index-dir", metavar="DIR", help="index directory (default $RAG_HOME or ./.rag)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env().with_overrides(home=args.index_dir)
        parse_auth(settings.ui_auth)
        app = build_app(Pipeline(settings))
        print(f"rag ui: index {settings.home.resolve()}, answering {settings.resolved_mode()}"
              + (", login required" if settings.ui_auth else ""), file=sys.stderr)
        app.launch(server_name=args.host, server_port=args.port, share=False)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # port in use, address not available
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
