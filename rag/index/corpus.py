"""What a query sees of the index (:class:`CorpusView`) and who keeps it current (:class:`Corpus`):
the live-document map from the document records, and the BM25 side loaded, updated or rebuilt to
mirror the store version."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generic, Iterator, TypeVar

import numpy as np

from rag.index.lexical import Item, LexicalIndex
from rag.index.records import RecordsCache
from rag.index.store import DocRecord, Store, StoredChunk


V = TypeVar("V")


class _LruCache(Generic[V]):
    """chunk id -> a value read from the store, least recently used out first; thread-safe.

    Lives on one :class:`CorpusView`, so it describes one settled store version and goes with it
    when the version moves; a view read while an ingest is under way is made afresh per question,
    and so is its cache. Chunk ids are content-derived: an id never names other data within a
    version."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, chunk_ids: list[str]) -> tuple[dict[str, V], list[str]]:
        """(the cached entries, the ids not cached)."""
        found: dict[str, V] = {}
        with self._lock:
            for cid in chunk_ids:
                if cid in self._rows:
                    self._rows.move_to_end(cid)
                    found[cid] = self._rows[cid]
        return found, [cid for cid in chunk_ids if cid not in found]

    def put_many(self, entries: dict[str, V]) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            for cid, value in entries.items():
                self._freeze(value)
                self._rows[cid] = value
                self._rows.move_to_end(cid)
            while len(self._rows) > self.capacity:
                self._rows.popitem(last=False)

    def _freeze(self, value: V) -> None:
        """Make a value shared across questions read-only (where it can be changed)."""


class SentenceCache(_LruCache[np.ndarray | None]):
    """chunk id -> its packed sentence vectors (read-only rows); ``None`` records a chunk with no
    usable sentence vectors (not fetched again).

    Sized like the chunk cache: a pooled index re-scores the 80 leading candidates of every question,
    and at 4,096 entries a 28k or 100k index's cache turned over within ~50 questions (100k synthetic,
    84 questions x 2: 5,247 distinct chunks re-scored; the later pass's sentence fetch 6 ms -> 0, its
    ask less embedding 24-29 -> 20-21 ms, under load). An entry is one float32 row per sentence: 5.9 KB
    on average on that index (10.7 KB the largest), ~9 KB for a full 200-token chunk, so 16,384
    entries are ~100-150 MB at most (~31 MB in that run)."""

    def __init__(self, capacity: int = 16384) -> None:
        super().__init__(capacity)

    def _freeze(self, value: np.ndarray | None) -> None:
        if value is not None:
            value.setflags(write=False)  # shared across questions: nobody may change them


class ChunkCache(_LruCache[tuple[StoredChunk, np.ndarray | None]]):
    """chunk id -> (its stored chunk, its vector): a search asks Chroma for ids and distances only
    and reads the texts and metadata of the chunks not seen yet at this version (``rag.retrieve.hybrid``).
    ``StoredChunk`` is frozen; the vector is made read-only. The vector is None for a row read for the
    dense leg alone (its similarity comes from the search); it is read when BM25 alone finds the chunk.

    A question on a pooled index meets ~300 candidate chunks (80 per
    language from the dense legs, plus BM25's), and at 4,096 entries a 10k index's cache turned over
    every dozen questions (warm ask on 10k, quiet: 63 ms with 4,096, 42 ms with room for all; an entry
    is ~4 KB, so 16,384 is ~64 MB at most)."""

    def __init__(self, capacity: int = 16384) -> None:
        super().__init__(capacity)

    def _freeze(self, value: tuple[StoredChunk, np.ndarray | None]) -> None:
        if value[1] is not None:  # None: read for the dense leg, without its vector
            value[1].setflags(write=False)


class VectorCache(_LruCache[np.ndarray]):
    """chunk id -> its stored vector, for the chunks BM25 alone found (scored on the dense scale by it)
    when the retriever ranks without rows (``CorpusView.lexical_is_live``). 1.5 KB an entry."""

    def __init__(self, capacity: int = 16384) -> None:
        super().__init__(capacity)

    def _freeze(self, value: np.ndarray) -> None:
        value.setflags(write=False)


@dataclass(frozen=True)
class CorpusView:
    """What a query sees: the committed documents (doc_id -> sha), their languages, the BM25 side."""

    live: dict[str, str]
    languages: tuple[str, ...]
    lexical: LexicalIndex
    version: int
    chunks: int = 0  # live chunks: caps how many results a search asks Chroma for
    # The BM25 side holds exactly the live chunks, with their documents and sentence counts: a chunk is
    # live if and only if it is there, so the retriever ranks candidates without reading their rows.
    # Only a settled view's (while an ingest is under way, the BM25 side is an older version's).
    lexical_is_live: bool = False
    # Sentence vectors of chunks already retrieved at this version (no Chroma read per question).
    sentences: SentenceCache = field(default_factory=SentenceCache, compare=False, repr=False)
    # Texts, metadata and vectors of chunks already met at this version (searches fetch ids only).
    stored: ChunkCache = field(default_factory=ChunkCache, compare=False, repr=False)
    # Vectors of chunks only BM25 found, when ranking without rows.
    vectors: VectorCache = field(default_factory=VectorCache, compare=False, repr=False)


def live_map(records: dict[str, DocRecord]) -> dict[str, str]:
    """doc_id -> content sha of the committed documents: only chunks of these versions are live."""
    return {doc_id: rec.sha256 for doc_id, rec in records.items()}


class Corpus:
    """The current :class:`CorpusView` of one index, its document records and its BM25 side."""

    def __init__(self, home: Path, open_store: Callable[[], Store]) -> None:
        self._open_store = open_store
        self.records = RecordsCache(home)
        self.bm25_dir = home / "bm25"
        self.current: CorpusView | None = None
        self._provisional = False  # read while an ingest was under way: never reused
        self._lock = threading.Lock()

    def view(self) -> CorpusView:
        """The current view; reloaded (and BM25 rebuilt if stale) when the store moved on.

        While an ingest is under way (another process writing, or one killed while writing) its
        documents are committed one batch after another under one store version, so the view is
        read afresh every time: each newly committed document is seen at the next question."""
        store = self._open_store()
        version, under_way = store.state()
        view = self.current
        if view is not None and view.version == version and not under_way and not self._provisional:
            return view
        with self._lock:
            if under_way:
                return self._provisional_view(store, version)
            if self.current is None or self.current.version != version or self._provisional:
                self.current = self.load(store, version)
                self._provisional = False
            return self.current

    def _provisional_view(self, store: Store, version: int) -> CorpusView:
        """The view while an ingest is under way: the committed records read from the store, and
        the last BM25 index there is (of an older version; it only adds candidates and name rarity,
        and retrieval keeps only chunks of live document versions). Nothing is saved."""
        records = store.documents()
        lexical = self.current.lexical if self.current is not None else LexicalIndex.load(self.bm25_dir)
        if lexical is None:
            lexical = LexicalIndex.build(_live_items(store, live_map(records)), version)
        self.current = _view_of(records, lexical, version, settled=False)
        self._provisional = True
        return self.current

    def load(self, store: Store, version: int, lexical: LexicalIndex | None = None,
             records: dict[str, DocRecord] | None = None) -> CorpusView:
        """The view of a settled version (BM25 loaded, or rebuilt from Chroma if it mirrors another)."""
        records = records if records is not None else self.records.read(store, version)
        live = live_map(records)
        if lexical is None or lexical.version != version:
            lexical = LexicalIndex.load(self.bm25_dir)
        if lexical is None or lexical.version != version:
            lexical = self.rebuild_lexical(store, live, version)
        return _view_of(records, lexical, version, settled=True)

    def settle(self, store: Store, version: int, lexical: LexicalIndex, records: dict[str, DocRecord]) -> None:
        """After a write: save the records of the new version and make it the current view."""
        self.records.save(records, version)
        self.current = self.load(store, version, lexical, records)

    def rebuild_lexical(self, store: Store, live: dict[str, str], version: int) -> LexicalIndex:
        return self._save_lexical(LexicalIndex.build(_live_items(store, live), version))

    def update_lexical(self, store: Store, before: int, version: int, added: list[Item],
                       removed: list[str]) -> LexicalIndex:
        """The BM25 side after an ingest: updated in place if it mirrored the store before it."""
        current = self.current.lexical if self.current is not None else LexicalIndex.load(self.bm25_dir)
        if current is not None and current.version != before:
            current = LexicalIndex.load(self.bm25_dir)
        updated = None
        if current is not None and current.version == before:
            updated = current.updated(added, removed, version)
        if updated is None:
            return self.rebuild_lexical(store, live_map(store.documents()), version)
        return self._save_lexical(updated)

    def _save_lexical(self, lexical: LexicalIndex) -> LexicalIndex:
        try:
            lexical.save(self.bm25_dir)
        except OSError:
            pass  # a read-only index dir still answers, from the in-memory index
        return lexical


def _view_of(records: dict[str, DocRecord], lexical: LexicalIndex, version: int, settled: bool) -> CorpusView:
    languages = tuple(sorted({rec.lang for rec in records.values()}))
    chunks = sum(rec.chunks for rec in records.values())
    # The counts must agree too: a BM25 side that does not hold every committed chunk is not trusted.
    mirrors = settled and lexical.version == version and len(lexical.chunk_ids) == chunks and lexical.knows_chunks
    return CorpusView(live_map(records), languages, lexical, version, chunks, lexical_is_live=mirrors)


def _live_items(store: Store, live: dict[str, str]) -> Iterator[Item]:
    return (Item.of(s.chunk) for s in store.iter_chunks() if live.get(s.chunk.doc_id) == s.doc_sha)
