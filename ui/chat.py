"""The chat tab's handlers: questions in, rendered turns out, over ``Pipeline.ask_stream``.

Each browser tab has a :class:`ChatSession`. Sending a question only *takes* it: it joins the
session's queue at once (so a second question typed right after the first is never lost), and
an answering event answers the head of the queue, one question at a time per session, in the
order they were asked. Every send starts one answering event in each of two concurrency groups
(extractive, LLM); the one of the other mode returns at once, so slow LLM streams never queue
extractive answers behind them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

import gradio as gr

from rag import Filters
from rag.errors import IndexNotFoundError, RagError
from rag.pipeline import Pipeline
from rag.config import K_MAX, K_MIN
from ui import render

log = logging.getLogger("rag.ui")

MODES = ("auto", "extractive", "llm")
EMPTY_INDEX = "No documents are indexed yet."
EMPTY_HINT = "Upload .txt, .md, .html or .pdf files in the Documents tab (or run `rag ingest PATH`), then ask again."
STREAM_EVERY_S = 0.04  # coalesce LLM deltas: at most ~25 chat updates a second
WAIT_FOR_TURN_S = 900.0  # a question waits this long at most for the one before it


@dataclass(eq=False)
class Queued:
    """A question taken from the box, not answered yet: what is asked, and what the chat shows."""

    question: str
    shown: str


class ChatSession:
    """One browser tab's conversation. Gradio keeps one per tab (``gr.State``) and hands the same
    object to every event of that tab, so the handlers share it; ``lock`` guards the two lists and
    ``answering`` lets one question of the tab be answered at a time. (Not a dataclass: Gradio
    would try to serialize its locks into the page config.)"""

    def __init__(self) -> None:
        self.turns: list[render.Turn] = []
        self.queued: list[Queued] = []
        self.lock = threading.Lock()
        self.answering = threading.Lock()

    def __deepcopy__(self, memo: dict[int, Any]) -> "ChatSession":
        # gr.State copies its initial value for every new tab: a new tab starts a new conversation.
        return ChatSession()

    def snapshot(self) -> tuple[list[render.Turn], list[str]]:
        with self.lock:
            return list(self.turns), [q.shown for q in self.queued]


class ChatHandlers:
    """The chat tab's event handlers over one pipeline (no retrieval or answering here)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings

    # --- helpers over the library ----------------------------------------------------

    def index_is_empty(self) -> bool:
        try:
            return not self.pipeline.stats().documents
        except RagError:
            return True

    def resolve(self, mode: str | None) -> str:
        return self.settings.resolved_mode(mode if mode in MODES else None)  # type: ignore[arg-type]

    def clamp_k(self, k: Any) -> int:
        try:
            return max(K_MIN, min(K_MAX, int(k)))
        except (TypeError, ValueError):
            return self.settings.k

    @staticmethod
    def make_filters(lang: str | None, source: str | None) -> Filters | None:
        if not lang and not source:
            return None
        return Filters(lang=lang or "", source=source or "")

    def initial_messages(self, session: ChatSession) -> list[dict[str, str]]:
        """The chat as the page (re)loads: this tab's conversation, or a hint when nothing is indexed.
        (A question clicked before the page finished loading is not hidden by this.)"""
        turns, pending = session.snapshot()
        if turns or pending:
            return render.chat_messages(turns, pending)
        return render.notice_messages(f"{EMPTY_INDEX} {EMPTY_HINT}") if self.index_is_empty() else []

    # --- taking a question -----------------------------------------------------------

    def take(self, question: str | None, session: ChatSession) -> tuple[Any, ...]:
        """Queue a question (nothing for an empty box) and show it waiting; instant, no queue."""
        question = question or ""
        if not question.strip():
            return gr.skip(), gr.skip()
        queued = Queued(question, render.shorten(question, self.settings.max_question_chars))
        with session.lock:
            session.queued.append(queued)
        turns, pending = session.snapshot()
        return render.chat_messages(turns, pending), render.pending_sources_html(queued.shown)

    def take_example(self, session: ChatSession, event: gr.SelectData) -> tuple[Any, ...]:
        """An example question clicked on the landing chat: asked as if typed."""
        value = event.value if isinstance(event.value, dict) else {}
        return self.take(str(value.get("text") or ""), session)

    def clear(self, session: ChatSession) -> tuple[Any, ...]:
        with session.lock:
            session.turns.clear()
            session.queued.clear()
        return self.initial_messages(session), render.sources_html([])

    # --- answering -------------------------------------------------------------------

    def ask_events(self, question: str, shown: str, history: list[tuple[str, str]], mode: str, k: Any,
                   lang: str, source: str) -> Iterator[tuple[str, Any]]:
        """("delta", text) while an LLM streams, then ("turn", turn): errors become a turn, never a traceback."""
        resolved = self.resolve(mode)
        started = time.perf_counter()
        partial: list[str] = []
        try:
            stream = self.pipeline.ask_stream(question, k=self.clamp_k(k), history=history,
                                              mode=mode if mode in MODES else None,  # type: ignore[arg-type]
                                              filters=self.make_filters(lang, source))
            for delta in stream:
                partial.append(delta)
                yield "delta", "".join(partial)
            answer = stream.answer()
            turn = render.turn_from_answer(answer, time.perf_counter() - started)
            if answer.abstained and not answer.hits and self.index_is_empty():
                turn["hint"] = EMPTY_HINT
            yield "turn", turn
        except IndexNotFoundError:
            turn = render.error_turn(shown, "", resolved, hint=EMPTY_HINT)
            turn["answer"] = EMPTY_INDEX
            yield "turn", turn
        except RagError as exc:  # a refused question is shown cut to the limit, not whole
            yield "turn", render.error_turn(shown, str(exc), resolved, partial="".join(partial))
        except Exception as exc:  # the app keeps serving; the details go to the server log
            log.exception("answering %r failed", shown)
            yield "turn", render.error_turn(shown, f"unexpected error ({type(exc).__name__}); see the server log",
                                            resolved, partial="".join(partial))

    def answer_next(self, session: ChatSession, mode: str, k: Any, lang: str, source: str
                    ) -> Iterator[tuple[Any, ...]]:
        """Answer the oldest waiting question of this tab: (chatbot, sources) updates."""
        my_turn = session.answering.acquire(timeout=WAIT_FOR_TURN_S)
        if not my_turn:  # the one before is stuck: answer anyway rather than never
            log.warning("a question waited %.0f s for the one before it", WAIT_FOR_TURN_S)
        try:
            with session.lock:
                head = session.queued[0] if session.queued else None
                history = render.history_pairs(session.turns)
            if head is None:  # answered by an earlier event, or cleared
                yield gr.skip(), gr.skip()
                return
            last = 0.0
            for kind, value in self.ask_events(head.question, head.shown, history, mode, k, lang, source):
                if kind == "delta":
                    now = time.perf_counter()
                    if now - last >= STREAM_EVERY_S:
                        last = now
                        turns, pending = session.snapshot()
                        yield render.chat_messages(turns, pending, partial=value, mode="llm"), gr.skip()
                else:
                    yield self.commit(session, head, value)
        finally:
            if my_turn:
                session.answering.release()

    @staticmethod
    def commit(session: ChatSession, head: Queued, turn: render.Turn) -> tuple[Any, ...]:
        with session.lock:
            if session.queued and session.queued[0] is head:  # not cleared meanwhile
                session.queued.pop(0)
                session.turns.append(turn)
        turns, pending = session.snapshot()
        return render.chat_messages(turns, pending), render.sources_html(turns)

    def answer_extractive(self, session: ChatSession, mode: str, k: Any, lang: str, source: str
                          ) -> tuple[Any, ...]:
        if self.resolve(mode) != "extractive":
            return gr.skip(), gr.skip()
        result: tuple[Any, ...] = (gr.skip(), gr.skip())
        for result in self.answer_next(session, mode, k, lang, source):  # noqa: B007 (the last one is returned)
            pass
        return result

    def answer_llm(self, session: ChatSession, mode: str, k: Any, lang: str, source: str
                   ) -> Iterator[tuple[Any, ...]]:
        if self.resolve(mode) != "llm":
            yield gr.skip(), gr.skip()
            return
        yield from self.answer_next(session, mode, k, lang, source)
