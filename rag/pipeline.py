"""The library API that the CLI, the UI and the eval harness all call.

    pipeline = Pipeline(Settings.from_env())
    pipeline.ingest(["seeds/"])            # -> IngestReport
    answer = pipeline.ask("Who co-founded Alibaba?")   # -> Answer
    for event in pipeline.ask_stream(q):   # str deltas, then the final Answer
        ...
    pipeline.delete("notes.md")            # -> FileOutcome(status="deleted")

Ingest is crash-safe: a document's chunks are written first, then its record
(the commit), then its old chunks are deleted; queries only see chunks whose
document record carries the same content hash. An ingest marks itself under
way in the store; the next one, finding the mark of a killed run, first deletes
every chunk no committed document owns. The BM25 side is updated with the
chunks added and removed after any change and tagged with the store version.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from rag.answer.draft import Draft
from rag.answer.verify import Verifier, final_draft, finalize
from rag.answer.extractive import ExtractiveAnswerer, with_short_answer
from rag.answer.followup import with_previous_names
from rag.answer.model import load_model
from rag.config import Mode, Settings
from rag.errors import InputError
from rag.extractive import ExtractiveAnswerer as RuleAnswerer
from rag.faults import FaultPlan
from rag.lexical import Item, LexicalIndex
from rag.locking import IngestLock
from rag.messages import NO_DOCUMENTS_INDEXED, localized
from rag.retrieval import CorpusView, Filters, HybridRetriever
from rag.store import DocRecord, Store
from rag.text import detect_question_language, normalize_spaces, strip_controls
from rag.types import Answer, Chunk, Document, FileOutcome, IngestReport

Progress = Callable[[int, int, str], None]  # (done, total, current file)

UPLOADS_DIR = "uploads"  # under the index dir: the UI's copies of uploaded files


@dataclass
class _Writes:
    """Whether this ingest has started writing. Before the first write the store is marked
    "ingest under way" and its version moves on (``Store.begin_writes``): an ingest that writes
    nothing leaves the index, its version and its caches as they were."""

    store: Store
    faults: FaultPlan
    home: Path
    started: bool = False

    def before_write(self) -> None:
        if not self.started:
            self.store.begin_writes()
            self.started = True
            self.checkpoint("begin")

    def checkpoint(self, step: str) -> None:
        self.faults.checkpoint(step, self.home)


@dataclass
class _Pending:
    """A new or changed document, chunked, waiting to be embedded and written."""

    doc: Document
    replaces: bool
    chunks: list[Chunk]
    reusable: dict[str, np.ndarray]

    @property
    def texts(self) -> int:
        return sum(1 + len(c.sentences) for c in self.chunks)


class Pipeline:
    """One index, one embedding model, shared by every question (thread-safe reads)."""

    def __init__(self, settings: Settings) -> None:
        from rag.embedding import make_embedder

        self.settings = settings
        self.embedder = make_embedder(settings)
        self._faults = FaultPlan.parse(settings.fault_at)
        self._store: Store | None = None
        self._view: CorpusView | None = None
        self._view_provisional = False  # read while an ingest was under way: never reused
        self._refresh_lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._llm = None
        # The document records of the last version this process read or wrote: adding a file
        # to a big index in a long-lived process (the UI) skips re-reading documents.json.
        self._records_seen: tuple[int, dict[str, DocRecord]] | None = None

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
        """The current view of the corpus; reloaded (and BM25 rebuilt if stale) when the store moved on.

        While an ingest is under way (another process writing, or one killed while writing) its
        documents are committed one batch after another under one store version, so the view is
        read afresh every time: each newly committed document is seen at the next question."""
        store = self._open_store(create=False)
        version, under_way = store.state()
        view = self._view
        if view is not None and view.version == version and not under_way and not self._view_provisional:
            return view
        with self._refresh_lock:
            if under_way:
                return self._provisional_view(store, version)
            if self._view is None or self._view.version != version or self._view_provisional:
                self._view = self._load_view(store, version)
                self._view_provisional = False
            return self._view

    def _provisional_view(self, store: Store, version: int) -> CorpusView:
        """The view while an ingest is under way: the committed records read from the store, and
        the last BM25 index there is (of an older version; it only adds candidates and name rarity,
        and retrieval keeps only chunks of live document versions). Nothing is saved."""
        records = store.documents()
        lexical = self._view.lexical if self._view is not None else LexicalIndex.load(self._bm25_dir)
        if lexical is None:
            live = {doc_id: rec.sha256 for doc_id, rec in records.items()}
            lexical = LexicalIndex.build(self._live_items(store, live), version)
        self._view = self._view_of(records, lexical, version)
        self._view_provisional = True
        return self._view

    def _load_view(self, store: Store, version: int, lexical: LexicalIndex | None = None,
                   records: dict[str, DocRecord] | None = None) -> CorpusView:
        records = records if records is not None else self._records(store, version)
        live = {doc_id: rec.sha256 for doc_id, rec in records.items()}
        if lexical is None or lexical.version != version:
            lexical = LexicalIndex.load(self._bm25_dir)
        if lexical is None or lexical.version != version:
            lexical = self._rebuild_lexical(store, live, version)
        return self._view_of(records, lexical, version)

    @staticmethod
    def _view_of(records: dict[str, DocRecord], lexical: LexicalIndex, version: int) -> CorpusView:
        live = {doc_id: rec.sha256 for doc_id, rec in records.items()}
        languages = tuple(sorted({rec.lang for rec in records.values()}))
        return CorpusView(live, languages, lexical, version, sum(rec.chunks for rec in records.values()))

    @property
    def _records_path(self) -> Path:
        return self.settings.home / "documents.json"

    def _records(self, store: Store, version: int) -> dict[str, DocRecord]:
        """The committed document records of this (settled) store version. Kept in a file tagged
        with the version, so a cold `rag ask` or a small ingest on a big index does not page through
        every record in Chroma. The file describes a version only if no ingest was under way from
        before the records were read to after (a reader during an ingest would otherwise freeze a
        half-committed list that a later clean-up trusts: RELIABILITY.md, D1). While one is under
        way, callers read ``store.documents()`` instead. Callers must not change the dict returned."""
        if self._records_seen is not None and self._records_seen[0] == version:
            return self._records_seen[1]
        try:
            saved = json.loads(self._records_path.read_text(encoding="utf-8"))
            if saved.get("version") == version:
                records = {doc_id: DocRecord(doc_id, *fields) for doc_id, fields in saved["records"].items()}
                self._records_seen = (version, records)
                return records
        except (OSError, ValueError, KeyError, TypeError):
            pass
        records = store.documents()
        if store.state() == (version, False):  # settled before and after the read
            self._save_records(records, version)
        return records

    def _save_records(self, records: dict[str, DocRecord], version: int) -> None:
        fields = {doc_id: [r.source, r.path, r.sha256, r.lang, r.title, r.chunks, r.chars] for doc_id, r in records.items()}
        _write_atomically(self._records_path, json.dumps({"version": version, "records": fields}))
        self._records_seen = (version, records)

    def _rebuild_lexical(self, store: Store, live: dict[str, str], version: int) -> LexicalIndex:
        return self._save_lexical(LexicalIndex.build(self._live_items(store, live), version))

    @staticmethod
    def _live_items(store: Store, live: dict[str, str]) -> Iterator[Item]:
        return ((s.chunk.chunk_id, s.chunk.text, s.chunk.lang) for s in store.iter_chunks()
                if live.get(s.chunk.doc_id) == s.doc_sha)

    def _update_lexical(self, store: Store, before: int, version: int, added: list[Item],
                        removed: list[str]) -> LexicalIndex:
        """The BM25 side after an ingest: updated in place if it mirrored the store before it."""
        current = self._view.lexical if self._view is not None else LexicalIndex.load(self._bm25_dir)
        if current is not None and current.version != before:
            current = LexicalIndex.load(self._bm25_dir)
        updated = None
        if current is not None and current.version == before:
            updated = current.updated(added, removed, version)
        if updated is None:
            records = store.documents()
            return self._rebuild_lexical(store, {d: r.sha256 for d, r in records.items()}, version)
        return self._save_lexical(updated)

    def _save_lexical(self, lexical: LexicalIndex) -> LexicalIndex:
        try:
            lexical.save(self._bm25_dir)
        except OSError:
            pass  # a read-only index dir still answers, from the in-memory index
        return lexical

    # --- ingest -------------------------------------------------------------------

    def ingest(self, paths: Sequence[object], prune: bool = False, progress: Progress | None = None) -> IngestReport:
        """Index files and folders, and ready-made documents (rag's or LlamaIndex's) given among them."""
        from rag.loading import Skipped, discover, load_all, split_documents

        started = time.perf_counter()
        paths, given = split_documents(paths)  # documents given as objects are not read from disk
        found, skipped = discover(paths)
        report = IngestReport(files=[FileOutcome(s.path, "skipped", reason=s.reason) for s in skipped])
        with IngestLock(self.settings.home):
            store = self._open_store(create=True)
            version_before, rebuild = store.state()  # rebuild: a killed ingest may have left chunks no document owns
            # After a killed ingest, only the store's own records say what is committed (never a cache).
            before = store.documents() if rebuild else self._records(store, version_before)
            records = dict(before)  # kept up to date as documents are committed and pruned
            writes = _Writes(store, self._faults, self.settings.home)
            timings = {"load": 0.0, "chunk": 0.0, "embed": 0.0, "store": 0.0, "lexical": 0.0}
            added: list[Item] = []
            removed: list[str] = []
            if rebuild:
                writes.before_write()
                removed += store.delete_uncommitted_chunks({d: r.sha256 for d, r in before.items()})
                report.chunks_removed += len(removed)
                writes.checkpoint("cleaned")
            damaged = self._damaged_documents(store, before)
            given_ids = {item.doc_id for item in given if isinstance(item, Document)}
            files = [*self._with_damaged_files(found, damaged, given_ids, report), *given]
            seen: set[str] = set()
            pending: list[_Pending] = []
            t = time.perf_counter()
            for i, item in enumerate(load_all(files, self.settings.max_file_mb * 1024 * 1024)):
                timings["load"] += time.perf_counter() - t
                if progress:
                    progress(i, len(files), item.path if isinstance(item, Skipped) else item.source)
                if isinstance(item, Skipped):
                    report.files.append(FileOutcome(item.path, "skipped", reason=item.reason))
                else:
                    seen.add(item.doc_id)
                    previous = None if item.doc_id in damaged else before.get(item.doc_id)
                    outcome = self._prepare_document(store, item, previous, report, timings, pending)
                    if item.doc_id in damaged and outcome.status == "added":
                        outcome.status = "repaired"
                    report.files.append(outcome)
                    if sum(p.texts for p in pending) >= self.settings.ingest_batch_texts:
                        self._write_documents(writes, pending, report, timings, added, removed, records)
                        pending = []
                t = time.perf_counter()
            self._write_documents(writes, pending, report, timings, added, removed, records)
            if progress:
                progress(len(files), len(files), "")
            if prune:
                for doc_id, record in before.items():
                    if doc_id not in seen and not Path(record.path).exists():
                        writes.before_write()
                        gone = store.delete_document(doc_id)
                        records.pop(doc_id, None)
                        removed += gone
                        report.chunks_removed += len(gone)
                        report.files.append(FileOutcome(record.path, "pruned", chunks=record.chunks))
            t = time.perf_counter()
            if writes.started:
                writes.checkpoint("end")
                version = store.end_writes()
                if rebuild:
                    records = store.documents()
                    lexical = self._rebuild_lexical(store, {d: r.sha256 for d, r in records.items()}, version)
                else:
                    lexical = self._update_lexical(store, version_before, version, added, removed)
                self._save_records(records, version)
                self._view = self._load_view(store, version, lexical, records)
            elif not self._bm25_dir.exists():
                self._view = self._load_view(store, version_before, None, records)
            timings["lexical"] += time.perf_counter() - t
        report.timings_s = {k: round(v, 3) for k, v in timings.items()}
        report.seconds = time.perf_counter() - started
        return report

    @staticmethod
    def _damaged_documents(store: Store, records: dict[str, DocRecord]) -> dict[str, DocRecord]:
        """Committed documents whose chunks are (partly) missing from the store: ingested again
        rather than called unchanged, so a damaged index heals. The totals are compared on every
        ingest (two counts); the per-document scan runs only when chunks are missing."""
        if not records or store.chunk_count() >= sum(r.chunks for r in records.values()):
            return {}
        counts = store.live_chunk_counts({doc_id: r.sha256 for doc_id, r in records.items()})
        return {doc_id: r for doc_id, r in records.items() if counts.get(doc_id, 0) < r.chunks}

    @staticmethod
    def _with_damaged_files(files: list[Path], damaged: dict[str, DocRecord], given_ids: set[str],
                            report: IngestReport) -> list[Path]:
        """This run's files plus those of damaged documents it was not given (read from where they
        were ingested); a damaged document whose file is gone is reported and left as it is."""
        from rag.loading import doc_id_for

        given = {doc_id_for(path) for path in files} | given_ids
        extra: list[Path] = []
        for doc_id, record in damaged.items():
            if doc_id in given:
                continue
            if Path(record.path).is_file():
                extra.append(Path(record.path))
            else:
                report.files.append(FileOutcome(record.path, "skipped", reason=(
                    f"damaged in the index ({record.chunks} chunks recorded, some missing) and the file is gone: "
                    "ingest it again from where it is now")))
        return sorted(set(files) | set(extra))

    def _prepare_document(self, store: Store, doc: Document, previous, report: IngestReport,  # type: ignore[no-untyped-def]
                          timings: dict[str, float], pending: list["_Pending"]) -> FileOutcome:
        """Chunk a new or changed document and queue it for writing; an unchanged one costs nothing."""
        from rag.chunking import chunk_document

        if previous is not None and previous.sha256 == doc.sha256:
            report.chunks_unchanged += previous.chunks
            return FileOutcome(doc.path, "unchanged", chunks=previous.chunks)

        t = time.perf_counter()
        chunks = chunk_document(doc, self.settings.chunk_tokens, self.settings.chunk_overlap_tokens)
        timings["chunk"] += time.perf_counter() - t
        t = time.perf_counter()
        reusable = store.reusable_embeddings(doc) if previous is not None else {}
        timings["store"] += time.perf_counter() - t
        pending.append(_Pending(doc, previous is not None, chunks, reusable))
        report.chunks_added += len(chunks)
        return FileOutcome(doc.path, "added" if previous is None else "replaced", chunks=len(chunks))

    def _write_documents(self, writes: "_Writes", pending: list["_Pending"], report: IngestReport,
                         timings: dict[str, float], added: list[Item], removed: list[str],
                         records: dict[str, DocRecord]) -> None:
        """Embed and store queued documents together (fewer, larger model and Chroma calls), then
        commit them: chunks first, then the document records, then the replaced versions' chunks."""
        if not pending:
            return
        store = writes.store
        t = time.perf_counter()
        chunks = [chunk for p in pending for chunk in p.chunks]
        chunk_vectors, sentence_vectors = self._embed_documents(pending)
        timings["embed"] += time.perf_counter() - t

        t = time.perf_counter()
        writes.before_write()
        store.add_chunks(chunks, [p.doc.sha256 for p in pending for _ in p.chunks], chunk_vectors, sentence_vectors)
        writes.checkpoint("chunks-written")
        commits, start = [], 0
        for p in pending:
            doc_vector = chunk_vectors[start : start + len(p.chunks)].mean(axis=0)
            commits.append((p.doc, len(p.chunks), doc_vector / max(float(np.linalg.norm(doc_vector)), 1e-12)))
            start += len(p.chunks)
        store.commit_documents(commits)
        writes.checkpoint("committed")
        records.update((p.doc.doc_id, DocRecord.of(p.doc, len(p.chunks))) for p in pending)
        for p in pending:
            # Chunks of the version replaced (a new document has none: what a killed run left
            # behind was swept when this ingest began).
            if p.replaces:
                stale = store.delete_stale_chunks(p.doc.doc_id, p.doc.sha256)
                removed.extend(stale)
                report.chunks_removed += len(stale)
        timings["store"] += time.perf_counter() - t
        added.extend((c.chunk_id, c.text, c.lang) for c in chunks)

    def _embed_documents(self, pending: list["_Pending"]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed the queued documents' chunk and sentence texts in one call: each distinct text
        of a document once, none whose vector that document already has stored. (Texts are not
        shared across documents: the benchmark's synthetic corpora repeat sentences across files
        far more than real ones, and its model-alone figures assume per-document texts.)"""
        per_document = [
            [t for t in dict.fromkeys(text for c in p.chunks for text in (c.text, *(s.text for s in c.sentences)))
             if t not in p.reusable]
            for p in pending
        ]
        embedded = iter(self.embedder.embed_passages([t for texts in per_document for t in texts]))
        chunk_vectors: list[np.ndarray] = []
        sentence_vectors: list[np.ndarray] = []
        for p, texts in zip(pending, per_document):
            vectors = dict(p.reusable) | {text: next(embedded) for text in texts}
            chunk_vectors.extend(vectors[c.text] for c in p.chunks)
            sentence_vectors.extend(np.asarray([vectors[s.text] for s in c.sentences], dtype=np.float32)
                                    for c in p.chunks)
        return np.asarray(chunk_vectors, dtype=np.float32), sentence_vectors

    # --- delete -------------------------------------------------------------------

    @property
    def uploads_dir(self) -> Path:
        """Where the UI copies uploaded files: a document deleted from here loses its file too."""
        return self.settings.home / UPLOADS_DIR

    def documents(self) -> list[DocRecord]:
        """The indexed documents (file name, path, title, language, chunks), by file name then path."""
        store = self._open_store(create=False)
        records = self._records(store, store.version())
        return sorted(records.values(), key=lambda r: (r.source, r.path))

    def delete(self, name: str | Path) -> FileOutcome:
        """Remove one document (named by its file name, or its path if the name is shared) from the
        index: its record, its chunks and their BM25 entries; and its file if it is an upload.

        Crash-safe like ingest: the store is marked "writes under way" first, and the record goes
        before the chunks, so a run killed half-way leaves chunks no document owns, which readers
        ignore and the next ingest or delete sweeps."""
        store = self._open_store(create=False)  # no index: one clear error, and no empty index dir made
        with IngestLock(self.settings.home):
            version_before = store.version()
            records = dict(self._records(store, version_before))
            record = _find_document(records, name)
            interrupted = store.interrupted_ingest()
            store.begin_writes()
            removed = store.delete_document(record.doc_id)
            records.pop(record.doc_id)
            if interrupted:  # a killed run left chunks behind: sweep them now, as an ingest would
                removed += store.delete_uncommitted_chunks({d: r.sha256 for d, r in records.items()})
            version = store.end_writes()
            if interrupted:
                lexical = self._rebuild_lexical(store, {d: r.sha256 for d, r in records.items()}, version)
            else:
                lexical = self._update_lexical(store, version_before, version, [], removed)
            self._save_records(records, version)
            self._view = self._load_view(store, version, lexical, records)
        self._remove_upload(Path(record.path))
        return FileOutcome(record.path, "deleted", chunks=record.chunks)

    def _remove_upload(self, path: Path) -> None:
        """Delete the file of a deleted document if (and only if) it is a copy in the uploads folder."""
        uploads = self.uploads_dir.resolve()
        resolved = path.resolve()
        if resolved.parent == uploads and resolved.is_file():
            resolved.unlink(missing_ok=True)

    def document_text(self, name: str | Path) -> str:
        """A document's indexed text, rebuilt from its stored chunks at their offsets (so a citation's
        ``start``/``end`` point into it); whitespace between two chunks that neither holds is a space."""
        store = self._open_store(create=False)
        record = _find_document(self._records(store, store.version()), name)
        chunks = store.document_chunks(record.doc_id, record.lang, record.sha256)
        length = max([record.chars, *(c.end for c in chunks)])
        text = [" "] * length
        for chunk in chunks:
            text[chunk.start : chunk.end] = chunk.text
        return "".join(text).rstrip()

    # --- ask ----------------------------------------------------------------------

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
        answer: Answer | None = None
        for event in self.ask_stream(question, k=k, mode=mode, filters=filters, history=history,
                                     llm_options=llm_options):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def ask_stream(self, question: str, *, k: int | None = None, mode: Mode | None = None,
                   filters: Filters | None = None, history: Sequence[tuple[str, str]] = (),
                   llm_options: Mapping[str, Any] | None = None) -> Iterator[str | Answer]:
        """Yield text deltas as they come (llm mode), then the final :class:`Answer`. ``llm_options``
        (temperature, max_tokens...: ``rag.llm.LLM_OPTIONS``) go to the chat model in llm mode."""
        started = time.perf_counter()
        question = self.clean_question(question)
        resolved = self.settings.resolved_mode(mode)
        k = k or self.settings.k
        view = self._refresh()
        lang = detect_question_language(question)

        search_question = question
        if resolved == "llm" and history:
            search_question = self._llm_answerer().condense(question, history)
        elif history and "followup_names" not in self.settings.answer_rules_off:
            search_question = with_previous_names(question, history)
        vector = self.embedder.embed_query(search_question)
        hits = HybridRetriever(self._open_store(create=False), view).retrieve(search_question, vector, lang, k, filters)
        retrieved = time.perf_counter()

        if not view.live:
            answer = Answer(question, localized(NO_DOCUMENTS_INDEXED, lang), True, resolved)
        elif resolved == "extractive":
            draft = self._extractive_draft(view, search_question, lang, vector, hits)
            answer = Answer(question, draft.text, draft.abstained, "extractive", draft.citations,
                            short_answer=draft.short_answer)
        else:
            draft = None
            for event in self._llm_answerer().stream(question, lang, hits, llm_options):
                if isinstance(event, str):
                    yield event
                else:
                    draft = event
            assert draft is not None
            answer = Answer(question, draft.text, draft.abstained, "llm", draft.citations)
        answer.hits = hits
        if view.live:  # claims checked against their sources, the LLM's language too (rag.answer.verify)
            answer = finalize(answer, lang, self._verifier(), self.settings.verify, None if resolved != "llm" else
                              lambda note: final_draft(self._llm_answerer().stream(question, lang, hits, llm_options, note)))
        finished = time.perf_counter()
        answer.hits = hits
        answer.timings_ms = {
            "retrieve": (retrieved - started) * 1000,
            "answer": (finished - retrieved) * 1000,
            "total": (finished - started) * 1000,
        }
        yield answer

    def _extractive_draft(self, view: CorpusView, question: str, lang: str, vector: np.ndarray,
                          hits: list) -> Draft:  # type: ignore[type-arg]
        """The learned answerer's draft, or the rules' with the learned short answer (``Settings.answerer``)."""
        def learned() -> ExtractiveAnswerer:  # loaded only when used: the default is the rules answerer
            return ExtractiveAnswerer(view.lexical.idf, load_model(self.settings.answer_weights or None),
                                      self.settings.answer_rules_off)

        if self.settings.answerer == "learned":
            return learned().answer(question, lang, vector, hits)
        vectors = {h.chunk.chunk_id: h.sentence_vectors for h in hits if h.sentence_vectors is not None}
        draft = RuleAnswerer(view.lexical.has_term).answer(question, lang, vector, hits, vectors)
        if draft.abstained or not draft.citations or "short_answer" in self.settings.answer_rules_off:
            return draft
        return with_short_answer(draft, learned().short_answer_for(question, draft.citations[0].text, vector))

    def _verifier(self) -> Verifier:
        return Verifier(self.embedder, self.settings.verify_off)

    def _llm_answerer(self):  # type: ignore[no-untyped-def]
        if self._llm is None:
            from rag.llm import LLMAnswerer

            self._llm = LLMAnswerer(self.settings)
        return self._llm

    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None,
                 use_lexical: bool = True, use_sentences: bool = True):  # type: ignore[no-untyped-def]
        """Retrieval alone (for evals and benchmarks): the ranked hits."""
        question = self.clean_question(question)
        view = self._refresh()
        vector = self.embedder.embed_query(question)
        retriever = HybridRetriever(self._open_store(create=False), view)
        return retriever.retrieve(question, vector, detect_question_language(question), k or self.settings.k,
                                  filters, use_lexical=use_lexical, use_sentences=use_sentences)

    # --- stats --------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        store = self._open_store(create=False)
        version, under_way = store.state()
        records = store.documents() if under_way else self._records(store, version)
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
            "version": version,
        }


def _find_document(records: dict[str, DocRecord], name: str | Path) -> DocRecord:
    """The one indexed document a user means: by path (absolute or relative), else by file name."""
    wanted = str(name).strip()
    if not wanted:
        raise InputError("name the document: its file name as `rag stats --json` lists it, or its path")
    resolved = str(Path(wanted).expanduser().resolve())
    for record in records.values():
        if record.path in (wanted, resolved):
            return record
    named = sorted((r for r in records.values() if r.source == wanted), key=lambda r: r.path)
    if len(named) == 1:
        return named[0]
    if not named:
        raise InputError(f"no indexed document is called {wanted}: `rag stats --json` lists the indexed files")
    raise InputError(f"{len(named)} indexed documents are called {wanted}: give its path "
                     f"({', '.join(r.path for r in named)})")


def _write_atomically(path: Path, text: str) -> None:
    """Write a derived file (a cache) whole or not at all; a read-only index dir just skips it."""
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def iter_batch_questions(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, object]]]:
    """Parse ``--batch`` JSON lines: (line number, object with at least "question")."""
    from rag.jsonl import json_lines

    for number, item, error in json_lines(lines):
        if error:
            raise InputError(f"line {number}: {error}")
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise InputError(f'line {number}: expected an object with a "question" string')
        yield number, item
