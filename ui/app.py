"""The Gradio chat UI (``rag ui``): a thin shell over :class:`rag.pipeline.Pipeline`.

Nothing here retrieves or answers: questions go to ``Pipeline.ask_stream`` (the chat, in
``ui.chat``) or ``Pipeline.ask`` (the ``/ask`` API endpoint, same JSON as ``rag ask --json``);
uploads to ``Pipeline.ingest``, deletes to ``Pipeline.delete``, previews to
``Pipeline.document_text`` (``ui.documents``). This module lays out the page and wires events;
``ui.render`` makes the HTML, ``ui.uploads`` copies uploads safely.

Concurrency: Gradio's queue, 8 events of a kind at a time. The chat answer is two events in
separate concurrency groups, one for extractive answers and one for streaming LLM answers (each
returns at once when the question is for the other), so slow LLM streams never queue extractive
answers behind them. Uploads and deletes share one group of one: one writer at a time.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import Any, Sequence

from rag.offline import apply_offline_env

apply_offline_env()  # before gradio is imported: no analytics, no version check

import gradio as gr  # noqa: E402

from rag import Settings  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from ui import render, uploads  # noqa: E402
from ui.assets import CONFIRM_DELETE_JS, COPY_JS, CSS, PAGE_JS, TAKE_QUESTION_JS, theme  # noqa: E402
from rag.config import K_MAX, K_MIN  # noqa: E402
from ui.chat import ChatHandlers, ChatSession  # noqa: E402
from ui.documents import DocumentHandlers, UploadOutcome, ingest_uploads  # noqa: E402,F401 (re-exported)

log = logging.getLogger("rag.ui")

CONCURRENCY = 8  # default_concurrency_limit of the queue, and of each answering group
# One example per language, answerable from the bundled seed articles (not questions of the eval sets).
# The default examples (Settings.ui_examples, RAG_UI_EXAMPLES): for the bundled seeds/ demo corpus.
EXAMPLES = Settings().ui_examples


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

    def launch(self, *args: Any, **kwargs: Any) -> Any:
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


# --- layout ---------------------------------------------------------------------------


@dataclass
class ChatTab:
    session: gr.State
    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    clear: gr.Button
    copy: gr.Button
    mode: gr.Radio
    k: gr.Slider
    lang: gr.Dropdown
    source: gr.Dropdown
    sources: gr.HTML


@dataclass
class DocumentsTab:
    stats: gr.HTML
    refresh: gr.Button
    upload: gr.File
    upload_status: gr.HTML
    document: gr.Dropdown
    delete: gr.Button
    delete_status: gr.HTML
    preview: gr.HTML


def header(settings: Settings) -> None:
    resolved = settings.resolved_mode()
    engine = f"LLM {settings.llm_model}" if resolved == "llm" else "extractive, offline"
    gr.HTML(
        '<div id="rag-header"><h1>Ask your documents</h1>'
        "<p>Questions in any language; every answer cites the passages it comes from. "
        f'<span class="pill">{render.esc(engine)}</span></p></div>'
    )


def conversation(settings: Settings) -> tuple[gr.Chatbot, gr.Textbox, gr.Button, gr.Button, gr.Button]:
    chatbot = gr.Chatbot(
        label="Conversation", elem_id="rag-chat", height=540, show_label=False,
        placeholder="Ask about your documents, in any language. Or try one of these:",
        examples=[{"text": q} for q in settings.ui_examples] or None, feedback_options=None, buttons=[],
        group_consecutive_messages=False,
    )
    with gr.Row(equal_height=True, elem_id="rag-ask-row"):
        question = gr.Textbox(
            placeholder="Ask a question in any language…", show_label=False, lines=1, max_lines=6, scale=8,
            elem_id="rag-question", autofocus=True, submit_btn=False, max_length=settings.max_question_chars,
        )
        send = gr.Button("Ask", variant="primary", scale=1, min_width=72, elem_id="rag-send")
    with gr.Row():
        clear = gr.Button("Clear", size="sm", variant="secondary", elem_id="rag-clear")
        copy = gr.Button("Copy answer", size="sm", variant="secondary", elem_id="rag-copy")
    return chatbot, question, send, clear, copy


def answer_settings(settings: Settings, resolve: Any) -> tuple[gr.Radio, gr.Slider, gr.Dropdown, gr.Dropdown]:
    mode_labels = [(f"auto ({resolve('auto')})", "auto"), ("extractive", "extractive"), ("llm", "llm")]
    with gr.Accordion("Settings", open=False, elem_id="rag-settings"):
        with gr.Row():
            mode = gr.Radio(mode_labels, value=settings.mode, label="Answer mode",
                            info=None if settings.llm_configured else "llm needs OPENAI_BASE_URL or OPENAI_API_KEY")
            k = gr.Slider(K_MIN, K_MAX, value=min(settings.k, K_MAX), step=1, label="Passages retrieved (k)")
        with gr.Row():
            lang = gr.Dropdown([("All languages", "")], value="", label="Document language", elem_id="rag-lang")
            source = gr.Dropdown([("All documents", "")], value="", label="Document", elem_id="rag-source")
    return mode, k, lang, source


def chat_tab(settings: Settings, resolve: Any) -> ChatTab:
    session = gr.State(ChatSession())
    with gr.Row(equal_height=False, elem_id="rag-chat-row"):
        with gr.Column(scale=7, min_width=300, elem_id="rag-chat-col"):
            chatbot, question, send, clear, copy = conversation(settings)
            mode, k, lang, source = answer_settings(settings, resolve)
        with gr.Column(scale=5, min_width=300, elem_id="rag-sources-col"):
            gr.HTML('<h3 class="rag-panel-title">Sources</h3>', elem_id="rag-sources-title")
            sources = gr.HTML(render.sources_html([]), elem_id="rag-sources-box", js_on_load=PAGE_JS)
    return ChatTab(session, chatbot, question, send, clear, copy, mode, k, lang, source, sources)


def documents_tab(settings: Settings) -> DocumentsTab:
    with gr.Row(equal_height=False):
        with gr.Column(scale=6, min_width=300):
            stats = gr.HTML(render.stats_html(None, "Loading…"), elem_id="rag-stats")
            refresh = gr.Button("Refresh", size="sm", variant="secondary", elem_id="rag-refresh")
        with gr.Column(scale=5, min_width=300):
            upload = gr.File(label="Add documents", file_count="multiple",
                             file_types=list(uploads.ALLOWED_SUFFIXES), elem_id="rag-upload")
            gr.HTML(
                f'<div class="rag-upload-help">{" ".join(uploads.ALLOWED_SUFFIXES)} · up to '
                f"{settings.ui_max_upload_mb} MB each. Files are copied into "
                f"<code>{render.esc(uploads.uploads_dir(settings.home))}</code> and indexed at once; "
                "a file with the same name replaces the earlier one. Deleting an uploaded document "
                "deletes its copy there too (never a file of yours elsewhere).</div>"
            )
            upload_status = gr.HTML("", elem_id="rag-upload-status")
            with gr.Row(equal_height=False, elem_id="rag-doc-row"):
                document = gr.Dropdown([], value=None, label="Preview or delete a document", scale=4,
                                       elem_id="rag-doc")
                delete = gr.Button("Delete", variant="stop", size="sm", scale=1, min_width=80, elem_id="rag-delete")
            delete_status = gr.HTML("", elem_id="rag-delete-status")
            preview = gr.HTML(render.preview_html(None), elem_id="rag-preview")
    return DocumentsTab(stats, refresh, upload, upload_status, document, delete, delete_status, preview)


# --- events ---------------------------------------------------------------------------


def wire_chat(tab: ChatTab, chat: ChatHandlers) -> None:
    """Send takes the question at once (the box is emptied in the browser, so nothing typed next is
    lost); two queued events then answer it, each in its own concurrency group."""
    shown = [tab.chatbot, tab.sources]
    answer_inputs = [tab.session, tab.mode, tab.k, tab.lang, tab.source]
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    taken = gr.on([tab.question.submit, tab.send.click], chat.take, [tab.question, tab.session], shown,
                  js=TAKE_QUESTION_JS, queue=False, trigger_mode="multiple", **private)
    example = tab.chatbot.example_select(chat.take_example, [tab.session], shown, queue=False,
                                         trigger_mode="multiple", **private)
    for asked in (taken, example):
        asked.then(chat.answer_extractive, answer_inputs, shown, trigger_mode="multiple",
                   concurrency_id="answer-extractive", concurrency_limit=CONCURRENCY, **private)
        asked.then(chat.answer_llm, answer_inputs, shown, trigger_mode="multiple",
                   concurrency_id="answer-llm", concurrency_limit=CONCURRENCY, **private)
    tab.clear.click(chat.clear, [tab.session], shown, queue=False, **private)
    tab.chatbot.clear(chat.clear, [tab.session], shown, queue=False, **private)
    tab.copy.click(None, None, None, js=COPY_JS, api_visibility="private")


def wire_documents(app: gr.Blocks, chat_tab: ChatTab, tab: DocumentsTab, docs: DocumentHandlers,
                   chat: ChatHandlers) -> None:
    filters = [chat_tab.lang, chat_tab.source]
    index_views = [tab.stats, *filters, tab.document]
    writer: dict[str, Any] = {"concurrency_id": "ingest", "concurrency_limit": 1, "api_visibility": "private"}
    tab.upload.upload(docs.upload, [tab.upload, *filters, tab.document],
                      [tab.upload_status, *index_views, tab.upload], show_progress_on=[tab.upload_status], **writer)
    tab.delete.click(docs.delete, [tab.document, *filters],
                     [tab.delete_status, *index_views, tab.preview], js=CONFIRM_DELETE_JS, **writer)
    tab.document.change(docs.preview, [tab.document], [tab.preview], api_visibility="private")
    tab.refresh.click(docs.refresh, [*filters, tab.document], index_views, api_visibility="private")

    def on_load(lang: str | None, source: str | None, chosen: str | None, session: ChatSession) -> tuple[Any, ...]:
        return (*docs.refresh(lang, source, chosen), chat.initial_messages(session))

    app.load(on_load, [*filters, tab.document, chat_tab.session], [*index_views, chat_tab.chatbot],
             api_visibility="private")


def wire_api(pipeline: Pipeline) -> None:
    def ask(question: str) -> dict[str, Any]:
        """Answer a question from the indexed documents; returns the `rag ask --json` object."""
        try:
            return pipeline.ask(question).to_json()
        except RagError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    gr.api(ask, api_name="ask", concurrency_id="api-ask", concurrency_limit=CONCURRENCY)


def build_app(pipeline: Pipeline) -> gr.Blocks:
    settings = pipeline.settings
    chat, docs = ChatHandlers(pipeline), DocumentHandlers(pipeline)
    # Open the store now, before requests arrive in parallel: two threads opening chromadb's
    # PersistentClient at once break each other (KeyError / tenant errors).
    docs.read_stats()
    with RagBlocks(settings, title="Ask your documents", analytics_enabled=False) as app:
        header(settings)
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat_widgets = chat_tab(settings, chat.resolve)
            with gr.Tab("Documents", id="documents"):
                documents_widgets = documents_tab(settings)
        wire_chat(chat_widgets, chat)
        wire_documents(app, chat_widgets, documents_widgets, docs, chat)
        wire_api(pipeline)
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
