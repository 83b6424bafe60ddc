"""The crash-safe ingest and delete protocol (ARCHITECTURE.md, "Ingest, step by step").

A document's chunks are written first, then its record (the commit), then its old chunks are
deleted; queries only see chunks whose document record carries the same content hash. An ingest
marks itself under way in the store; the next one, finding the mark of a killed run, first deletes
every chunk no committed document owns. The BM25 side is updated with the chunks added and removed
after any change and tagged with the store version.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from rag.config import BuiltChunkVectors, Settings
from rag.embedding import Embedder
from rag.errors import InputError
from rag.index.corpus import Corpus, live_map
from rag.index.lexical import Item
from rag.index.locking import IngestLock
from rag.index.store import DocRecord, Store
from rag.ingest.faults import FaultPlan
from rag.ingest.loading import Skipped
from rag.types import Chunk, Document, FileOutcome, IngestReport

Progress = Callable[[int, int, str], None]  # (done, total, current file)


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


@dataclass
class _Changes:
    """What this ingest wrote, for the BM25 update and the records saved at the end."""

    records: dict[str, DocRecord]  # kept up to date as documents are committed and pruned
    added: list[Item] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("load", "chunk", "embed", "store", "lexical"), 0.0))


class _Ingest:
    """One ingest under the index lock: clean-up after a killed run, repair, batches, prune, commit."""

    def __init__(self, settings: Settings, embedder: Embedder, corpus: Corpus, store: Store,
                 faults: FaultPlan) -> None:
        self.settings = settings
        self.embedder = embedder
        self.corpus = corpus
        self.store = store
        self.writes = _Writes(store, faults, settings.home)
        self.chunk_vectors: BuiltChunkVectors = "embedded"

    def run(self, found: list[Path], given: Sequence[Document | Skipped], report: IngestReport, prune: bool,
            progress: Progress | None) -> None:
        store = self.store
        self.chunk_vectors = store.check_chunk_vectors()  # the index's recorded mode
        version_before, rebuild = store.state()  # rebuild: a killed ingest may have left chunks no document owns
        # After a killed ingest, only the store's own records say what is committed (never a cache).
        before = store.documents() if rebuild else self.corpus.records.read(store, version_before)
        changes = _Changes(dict(before))
        if rebuild:
            self.writes.before_write()
            changes.removed += store.delete_uncommitted_chunks(live_map(before))
            report.chunks_removed += len(changes.removed)
            self.writes.checkpoint("cleaned")
        damaged = _damaged_documents(store, before)
        given_ids = {item.doc_id for item in given if isinstance(item, Document)}
        files = [*_with_damaged_files(found, damaged, given_ids, report), *given]
        seen = self._load_and_write(files, before, damaged, changes, report, progress)
        if prune:
            self._prune(before, seen, changes, report)
        self._finish(version_before, rebuild, changes)
        report.timings_s = {k: round(v, 3) for k, v in changes.timings.items()}

    def _load_and_write(self, files: list[Path | Document | Skipped], before: dict[str, DocRecord], damaged: dict[str, DocRecord],
                        changes: _Changes, report: IngestReport, progress: Progress | None) -> set[str]:
        """Load each file, queue the new or changed ones and write them batch by batch."""
        from rag.ingest.loading import load_all

        timings = changes.timings
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
                outcome = self._prepare_document(item, previous, report, timings, pending)
                if item.doc_id in damaged and outcome.status == "added":
                    outcome.status = "repaired"
                report.files.append(outcome)
                if sum(p.texts for p in pending) >= self.settings.ingest_batch_texts:
                    self._write_documents(pending, report, changes)
                    pending = []
            t = time.perf_counter()
        self._write_documents(pending, report, changes)
        if progress:
            progress(len(files), len(files), "")
        return seen

    def _prune(self, before: dict[str, DocRecord], seen: set[str], changes: _Changes, report: IngestReport) -> None:
        """``--prune``: drop the documents whose files are gone."""
        for doc_id, record in before.items():
            if doc_id not in seen and not Path(record.path).exists():
                self.writes.before_write()
                gone = self.store.delete_document(doc_id)
                changes.records.pop(doc_id, None)
                changes.removed += gone
                report.chunks_removed += len(gone)
                report.files.append(FileOutcome(record.path, "pruned", chunks=record.chunks))

    def _finish(self, version_before: int, rebuild: bool, changes: _Changes) -> None:
        """If anything was written: move the version on, update (or rebuild) BM25, save the records."""
        store, corpus = self.store, self.corpus
        t = time.perf_counter()
        if self.writes.started:
            self.writes.checkpoint("end")
            version = store.end_writes()
            records = changes.records
            if rebuild:
                records = store.documents()
                lexical = corpus.rebuild_lexical(store, live_map(records), version)
            else:
                lexical = corpus.update_lexical(store, version_before, version, changes.added, changes.removed)
            corpus.settle(store, version, lexical, records)
        elif not corpus.bm25_dir.exists():
            corpus.current = corpus.load(store, version_before, None, changes.records)
        changes.timings["lexical"] += time.perf_counter() - t

    def _prepare_document(self, doc: Document, previous: DocRecord | None, report: IngestReport,
                          timings: dict[str, float], pending: list[_Pending]) -> FileOutcome:
        """Chunk a new or changed document and queue it for writing; an unchanged one costs nothing."""
        from rag.ingest.chunking import chunk_document

        if previous is not None and previous.sha256 == doc.sha256:
            report.chunks_unchanged += previous.chunks
            return FileOutcome(doc.path, "unchanged", chunks=previous.chunks)

        t = time.perf_counter()
        chunks = chunk_document(doc, self.settings.chunk_tokens, self.settings.chunk_overlap_tokens)
        timings["chunk"] += time.perf_counter() - t
        t = time.perf_counter()
        reusable = self.store.reusable_embeddings(doc) if previous is not None else {}
        timings["store"] += time.perf_counter() - t
        pending.append(_Pending(doc, previous is not None, chunks, reusable))
        report.chunks_added += len(chunks)
        return FileOutcome(doc.path, "added" if previous is None else "replaced", chunks=len(chunks))

    def _write_documents(self, pending: list[_Pending], report: IngestReport, changes: _Changes) -> None:
        """Embed and store queued documents together (fewer, larger model and Chroma calls), then
        commit them: chunks first, then the document records, then the replaced versions' chunks."""
        if not pending:
            return
        store, writes, timings = self.store, self.writes, changes.timings
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
        changes.records.update((p.doc.doc_id, DocRecord.of(p.doc, len(p.chunks))) for p in pending)
        for p in pending:
            # Chunks of the version replaced (a new document has none: what a killed run left
            # behind was swept when this ingest began).
            if p.replaces:
                stale = store.delete_stale_chunks(p.doc.doc_id, p.doc.sha256)
                changes.removed.extend(stale)
                report.chunks_removed += len(stale)
        timings["store"] += time.perf_counter() - t
        changes.added.extend(Item.of(c) for c in chunks)

    def _embed_documents(self, pending: list[_Pending]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed the queued documents' texts in one call: each distinct text of a document once,
        none whose vector that document already has stored. (Texts are not shared across
        documents: the benchmark's synthetic corpora repeat sentences across files far more than
        real ones, and its model-alone figures assume per-document texts.) For
        an index built with ``chunk_vectors="sentence_mean"`` only the sentences are embedded (see
        ``embedded_texts``)."""
        derived = self.chunk_vectors == "sentence_mean"
        per_document = [[t for t in embedded_texts(p.chunks, derived) if t not in p.reusable] for p in pending]
        embedded = iter(self.embedder.embed_passages([t for texts in per_document for t in texts]))
        chunk_vectors: list[np.ndarray] = []
        sentence_vectors: list[np.ndarray] = []
        for p, texts in zip(pending, per_document):
            vectors = dict(p.reusable) | {text: next(embedded) for text in texts}
            for c in p.chunks:
                sentences = np.asarray([vectors[s.text] for s in c.sentences], dtype=np.float32)
                sentence_vectors.append(sentences)
                chunk_vectors.append(sentence_mean(sentences) if derived and len(sentences) else vectors[c.text])
        return np.asarray(chunk_vectors, dtype=np.float32), sentence_vectors


def embedded_texts(chunks: Sequence[Chunk], sentences_only: bool) -> list[str]:
    """The distinct texts an ingest embeds for one document's chunks, in order: each chunk and
    its sentences, or (sentences_only) its sentences alone, a chunk without any by its own text."""
    texts: list[str] = []
    for c in chunks:
        if not sentences_only or not c.sentences:
            texts.append(c.text)
        texts.extend(s.text for s in c.sentences)
    return list(dict.fromkeys(texts))


def sentence_mean(vectors: np.ndarray) -> np.ndarray:
    """A chunk vector from its sentences' (normalized) vectors: their mean, normalized again."""
    mean = vectors.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def ingest(settings: Settings, embedder: Embedder, corpus: Corpus, open_store: Callable[[bool], Store],
           faults: FaultPlan, paths: Sequence[object], prune: bool = False,
           progress: Progress | None = None) -> IngestReport:
    """Index files and folders, and ready-made documents (rag's or LlamaIndex's) given among them."""
    from rag.ingest.loading import discover, split_documents

    started = time.perf_counter()
    files, given = split_documents(paths)  # documents given as objects are not read from disk
    found, skipped = discover(files)
    report = IngestReport(files=[FileOutcome(s.path, "skipped", reason=s.reason) for s in skipped])
    with IngestLock(settings.home):
        _Ingest(settings, embedder, corpus, open_store(True), faults).run(found, given, report, prune, progress)
    report.seconds = time.perf_counter() - started
    return report


def delete(settings: Settings, corpus: Corpus, store: Store, name: str | Path) -> DocRecord:
    """Remove one document's record, chunks and BM25 entries (crash-safe like ingest: the store is
    marked "writes under way" first, and the record goes before the chunks, so a run killed half-way
    leaves chunks no document owns, which readers ignore and the next ingest or delete sweeps)."""
    with IngestLock(settings.home):
        version_before = store.version()
        records = dict(corpus.records.read(store, version_before))
        record = find_document(records, name)
        interrupted = store.interrupted_ingest()
        store.begin_writes()
        removed = store.delete_document(record.doc_id)
        records.pop(record.doc_id)
        if interrupted:  # a killed run left chunks behind: sweep them now, as an ingest would
            removed += store.delete_uncommitted_chunks(live_map(records))
        version = store.end_writes()
        if interrupted:
            lexical = corpus.rebuild_lexical(store, live_map(records), version)
        else:
            lexical = corpus.update_lexical(store, version_before, version, [], removed)
        corpus.settle(store, version, lexical, records)
    return record


def _damaged_documents(store: Store, records: dict[str, DocRecord]) -> dict[str, DocRecord]:
    """Committed documents whose chunks are (partly) missing from the store: ingested again
    rather than called unchanged, so a damaged index heals. The totals are compared on every
    ingest (two counts); the per-document scan runs only when chunks are missing."""
    if not records or store.chunk_count() >= sum(r.chunks for r in records.values()):
        return {}
    counts = store.live_chunk_counts(live_map(records))
    return {doc_id: r for doc_id, r in records.items() if counts.get(doc_id, 0) < r.chunks}


def _with_damaged_files(files: list[Path], damaged: dict[str, DocRecord], given_ids: set[str],
                        report: IngestReport) -> list[Path]:
    """This run's files plus those of damaged documents it was not given (read from where they
    were ingested); a damaged document whose file is gone is reported and left as it is."""
    from rag.ingest.loading import doc_id_for

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


def find_document(records: dict[str, DocRecord], name: str | Path) -> DocRecord:
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
