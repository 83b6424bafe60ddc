"""Storing: Chroma collections for chunks, their sentences, and documents.

* ``<name>_chunks``    one record per chunk: its embedding, text and metadata.
* ``<name>_sentences`` one record per sentence of a chunk (id ``<chunk>:<i>``):
  only the embedding, which the extractive answerer scores against the question.
* ``<name>_docs``      one record per committed document (the commit marker of a
  crash-safe ingest); its collection metadata holds the embedding model that
  built the index and a version bumped on every change.

Embeddings are always passed in. Every collection carries
:class:`ExplicitEmbeddings`, registered with Chroma, which refuses to embed:
Chroma's default embedding function (which downloads a model) can never run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import urlparse

import numpy as np

from rag.config import Settings
from rag.errors import EmbeddingMismatchError, IndexNotFoundError, RagError, StoreUnavailableError
from rag.types import Chunk, Document, Span

_BATCH = 250  # Chroma's guidance for single-node inserts: batches of 50-250


def _register_embedding_function() -> type:
    from chromadb.api.types import EmbeddingFunction
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class ExplicitEmbeddings(EmbeddingFunction):  # type: ignore[type-arg]
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


def _client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url if "://" in settings.chroma_url else f"http://{settings.chroma_url}")
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as exc:  # noqa: BLE001 - chromadb raises many transport errors
            raise StoreUnavailableError(
                f"cannot reach the Chroma server at {settings.chroma_url} ({type(exc).__name__}); "
                "start it with `chroma run --path DIR` or unset RAG_CHROMA_URL"
            ) from None
        return client
    return chromadb.PersistentClient(path=str(settings.home / "chroma"), settings=chroma_settings)


_RETRY_DELAYS_S = (0.3, 1.0)


def _server_errors(cls: type) -> type:
    """Wrap every public method: a lost Chroma server is retried (every write here is an
    idempotent upsert or delete by content-derived id, so retrying is safe), then reported
    as :class:`StoreUnavailableError` naming the URL instead of a transport traceback."""
    import functools

    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(self: "Store", *args: Any, **kwargs: Any) -> Any:
            if not self.settings.chroma_url:
                return method(self, *args, **kwargs)
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


@_server_errors
class Store:
    """The three Chroma collections of one index, opened for one embedding model."""

    def __init__(self, settings: Settings, model_id: str, create: bool) -> None:
        self.settings = settings
        self.model_id = model_id
        if not settings.chroma_url and not create and not (settings.home / "chroma").exists():
            raise IndexNotFoundError(
                f"no index at {settings.home}: run `rag ingest PATH` first (or pass --index-dir)"
            )
        self._client = _client(settings)
        name = settings.collection
        self._docs = self._collection(f"{name}_docs", create, {"embed_model": model_id, "version": 0})
        self._check_model()
        self._chunks = self._collection(f"{name}_chunks", create, {"embed_model": model_id})
        self._sentences = self._collection(f"{name}_sentences", create, {"embed_model": model_id})

    def _collection(self, name: str, create: bool, metadata: dict[str, Any]) -> Any:
        ef = _explicit_embeddings(self.model_id)
        try:
            if create:
                return self._client.get_or_create_collection(
                    name, embedding_function=ef, metadata=metadata, configuration={"hnsw": {"space": "cosine"}}
                )
            return self._client.get_collection(name, embedding_function=ef)
        except (ValueError, LookupError) as exc:
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

    # --- versions ---------------------------------------------------------------

    def version(self) -> int:
        """Bumped on every committed change; the BM25 side records the version it mirrors."""
        if self.settings.chroma_url:  # another process may have changed it
            self._docs = self._client.get_collection(self._docs.name, embedding_function=self._docs._embedding_function)
        return int((self._docs.metadata or {}).get("version", 0))

    def bump_version(self) -> int:
        version = self.version() + 1
        self._docs.modify(metadata={"embed_model": self.model_id, "version": version})
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
        self._docs.upsert(
            ids=[doc.doc_id],
            embeddings=[vector.astype(np.float32)],
            metadatas=[{
                "source": doc.source, "path": doc.path, "sha256": doc.sha256, "lang": doc.lang,
                "title": doc.title, "chunks": chunks, "chars": len(doc.text), "ingested_at": time.time(),
            }],
        )

    def delete_document(self, doc_id: str) -> int:
        """Drop a document's record first (it stops being live), then its chunks."""
        self._docs.delete(ids=[doc_id])
        return self.delete_chunks_where({"doc_id": doc_id})

    # --- chunks and sentences -------------------------------------------------------

    def add_chunks(self, chunks: Sequence[Chunk], doc_sha: str, chunk_vectors: np.ndarray,
                   sentence_vectors: Sequence[np.ndarray]) -> None:
        for i in range(0, len(chunks), _BATCH):
            batch = chunks[i : i + _BATCH]
            self._chunks.upsert(
                ids=[c.chunk_id for c in batch],
                embeddings=chunk_vectors[i : i + _BATCH],
                documents=[c.text for c in batch],
                metadatas=[_chunk_metadata(c, doc_sha) for c in batch],
            )
        ids: list[str] = []
        vectors: list[np.ndarray] = []
        metas: list[dict[str, Any]] = []
        for chunk, sent_vecs in zip(chunks, sentence_vectors):
            for j, vec in enumerate(sent_vecs):
                ids.append(f"{chunk.chunk_id}:{j}")
                vectors.append(vec)
                metas.append({"chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id})
        for i in range(0, len(ids), _BATCH):
            self._sentences.upsert(
                ids=ids[i : i + _BATCH], embeddings=np.asarray(vectors[i : i + _BATCH]), metadatas=metas[i : i + _BATCH]
            )

    def delete_chunks_where(self, where: dict[str, Any]) -> int:
        ids = self._chunks.get(where=where, include=[])["ids"]
        if ids:
            for i in range(0, len(ids), _BATCH):
                self._sentences.delete(where={"chunk_id": {"$in": ids[i : i + _BATCH]}})
                self._chunks.delete(ids=ids[i : i + _BATCH])
        return len(ids)

    def delete_stale_chunks(self, doc_id: str, live_sha: str) -> int:
        """Delete a document's chunks of any other version than the live one."""
        return self.delete_chunks_where({"$and": [{"doc_id": doc_id}, {"doc_sha": {"$ne": live_sha}}]})

    def embeddings_by_text(self, doc_id: str) -> dict[str, np.ndarray]:
        """Existing chunk vectors of a document keyed by text: a changed file re-embeds only what changed."""
        got = self._chunks.get(where={"doc_id": doc_id}, include=["documents", "embeddings"])
        return {text: np.asarray(vec, dtype=np.float32) for text, vec in zip(got["documents"], got["embeddings"])}

    def query(self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[tuple[Chunk, float, str]]:
        """Nearest chunks: (chunk, cosine similarity, doc_sha)."""
        count = self._chunks.count()
        if count == 0:
            return []
        result = self._chunks.query(
            query_embeddings=[vector.astype(np.float32)], n_results=min(n, count), where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            (_chunk_from(cid, text, meta), 1.0 - float(dist), str(meta["doc_sha"]))
            for cid, text, meta, dist in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
            )
        ]

    def get_chunks(self, ids: Sequence[str], with_vectors: bool = False) -> dict[str, Any]:
        """chunk id -> (chunk, doc_sha), or (chunk, doc_sha, vector) with ``with_vectors``."""
        if not ids:
            return {}
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        got = self._chunks.get(ids=list(ids), include=include)
        out: dict[str, Any] = {}
        for i, cid in enumerate(got["ids"]):
            meta = got["metadatas"][i]
            entry = (_chunk_from(cid, got["documents"][i], meta), str(meta["doc_sha"]))
            if with_vectors:
                entry += (np.asarray(got["embeddings"][i], dtype=np.float32),)
            out[cid] = entry
        return out

    def sentence_vectors(self, chunks: Sequence[Chunk]) -> dict[str, np.ndarray]:
        """Sentence embeddings per chunk id, rows in sentence order."""
        ids = [f"{c.chunk_id}:{j}" for c in chunks for j in range(len(c.sentences))]
        if not ids:
            return {}
        got = self._sentences.get(ids=ids, include=["embeddings"])
        by_id = {sid: vec for sid, vec in zip(got["ids"], got["embeddings"])}
        out: dict[str, np.ndarray] = {}
        for c in chunks:
            rows = [by_id.get(f"{c.chunk_id}:{j}") for j in range(len(c.sentences))]
            if all(r is not None for r in rows) and rows:
                out[c.chunk_id] = np.asarray(rows, dtype=np.float32)
        return out

    def iter_chunks(self, page: int = 2000) -> Iterator[tuple[Chunk, str]]:
        """Every stored chunk with its doc_sha (for rebuilding the lexical index)."""
        offset = 0
        while True:
            got = self._chunks.get(include=["documents", "metadatas"], limit=page, offset=offset)
            if not got["ids"]:
                return
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                yield _chunk_from(cid, text, meta), str(meta["doc_sha"])
            offset += len(got["ids"])

    def chunk_count(self) -> int:
        return int(self._chunks.count())

    def sentence_count(self) -> int:
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


def _chunk_metadata(chunk: Chunk, doc_sha: str) -> dict[str, Any]:
    return {
        "doc_id": chunk.doc_id, "doc_sha": doc_sha, "source": chunk.source, "position": chunk.position,
        "start": chunk.start, "end": chunk.end, "lang": chunk.lang, "title": chunk.title,
        # Sentence spans relative to the chunk start, as JSON (Chroma metadata is flat).
        "sentences": json.dumps([[s.start - chunk.start, s.end - chunk.start] for s in chunk.sentences]),
    }


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
