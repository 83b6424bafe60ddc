"""The library API that the CLI, the UI and the eval harness all call.

    pipeline = Pipeline(Settings.from_env())
    pipeline.ingest(["seeds/"])            # -> IngestReport
    answer = pipeline.ask("Who co-founded Alibaba?")   # -> Answer
    for event in pipeline.ask_stream(q):   # str deltas, then the final Answer
        ...

Ingest is crash-safe: a document's chunks are written first, then its record
(the commit), then its old chunks are deleted; queries only see chunks whose
document record carries the same content hash. The BM25 side is rebuilt from
the committed chunks after any change and tagged with the store version.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from rag.config import Mode, Settings
from rag.errors import InputError
from rag.extractive import ExtractiveAnswerer
from rag.lexical import LexicalIndex
from rag.locking import IngestLock
from rag.messages import NO_DOCUMENTS_INDEXED, localized
from rag.retrieval import CorpusView, Filters, HybridRetriever
from rag.store import Store
from rag.text import detect_question_language, normalize_spaces, strip_controls
from rag.types import Answer, Chunk, Document, FileOutcome, IngestReport

Progress = Callable[[int, int, str], None]  # (done, total, current file)


class Pipeline:
    """One index, one embedding model, shared by every question (thread-safe reads)."""

    def __init__(self, settings: Settings) -> None:
        from rag.embedding import make_embedder

        self.settings = settings
        self.embedder = make_embedder(settings)
        self._store: Store | None = None
        self._view: CorpusView | None = None
        self._refresh_lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._llm = None

    # --- wiring -------------------------------------------------------------------

    def _open_store(self, create: bool) -> Store:
        # Chroma's PersistentClient fails when two threads create it at once: open it under a lock.
        if self._store is None:
            with self._open_lock:
                if self._store is None:
                    self._store = Store(self.settings, self.embedder.model_id, create=create)
        return self._store

    @property
    def _bm25_dir(self) -> Path:
        return self.settings.home / "bm25"

    def _refresh(self) -> CorpusView:
        """The current view of the corpus; reloaded (and BM25 rebuilt if stale) when the store moved on."""
        store = self._open_store(create=False)
        version = store.version()
        view = self._view
        if view is not None and view.version == version:
            return view
        with self._refresh_lock:
            if self._view is None or self._view.version != version:
                self._view = self._load_view(store, version)
            return self._view

    def _load_view(self, store: Store, version: int, rebuild: bool = False) -> CorpusView:
        records = store.documents()
        live = {doc_id: rec.sha256 for doc_id, rec in records.items()}
        lexical = None if rebuild else LexicalIndex.load(self._bm25_dir)
        if lexical is None or lexical.version != version:
            lexical = self._rebuild_lexical(store, live, version)
        return CorpusView(live, tuple(sorted({rec.lang for rec in records.values()})), lexical, version)

    def _rebuild_lexical(self, store: Store, live: dict[str, str], version: int) -> LexicalIndex:
        items = ((c.chunk_id, c.text, c.lang) for c, sha in store.iter_chunks() if live.get(c.doc_id) == sha)
        lexical = LexicalIndex.build(items, version)
        try:
            lexical.save(self._bm25_dir)
        except OSError:
            pass  # a read-only index dir still answers, from the in-memory index
        return lexical

    # --- ingest -------------------------------------------------------------------

    def ingest(self, paths: Sequence[str | Path], prune: bool = False, progress: Progress | None = None) -> IngestReport:
        from rag.loading import Skipped, discover, load_all

        started = time.perf_counter()
        files, skipped = discover(paths)
        report = IngestReport(files=[FileOutcome(s.path, "skipped", reason=s.reason) for s in skipped])
        self.settings.home.mkdir(parents=True, exist_ok=True)
        with IngestLock(self.settings.home):
            store = self._open_store(create=True)
            before = store.documents()
            timings = {"load": 0.0, "chunk": 0.0, "embed": 0.0, "store": 0.0, "lexical": 0.0}
            changed = False
            seen: set[str] = set()
            t = time.perf_counter()
            for i, item in enumerate(load_all(files, self.settings.max_file_mb * 1024 * 1024)):
                timings["load"] += time.perf_counter() - t
                if progress:
                    progress(i, len(files), item.path if isinstance(item, Skipped) else item.source)
                if isinstance(item, Skipped):
                    report.files.append(FileOutcome(item.path, "skipped", reason=item.reason))
                else:
                    seen.add(item.doc_id)
                    outcome = self._ingest_document(store, item, before.get(item.doc_id), report, timings)
                    changed |= outcome.status != "unchanged"
                    report.files.append(outcome)
                t = time.perf_counter()
            if progress:
                progress(len(files), len(files), "")
            if prune:
                for doc_id, record in before.items():
                    if doc_id not in seen and not Path(record.path).exists():
                        report.chunks_removed += store.delete_document(doc_id)
                        report.files.append(FileOutcome(record.path, "pruned", chunks=record.chunks))
                        changed = True
            if changed or not self._bm25_dir.exists():
                t = time.perf_counter()
                version = store.bump_version() if changed else store.version()
                self._view = self._load_view(store, version, rebuild=True)
                timings["lexical"] += time.perf_counter() - t
        report.timings_s = {k: round(v, 3) for k, v in timings.items()}
        report.seconds = time.perf_counter() - started
        return report

    def _ingest_document(self, store: Store, doc: Document, previous, report: IngestReport,  # type: ignore[no-untyped-def]
                         timings: dict[str, float]) -> FileOutcome:
        from rag.chunking import chunk_document

        if previous is not None and previous.sha256 == doc.sha256:
            # Leftovers of a run killed between the commit and the clean-up.
            report.chunks_removed += store.delete_stale_chunks(doc.doc_id, doc.sha256)
            report.chunks_unchanged += previous.chunks
            return FileOutcome(doc.path, "unchanged", chunks=previous.chunks)

        t = time.perf_counter()
        chunks = chunk_document(doc, self.settings.chunk_tokens, self.settings.chunk_overlap_tokens)
        timings["chunk"] += time.perf_counter() - t

        t = time.perf_counter()
        reusable = store.embeddings_by_text(doc.doc_id) if previous is not None else {}
        chunk_vectors, sentence_vectors = self._embed_chunks(chunks, reusable)
        timings["embed"] += time.perf_counter() - t

        t = time.perf_counter()
        store.add_chunks(chunks, doc.sha256, chunk_vectors, sentence_vectors)
        doc_vector = chunk_vectors.mean(axis=0)
        store.commit_document(doc, len(chunks), doc_vector / max(float(np.linalg.norm(doc_vector)), 1e-12))
        removed = store.delete_stale_chunks(doc.doc_id, doc.sha256)
        timings["store"] += time.perf_counter() - t

        report.chunks_added += len(chunks)
        report.chunks_removed += removed
        return FileOutcome(doc.path, "added" if previous is None else "replaced", chunks=len(chunks))

    def _embed_chunks(self, chunks: list[Chunk], reusable: dict[str, np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed chunk texts and their sentences, each distinct text once."""
        texts: list[str] = []
        for chunk in chunks:
            if chunk.text not in reusable:
                texts.append(chunk.text)
            texts.extend(s.text for s in chunk.sentences)
        unique = list(dict.fromkeys(texts))
        vectors = dict(zip(unique, self.embedder.embed_passages(unique))) if unique else {}
        vectors.update(reusable)
        chunk_vectors = np.asarray([vectors[c.text] for c in chunks], dtype=np.float32)
        sentence_vectors = [np.asarray([vectors[s.text] for s in c.sentences], dtype=np.float32) for c in chunks]
        return chunk_vectors, sentence_vectors

    # --- ask ----------------------------------------------------------------------

    def clean_question(self, question: str) -> str:
        cleaned = " ".join(normalize_spaces(strip_controls(question or "")).split())
        if not cleaned:
            raise InputError("the question is empty")
        if len(cleaned) > self.settings.max_question_chars:
            raise InputError(
                f"the question is too long ({len(cleaned)} characters; the limit is "
                f"{self.settings.max_question_chars}): ask it in fewer words"
            )
        return cleaned

    def ask(self, question: str, *, k: int | None = None, mode: Mode | None = None,
            filters: Filters | None = None, history: Sequence[tuple[str, str]] = ()) -> Answer:
        answer: Answer | None = None
        for event in self.ask_stream(question, k=k, mode=mode, filters=filters, history=history):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def ask_stream(self, question: str, *, k: int | None = None, mode: Mode | None = None,
                   filters: Filters | None = None, history: Sequence[tuple[str, str]] = ()) -> Iterator[str | Answer]:
        """Yield text deltas as they come (llm mode), then the final :class:`Answer`."""
        started = time.perf_counter()
        question = self.clean_question(question)
        resolved = self.settings.resolved_mode(mode)
        k = k or self.settings.k
        view = self._refresh()
        lang = detect_question_language(question)

        search_question = question
        if resolved == "llm" and history:
            search_question = self._llm_answerer().condense(question, history)
        vector = self.embedder.embed_query(search_question)
        hits = HybridRetriever(self._open_store(create=False), view).retrieve(search_question, vector, lang, k, filters)
        retrieved = time.perf_counter()

        if not view.live:
            answer = Answer(question, localized(NO_DOCUMENTS_INDEXED, lang), True, resolved)
        elif resolved == "extractive":
            sentence_vectors = self._open_store(create=False).sentence_vectors([h.chunk for h in hits])
            draft = ExtractiveAnswerer(view.lexical.has_term).answer(question, lang, vector, hits, sentence_vectors)
            answer = Answer(question, draft.text, draft.abstained, "extractive", draft.citations)
        else:
            draft = None
            for event in self._llm_answerer().stream(question, lang, hits):
                if isinstance(event, str):
                    yield event
                else:
                    draft = event
            assert draft is not None
            answer = Answer(question, draft.text, draft.abstained, "llm", draft.citations)
        finished = time.perf_counter()
        answer.hits = hits
        answer.timings_ms = {
            "retrieve": (retrieved - started) * 1000,
            "answer": (finished - retrieved) * 1000,
            "total": (finished - started) * 1000,
        }
        yield answer

    def _llm_answerer(self):  # type: ignore[no-untyped-def]
        if self._llm is None:
            from rag.llm import LLMAnswerer

            self._llm = LLMAnswerer(self.settings)
        return self._llm

    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None,
                 use_lexical: bool = True):  # type: ignore[no-untyped-def]
        """Retrieval alone (for evals and benchmarks): the ranked hits."""
        question = self.clean_question(question)
        view = self._refresh()
        vector = self.embedder.embed_query(question)
        retriever = HybridRetriever(self._open_store(create=False), view)
        return retriever.retrieve(question, vector, detect_question_language(question), k or self.settings.k,
                                  filters, use_lexical=use_lexical)

    # --- stats --------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        store = self._open_store(create=False)
        records = store.documents()
        languages: dict[str, int] = {}
        for record in records.values():
            languages[record.lang] = languages.get(record.lang, 0) + 1
        return {
            "documents": len(records),
            "chunks": sum(r.chunks for r in records.values()),
            "languages": dict(sorted(languages.items())),
            "sources": sorted(r.source for r in records.values()),
            "embedding_model": self.embedder.model_id,
            "store": self.settings.chroma_url or str(self.settings.home / "chroma"),
            "version": store.version(),
        }


def iter_batch_questions(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, object]]]:
    """Parse ``--batch`` JSON lines: (line number, object with at least "question")."""
    from rag.jsonl import json_lines

    for number, item, error in json_lines(lines):
        if error:
            raise InputError(f"line {number}: {error}")
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise InputError(f'line {number}: expected an object with a "question" string')
        yield number, item
