"""Storing: Chroma collections for chunks (one per document language), sentence vectors, documents.

* ``<name>_chunks_<lang>`` one record per chunk of a document in that language:
  its embedding, text and metadata (offsets, sentence spans, term prefixes).
  One collection per language because retrieval takes the top-n of every
  language (``rag.retrieve.hybrid``): an unfiltered HNSW search per language stays
  fast as the corpus grows, while a ``where={"lang": ...}`` filter makes
  Chroma scan the metadata of every record (10x slower at 10k chunks).
* ``<name>_sentences``     one record per chunk (same id): the embeddings of its
  sentences, packed as float16 text in the record's metadata, which the extractive
  answerer scores against the question. They are only ever fetched by id, so
  they are not worth a vector-index entry each, and the record's own vector is a
  4-number placeholder.
* ``<name>_docs``          one record per committed document (the commit marker of
  a crash-safe ingest); its collection metadata holds the embedding model that
  built the index, the storage layout, a version bumped on every change, and
  whether an ingest is under way (so the next one knows to clean up after a crash).

Embeddings are always passed in. Every collection carries
:class:`ExplicitEmbeddings`, registered with Chroma, which refuses to embed:
Chroma's default embedding function (which downloads a model) can never run.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import urlparse

import numpy as np

from rag.index import embedded
from rag.config import BuiltChunkVectors, Settings
from rag.offline import apply_offline_env
from rag.errors import (DiskFullError, EmbeddingMismatchError, IndexFormatError, IndexNotFoundError,
                        IndexNotWritableError, RagError, StoreUnavailableError)
from rag.index.indexdir import check_is_folder, free_mb, no_space, not_writable
from rag.text import term_prefixes
from rag.types import Chunk, Document, Span

_BATCH = 250  # Chroma's guidance for single-node inserts: batches of 50-250
# Disk a batch takes in the embedded store, per byte of text, vectors and packed sentence vectors
# written (the estimate in Store._check_space): 3.3-4.1 measured at the end and at the peak of each
# batch (8 synthetic English files, 36 chunks a batch; the 5 seeds, 27 chunks in 3 languages, once
# the new collections are counted apart): Chroma keeps a log copy and a segment copy of each record
# and a full-text index of the chunk texts. A new collection (a language met for the first time)
# preallocates its vector index files (170 kB). The margin is for the document records and metadata.
DISK_BYTES_PER_PAYLOAD_BYTE = 4
DISK_BYTES_PER_NEW_COLLECTION = 256 << 10
DISK_MARGIN_BYTES = 512 << 10
LAYOUT = 2  # 1: one chunk collection for all languages, one record per sentence


def _register_embedding_function() -> type:
    from chromadb.api.types import EmbeddingFunction
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class ExplicitEmbeddings(EmbeddingFunction):
        """Stored with each collection in place of Chroma's default; never embeds."""

        def __init__(self, model_id: str = "") -> None:
            self.model_id = model_id

        def __call__(self, input: Any) -> Any:  # noqa: A002 - Chroma's signature
            raise RagError(
                "this index is embedded by the rag pipeline: pass embeddings, not texts"
            )

        @staticmethod
        def name() -> str:
            return "rag-explicit-embeddings"

        def get_config(self) -> dict[str, Any]:
            return {"model_id": self.model_id}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> "ExplicitEmbeddings":
            return ExplicitEmbeddings(str(config.get("model_id", "")))

    return ExplicitEmbeddings


_EXPLICIT: type | None = None


def _explicit_embeddings(model_id: str) -> Any:
    global _EXPLICIT
    if _EXPLICIT is None:
        _EXPLICIT = _register_embedding_function()
    return _EXPLICIT(model_id)


@dataclass(frozen=True)
class DocRecord:
    doc_id: str
    source: str
    path: str
    sha256: str
    lang: str
    title: str
    chunks: int
    chars: int

    @classmethod
    def of(cls, doc: Document, chunks: int) -> "DocRecord":
        return cls(doc.doc_id, doc.source, doc.path, doc.sha256, doc.lang, doc.title, chunks, len(doc.text))


def _skip_override_checks() -> None:
    """chromadb marks ~160 methods with ``overrides.override``, which checks each signature
    against its base class while the class is created: 0.15 s of every cold ``rag ask``
    (670 -> 520 ms to import chromadb). The check guards chromadb's own development, not its
    use, so before chromadb is first imported the decorator only marks the method, as the
    real one does on success (``EnforceOverrides`` looks for that mark). Only chromadb
    imports ``overrides`` here."""
    if "chromadb" in sys.modules:
        return
    try:
        import overrides
    except ImportError:  # a later chromadb without it: nothing to skip
        return

    def mark(method: Any = None, **_options: Any) -> Any:
        def apply(function: Any) -> Any:
            function.__override__ = True
            return function

        return apply(method) if method is not None else apply

    overrides.override = overrides.overrides = mark


def _client(settings: Settings, create: bool, copy: bool, copies: embedded.PrivateCopies) -> tuple[Any, bool]:
    """The Chroma client of the index, and whether it reads a private copy (embedded only)."""
    _skip_override_checks()
    apply_offline_env()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    if settings.chroma_url:
        url = urlparse(settings.chroma_url if "://" in settings.chroma_url else f"http://{settings.chroma_url}")
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=ChromaSettings(anonymized_telemetry=False),
            )
            client.heartbeat()
        except Exception as exc:  # noqa: BLE001 - chromadb raises many transport errors
            raise StoreUnavailableError(
                f"cannot reach the Chroma server at {settings.chroma_url} ({type(exc).__name__}); "
                "start it with `chroma run --path DIR` or unset RAG_CHROMA_URL"
            ) from None
        return client, False
    return _embedded_client(settings.home, create, copy, copies)


def _embedded_client(home: Path, create: bool, copy: bool, copies: embedded.PrivateCopies) -> tuple[Any, bool]:
    """The index's own Chroma folder; for a reader that may not write it (or whose disk is full),
    a private copy of it (rag.index.embedded)."""
    embedded.check_sqlite_file(home)  # before Chroma opens (and so writes) a damaged file
    if not copy and not embedded.may_write(home):
        if create:
            raise not_writable(home, "permission denied")
        copy = True
    if copy:
        return embedded.persistent_client(copies.make()), True
    try:
        return embedded.persistent_client(home / "chroma"), False
    except Exception as exc:  # noqa: BLE001 - translated below, or raised as it is
        error = embedded.failure(home, exc)
        if error is None:
            raise
        if create or not isinstance(error, (DiskFullError, IndexNotWritableError)):
            raise error from None
    return embedded.persistent_client(copies.make()), True


def _chroma_not_found() -> type[Exception]:
    from chromadb.errors import NotFoundError

    return NotFoundError


_RETRY_DELAYS_S = (0.3, 1.0)


# Methods that write: refused on a private copy (what they wrote would be lost with it).
_WRITES = frozenset({"begin_writes", "end_writes", "commit_document", "commit_documents", "delete_document",
                     "add_chunks", "delete_chunks_where", "delete_stale_chunks", "delete_uncommitted_chunks"})


def _store_errors(cls: type) -> type:
    """Wrap every public method. A lost Chroma server is retried (every write here is an
    idempotent upsert or delete by content-derived id, so retrying is safe), then reported
    as :class:`StoreUnavailableError` naming the URL instead of a transport traceback. An
    embedded failure that means a damaged, read-only or full index is one line (rag.index.embedded);
    a reader on a full disk reads a private copy instead."""
    import functools

    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(self: "Store", *args: Any, **kwargs: Any) -> Any:
            if not self.settings.chroma_url:
                return self._embedded_call(method, args, kwargs)
            import httpx

            for delay in (*_RETRY_DELAYS_S, None):
                try:
                    return method(self, *args, **kwargs)
                except (httpx.TransportError, ConnectionError) as exc:
                    if delay is None:
                        raise StoreUnavailableError(
                            f"lost the Chroma server at {self.settings.chroma_url} ({type(exc).__name__}); "
                            "nothing committed was lost: restart it and run the command again"
                        ) from None
                    time.sleep(delay)

        return wrapper

    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_") and not isinstance(value, staticmethod):
            setattr(cls, name, wrap(value))
    return cls


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as a query returns it: the chunk, the document version it belongs to,
    its term prefixes (computed once at ingest) and, for a search, its similarity."""

    chunk: Chunk
    doc_sha: str
    terms: frozenset[str]
    similarity: float = 0.0


@_store_errors
class Store:
    """The Chroma collections of one index, opened for one embedding model."""

    def __init__(self, settings: Settings, model_id: str, create: bool) -> None:
        self.settings = settings
        self.model_id = model_id
        if not settings.chroma_url:
            check_is_folder(settings.home)
        if not settings.chroma_url and not create and not (settings.home / "chroma").exists():
            raise IndexNotFoundError(
                f"no index at {settings.home}: run `rag ingest PATH` first (or pass --index-dir)"
            )
        self._create = create
        self._name = settings.collection
        self._copies = embedded.PrivateCopies(settings.home)
        self._reads_copy = False  # reads a private copy of the index (rag.index.embedded)
        self._open(copy=False)

    def _open(self, copy: bool) -> None:
        """Open the client and the collections (again: a reader switching to or from a private copy)."""
        try:
            self._client, self._reads_copy = _client(self.settings, self._create, copy, self._copies)
            self._docs = self._collection(f"{self._name}_docs", self._create,
                                          {"embed_model": self.model_id, "version": 0, "layout": LAYOUT,
                                           "chunk_vectors": self.settings.new_index_chunk_vectors()})
            self._check_model()
            self._check_layout()
            self._sentences = self._collection(f"{self._name}_sentences", self._create,
                                               {"embed_model": self.model_id})
            self._chunks: dict[str, Any] = {}  # language -> its chunk collection
            self._load_chunk_collections()
        except RagError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated below, or raised as it is
            error = None if self.settings.chroma_url else embedded.failure(self.settings.home, exc)
            if error is None:
                raise
            if copy or not self._reads_a_copy_instead(error):
                raise error from None
        else:
            return
        self._open(copy=True)

    def _reads_a_copy_instead(self, error: RagError) -> bool:
        """A reader (not an ingest) that meets a full disk or a folder it may not write reads a private copy."""
        return (not self._create and not self._reads_copy
                and isinstance(error, (DiskFullError, IndexNotWritableError)))

    def _embedded_call(self, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        home = self.settings.home
        if self._reads_copy and method.__name__ in _WRITES:
            raise not_writable(home, "this process reads a private copy of it, as it could not write to it "
                                     "or its disk was full; run the command again")
        try:
            return method(self, *args, **kwargs)
        except RagError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated below, or raised as it is
            error = embedded.failure(home, exc)
            if error is None:
                raise
            if not self._reads_a_copy_instead(error):
                raise error from None
        self._open(copy=True)  # Chroma could not apply its log here; a copy on another disk has room
        return self._embedded_call(method, args, kwargs)

    def _check_space(self, chunks: Sequence[Chunk], chunk_vectors: np.ndarray,
                     sentence_vectors: Sequence[np.ndarray]) -> None:
        """Before a batch is written: refuse it while it cannot fit (Chroma, failing for space half-way
        through a write, leaves logs that every reader must apply first, which fails too)."""
        if self.settings.chroma_url:
            return
        # Text twice (the chunk and its term prefixes) plus flat metadata; float32 chunk vectors;
        # sentence vectors packed as base64 float16.
        payload = (sum(2 * len(c.text.encode("utf-8")) + 512 for c in chunks) + int(chunk_vectors.nbytes)
                   + sum(int(v.size) * 2 * 4 // 3 for v in sentence_vectors))
        new_collections = len({_language_key(c.lang) for c in chunks} - set(self._chunks))
        needed = (payload * DISK_BYTES_PER_PAYLOAD_BYTE + new_collections * DISK_BYTES_PER_NEW_COLLECTION
                  + DISK_MARGIN_BYTES)
        needed_mb = needed / 2**20
        if free_mb(self.settings.home) < needed_mb:
            raise no_space(self.settings.home, needed_mb)

    def _collection(self, name: str, create: bool, metadata: dict[str, Any]) -> Any:
        ef = _explicit_embeddings(self.model_id)
        try:
            if create:
                return self._client.get_or_create_collection(
                    name, embedding_function=ef, metadata=metadata, configuration={"hnsw": {"space": "cosine"}}
                )
            return self._client.get_collection(name, embedding_function=ef)
        except (ValueError, LookupError, _chroma_not_found()) as exc:
            # A first ingest killed before its collections existed leaves a chroma/ folder without them.
            if "does not exist" in str(exc) or "not found" in str(exc).lower():
                where = self.settings.chroma_url or str(self.settings.home)
                raise IndexNotFoundError(f"no index at {where}: run `rag ingest PATH` first") from None
            raise

    def _check_model(self) -> None:
        built_with = (self._docs.metadata or {}).get("embed_model")
        if built_with and built_with != self.model_id:
            raise EmbeddingMismatchError(
                f"this index was built with {built_with}, but the configured embedding model is "
                f"{self.model_id}: set RAG_EMBED to match, or ingest into a new --index-dir"
            )

    @property
    def chunk_vectors(self) -> BuiltChunkVectors:
        """How this index's chunk vectors were made (indexes from before the setting: embedded)."""
        built_with = (self._docs.metadata or {}).get("chunk_vectors")
        return "sentence_mean" if built_with == "sentence_mean" else "embedded"

    def check_chunk_vectors(self) -> BuiltChunkVectors:
        """The mode an ingest makes chunk vectors with: the one the index records, as its others were
        made (mixing embedded and sentence-mean vectors would skew the ranking between documents).
        Indexes written before the setting existed hold embedded chunk vectors. Refused only when
        RAG_CHUNK_VECTORS explicitly asks for the other mode."""
        built_with, wanted = self.chunk_vectors, self.settings.chunk_vectors
        if wanted != "auto" and built_with != wanted:
            raise EmbeddingMismatchError(
                f"this index's chunk vectors are {built_with}, but RAG_CHUNK_VECTORS is "
                f"{wanted}: set it to {built_with} or auto, or ingest into a new --index-dir"
            )
        return built_with

    def _check_layout(self) -> None:
        layout = int((self._docs.metadata or {}).get("layout", 1))
        if layout != LAYOUT:
            where = self.settings.chroma_url or str(self.settings.home)
            raise IndexFormatError(
                f"the index at {where} was built by an older version of rag (storage layout {layout}, "
                f"this version reads {LAYOUT}): ingest your files again into a new --index-dir "
                "(or delete the old index)"
            )

    def _chunk_prefix(self) -> str:
        return f"{self._name}_chunks_"

    def _load_chunk_collections(self) -> None:
        prefix = self._chunk_prefix()
        for collection in self._client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            if name.startswith(prefix) and name[len(prefix):] not in self._chunks:
                self._chunks[name[len(prefix):]] = self._collection(name, False, {})

    def _chunks_of(self, lang: str, create: bool = False) -> Any | None:
        """The chunk collection of one language (None if there is none)."""
        key = _language_key(lang)
        if key not in self._chunks:
            if create:
                self._chunks[key] = self._collection(self._chunk_prefix() + key, True, {"embed_model": self.model_id})
            else:
                self._load_chunk_collections()  # another process may have added a language
        return self._chunks.get(key)

    # --- collection metadata: version and ingest state -------------------------------

    def _metadata(self) -> dict[str, Any]:
        # Read afresh (0.4 ms embedded): another process (a `rag ingest` beside the UI) may have changed it.
        if self._reads_copy and self._copies.stale():
            self._open(copy=False)  # the index changed since it was copied: open it again
        self._docs = self._client.get_collection(self._docs.name, embedding_function=_explicit_embeddings(self.model_id))
        return dict(self._docs.metadata or {})

    def _set_metadata(self, **changes: Any) -> None:
        metadata = self._metadata() | changes
        metadata.pop("hnsw:space", None)  # not modifiable; kept by Chroma
        self._docs.modify(metadata=metadata)

    def version(self) -> int:
        """Moves on when an ingest starts writing and when it ends; the BM25 side and the
        document summary record the version they mirror."""
        return int(self._metadata().get("version", 0))

    def interrupted_ingest(self) -> bool:
        """Did an ingest start writing and never finish (killed)?"""
        return self.state()[1]

    def state(self) -> tuple[int, bool]:
        """(version, whether an ingest is under way: writing now, or killed while writing), read
        together. While one is under way the committed records keep changing under one version, so
        no cache may describe that version (``rag.pipeline``)."""
        metadata = self._metadata()
        return int(metadata.get("version", 0)), bool(metadata.get("ingest_open", False))

    def begin_writes(self) -> None:
        """Before an ingest's first write: mark it under way and move the version on, so that no
        cache of the last version (document summary, BM25) is trusted if the ingest is killed."""
        self._set_metadata(ingest_open=True, version=self.version() + 1)

    def end_writes(self) -> int:
        """After an ingest's last write: clear the mark and move the version on; the new version."""
        version = self.version() + 1
        self._set_metadata(ingest_open=False, version=version)
        return version

    # --- documents ----------------------------------------------------------------

    def documents(self) -> dict[str, DocRecord]:
        records: dict[str, DocRecord] = {}
        for ids, metadatas in self._paged(self._docs, include=["metadatas"]):
            for doc_id, meta in zip(ids, metadatas):
                records[doc_id] = DocRecord(
                    doc_id=doc_id,
                    source=str(meta["source"]),
                    path=str(meta["path"]),
                    sha256=str(meta["sha256"]),
                    lang=str(meta["lang"]),
                    title=str(meta.get("title", "")),
                    chunks=int(meta["chunks"]),
                    chars=int(meta.get("chars", 0)),
                )
        return records

    def commit_document(self, doc: Document, chunks: int, vector: np.ndarray) -> None:
        """Write the document record: from now on its chunks (of this sha) are live."""
        self.commit_documents([(doc, chunks, vector)])

    def commit_documents(self, commits: Sequence[tuple[Document, int, np.ndarray]]) -> None:
        """Write document records (document, its chunk count, its vector) in one call."""
        if not commits:
            return
        self._docs.upsert(
            ids=[doc.doc_id for doc, _, _ in commits],
            embeddings=np.asarray([vector for _, _, vector in commits], dtype=np.float32),
            metadatas=[{
                "source": doc.source, "path": doc.path, "sha256": doc.sha256, "lang": doc.lang,
                "title": doc.title, "chunks": chunks, "chars": len(doc.text), "ingested_at": time.time(),
            } for doc, chunks, _ in commits],
        )

    def delete_document(self, doc_id: str) -> list[str]:
        """Drop a document's record first (it stops being live), then its chunks; their ids."""
        self._docs.delete(ids=[doc_id])
        return self.delete_chunks_where({"doc_id": doc_id})

    # --- chunks and their sentences ---------------------------------------------------

    def add_chunks(self, chunks: Sequence[Chunk], doc_sha: str | Sequence[str], chunk_vectors: np.ndarray,
                   sentence_vectors: Sequence[np.ndarray]) -> None:
        """Write chunks (not yet live) with the content hash of their document version (one, or one per chunk)."""
        shas = [doc_sha] * len(chunks) if isinstance(doc_sha, str) else list(doc_sha)
        self._check_space(chunks, chunk_vectors, sentence_vectors)
        for i in range(0, len(chunks), _BATCH):
            batch = chunks[i : i + _BATCH]
            batch_shas = shas[i : i + _BATCH]
            vectors = np.asarray(chunk_vectors[i : i + _BATCH], dtype=np.float32)
            by_language: dict[str, list[int]] = {}
            for j, chunk in enumerate(batch):
                by_language.setdefault(chunk.lang, []).append(j)
            for lang, rows in by_language.items():
                collection = self._chunks_of(lang, create=True)
                assert collection is not None  # create=True makes it
                collection.upsert(
                    ids=[batch[j].chunk_id for j in rows],
                    embeddings=vectors[rows],
                    documents=[batch[j].text for j in rows],
                    metadatas=[_chunk_metadata(batch[j], batch_shas[j]) for j in rows],
                )
            # Packed into metadata, not the record's document: Chroma full-text indexes documents
            # (trigrams), which made writing these 5x slower.
            self._sentences.upsert(
                ids=[c.chunk_id for c in batch],
                embeddings=_placeholder_vectors([c.chunk_id for c in batch]),
                metadatas=[{"doc_id": c.doc_id, "doc_sha": sha, "vectors": _pack(v)}
                           for c, sha, v in zip(batch, batch_shas, sentence_vectors[i : i + _BATCH])],
            )

    def delete_chunks_where(self, where: dict[str, Any]) -> list[str]:
        """Delete the chunks (and their sentence vectors) that match; their ids."""
        deleted: list[str] = []
        for collection in list(self._chunks.values()):
            ids = collection.get(where=where, include=[])["ids"]
            for i in range(0, len(ids), _BATCH):
                self._sentences.delete(ids=ids[i : i + _BATCH])
                collection.delete(ids=ids[i : i + _BATCH])
            deleted.extend(ids)
        # Sentence records whose chunk write never happened (a kill between the two upserts).
        orphans = self._sentences.get(where=where, include=[])["ids"]
        for i in range(0, len(orphans), _BATCH):
            self._sentences.delete(ids=orphans[i : i + _BATCH])
        return deleted

    def delete_stale_chunks(self, doc_id: str, live_sha: str) -> list[str]:
        """Delete a document's chunks of any other version than the live one; their ids."""
        return self.delete_chunks_where({"$and": [{"doc_id": doc_id}, {"doc_sha": {"$ne": live_sha}}]})

    def delete_uncommitted_chunks(self, live: dict[str, str]) -> list[str]:
        """After an interrupted ingest: delete every chunk that is not of a live document version."""
        stale: list[str] = []
        for collection in list(self._chunks.values()):
            for ids, metadatas in self._paged(collection, include=["metadatas"]):
                stale.extend(cid for cid, meta in zip(ids, metadatas) if live.get(str(meta["doc_id"])) != meta["doc_sha"])
        for ids, metadatas in self._paged(self._sentences, include=["metadatas"]):
            stale.extend(cid for cid, meta in zip(ids, metadatas) if live.get(str(meta["doc_id"])) != meta["doc_sha"])
        stale = list(dict.fromkeys(stale))
        for i in range(0, len(stale), _BATCH):
            batch = stale[i : i + _BATCH]
            self._sentences.delete(ids=batch)
            for collection in self._chunks.values():
                collection.delete(ids=batch)
        return stale

    def reusable_embeddings(self, doc: Document) -> dict[str, np.ndarray]:
        """Vectors of a document's stored chunks and sentences keyed by text: a changed file
        re-embeds only the text that changed."""
        collection = self._chunks_of(doc.lang)
        if collection is None:
            return {}
        got = collection.get(where={"doc_id": doc.doc_id}, include=["documents", "embeddings", "metadatas"])
        out = {text: np.asarray(vec, dtype=np.float32) for text, vec in zip(got["documents"], got["embeddings"])}
        sentences = self._sentences.get(ids=list(got["ids"]), include=["metadatas"]) if got["ids"] else None
        packed = {cid: str(meta["vectors"]) for cid, meta in zip(sentences["ids"], sentences["metadatas"])} \
            if sentences else {}
        for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
            if cid in packed:
                chunk = _chunk_from(cid, text, meta)
                for span, vector in zip(chunk.sentences, _unpack(packed[cid])):
                    out.setdefault(span.text, vector.astype(np.float32))
        return out

    def query(self, vector: np.ndarray, n: int, lang: str, where: dict[str, Any] | None = None) -> list[StoredChunk]:
        """The n nearest chunks among the documents of one language."""
        collection = self._chunks_of(lang)
        if collection is None or n <= 0:
            return []
        # The caller caps n by the number of live chunks (records with this language
        # can only be more); Chroma warns but answers if there are fewer.
        result = collection.query(
            query_embeddings=[vector.astype(np.float32)], n_results=n, where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            _stored_from(cid, text, meta, 1.0 - float(dist))
            for cid, text, meta, dist in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
            )
        ]

    def nearest(self, vector: np.ndarray, n: int, lang: str, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """(chunk id, similarity) of the n nearest chunks of one language, nearest first. Ids and
        distances only: asking Chroma for the texts and metadata too doubled the search time
        (seeds, 3 languages: 5.2 -> 2.3 ms); the retriever reads those once per chunk and version
        (``rag.index.corpus.ChunkCache``)."""
        collection = self._chunks_of(lang)
        if collection is None or n <= 0:
            return []
        result = collection.query(query_embeddings=[vector.astype(np.float32)], n_results=n, where=where,
                                  include=["distances"])
        return [(cid, 1.0 - float(dist)) for cid, dist in zip(result["ids"][0], result["distances"][0])]

    def get_chunks(self, ids: Sequence[str], langs: Sequence[str] = (), vectors: bool = True,
                   lang_of: Mapping[str, str] | None = None) -> dict[str, tuple[StoredChunk, np.ndarray | None]]:
        """chunk id -> (stored chunk, its vector, or None when ``vectors`` is false: a third of the
        read); ``langs`` narrows the collections to look in; ``lang_of`` (id -> language, "" when not
        known) asks each collection only for its own ids first, the rest after, of every collection:
        fewer look-ups of ids a collection lacks (220 rows of a 100k index, 3 collections, page cache
        dropped: 142 -> 132 ms median; warm the same)."""
        out: dict[str, tuple[StoredChunk, np.ndarray | None]] = {}
        include = ["documents", "metadatas", "embeddings"] if vectors else ["documents", "metadatas"]

        def read(collection: Any, wanted: list[str]) -> None:
            got = collection.get(ids=wanted, include=include)
            found = got["embeddings"] if vectors else [None] * len(got["ids"])
            for cid, text, meta, vec in zip(got["ids"], got["documents"], got["metadatas"], found):
                out[cid] = (_stored_from(cid, text, meta), None if vec is None else np.asarray(vec, dtype=np.float32))

        self._read_by_language(ids, langs, lang_of, read, out)
        return out

    def vectors_of(self, ids: Sequence[str], lang_of: Mapping[str, str]) -> dict[str, np.ndarray]:
        """chunk id -> its stored vector, nothing else of its row (the retriever scores a chunk only
        BM25 found by it, and reads the rows of the few it keeps)."""
        out: dict[str, np.ndarray] = {}

        def read(collection: Any, wanted: list[str]) -> None:
            got = collection.get(ids=wanted, include=["embeddings"])
            for cid, vec in zip(got["ids"], got["embeddings"]):
                out[cid] = np.asarray(vec, dtype=np.float32)

        self._read_by_language(ids, (), lang_of, read, out)
        return out

    def _read_by_language(self, ids: Sequence[str], langs: Sequence[str], lang_of: Mapping[str, str] | None,
                          read: Callable[[Any, list[str]], None], out: Mapping[str, Any]) -> None:
        """Call ``read(collection, ids)`` for the ids ``out`` lacks: each collection's own ids first
        (by ``lang_of``), then any id still missing, in every collection of ``langs`` (all: none given)."""
        if not ids:
            return
        keys = {_language_key(lang) for lang in langs} if langs else set(self._chunks)
        passes = [True, False] if lang_of else [False]
        for own_only in passes:  # each collection's own ids, then any id still missing, anywhere
            for key in sorted(keys):
                collection = self._chunks_of(key)
                wanted = [cid for cid in ids if cid not in out and
                          (not own_only or _language_key((lang_of or {}).get(cid, "")) in (key, "und"))]
                if collection is None or not wanted:
                    continue
                read(collection, wanted)
            if len(out) == len(set(ids)):
                break

    def sentence_vectors(self, counts: Mapping[str, int]) -> dict[str, np.ndarray]:
        """Sentence embeddings per chunk id, rows in sentence order, for the chunks whose stored
        record has as many rows as ``counts`` says the chunk has sentences."""
        if not counts:
            return {}
        got = self._sentences.get(ids=list(counts), include=["metadatas"])
        out: dict[str, np.ndarray] = {}
        for cid, meta in zip(got["ids"], got["metadatas"]):
            vectors = _unpack(str(meta["vectors"]))
            if len(vectors) == counts[cid] and len(vectors):
                out[cid] = vectors.astype(np.float32)
        return out

    def iter_chunks(self, page: int = 2000) -> Iterator[StoredChunk]:
        """Every stored chunk (for rebuilding the lexical index)."""
        for collection in list(self._chunks.values()):
            offset = 0
            while True:
                got = collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
                if not got["ids"]:
                    break
                for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                    yield _stored_from(cid, text, meta)
                offset += len(got["ids"])

    def chunk_count(self) -> int:
        return sum(int(collection.count()) for collection in self._chunks.values())

    def live_chunk_counts(self, live: dict[str, str]) -> dict[str, int]:
        """How many chunks of its committed version each document has in the store (one scan of
        the chunk metadata: only run when the totals say some are missing)."""
        counts = dict.fromkeys(live, 0)
        for collection in list(self._chunks.values()):
            for _, metadatas in self._paged(collection, include=["metadatas"]):
                for meta in metadatas:
                    doc_id = str(meta["doc_id"])
                    if live.get(doc_id) == meta["doc_sha"]:
                        counts[doc_id] += 1
        return counts

    def sentence_record_count(self) -> int:
        """Records of packed sentence vectors: one per stored chunk."""
        return int(self._sentences.count())

    @staticmethod
    def _paged(collection: Any, include: list[str], page: int = 5000) -> Iterator[tuple[list[str], list[Any]]]:
        offset = 0
        while True:
            got = collection.get(include=include, limit=page, offset=offset)
            if not got["ids"]:
                return
            yield got["ids"], got["metadatas"]
            offset += len(got["ids"])

    def document_chunks(self, doc_id: str, lang: str, doc_sha: str) -> list[Chunk]:
        """The stored chunks of one version of a document, in document order (for a preview)."""
        collection = self._chunks_of(lang)
        if collection is None:
            return []
        got = collection.get(where={"$and": [{"doc_id": doc_id}, {"doc_sha": doc_sha}]},
                             include=["documents", "metadatas"])
        chunks = [_chunk_from(cid, text, meta) for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(chunks, key=lambda chunk: chunk.position)


PLACEHOLDER_DIM = 4


def _placeholder_vectors(ids: Sequence[str]) -> np.ndarray:
    """Chroma wants a vector with every record. Sentence records are only ever fetched by id, so
    each gets 4 numbers derived from its id instead of a 384-float copy of the chunk vector: the
    collection's HNSW index (loaded by every writer) stays tiny. Distinct, not constant: HNSW
    inserts of identical points degrade."""
    import hashlib

    rows = [np.frombuffer(hashlib.sha1(i.encode("utf-8")).digest()[:PLACEHOLDER_DIM], dtype=np.uint8) for i in ids]
    vectors = np.asarray(rows, dtype=np.float32).reshape(-1, PLACEHOLDER_DIM) + 1.0
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _language_key(lang: str) -> str:
    """A collection-name-safe language code ("und" when unknown)."""
    return re.sub(r"[^a-z0-9]", "", (lang or "").lower())[:8] or "und"


def _pack(vectors: np.ndarray) -> str:
    """Sentence vectors as text, "ROWSxDIM:base64" (float16: similarities move by < 1e-3)."""
    array = np.asarray(vectors, dtype="<f2")
    rows, dim = array.shape if array.ndim == 2 else (0, 0)
    return f"{rows}x{dim}:" + base64.b64encode(array.tobytes()).decode("ascii")


def _unpack(packed: str) -> np.ndarray:
    shape, _, payload = packed.partition(":")
    rows, dim = (int(part) for part in shape.split("x"))
    return np.frombuffer(base64.b64decode(payload), dtype="<f2").reshape(rows, dim)


def _chunk_metadata(chunk: Chunk, doc_sha: str) -> dict[str, Any]:
    return {
        "doc_id": chunk.doc_id, "doc_sha": doc_sha, "source": chunk.source, "position": chunk.position,
        "start": chunk.start, "end": chunk.end, "lang": chunk.lang, "title": chunk.title,
        # Sentence spans relative to the chunk start, as JSON (Chroma metadata is flat).
        "sentences": json.dumps([[s.start - chunk.start, s.end - chunk.start] for s in chunk.sentences]),
        # Term prefixes (rag.text), computed once here rather than for every candidate of every question.
        "terms": " ".join(sorted(term_prefixes(chunk.text))),
    }


def _stored_from(chunk_id: str, text: str, meta: dict[str, Any], similarity: float = 0.0) -> StoredChunk:
    return StoredChunk(_chunk_from(chunk_id, text, meta), str(meta["doc_sha"]),
                       frozenset(str(meta.get("terms", "")).split()), similarity)


def _chunk_from(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    start = int(meta["start"])
    spans = tuple(Span(start + a, start + b, text[a:b]) for a, b in json.loads(str(meta.get("sentences", "[]"))))
    return Chunk(
        chunk_id=chunk_id, doc_id=str(meta["doc_id"]), source=str(meta["source"]), position=int(meta["position"]),
        start=start, end=int(meta["end"]), text=text, lang=str(meta["lang"]), title=str(meta.get("title", "")),
        sentences=spans,
    )


def index_exists(settings: Settings) -> bool:
    return bool(settings.chroma_url) or Path(settings.home, "chroma").exists()
