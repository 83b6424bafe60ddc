"""An on-disk cache of passage embeddings, and an embedder wrapper that uses it.

The cache lives under ``bench/cache/embeddings/<model>/`` (git-ignored) as
shards of (key, vector) pairs, key = the first 16 bytes of
SHA-256(text). Only real model outputs are ever written to it.

:class:`CachingEmbedder` wraps the product's embedder (``Pipeline.embedder``
is replaced after construction: the product code is not touched) and, by
mode:

* ``record``: every vector is computed by the model (the timed ingest stays
  real) and remembered, to be written with :meth:`flush`;
* ``reuse``: cached vectors are looked up; a miss is computed by the model
  and remembered;
* ``approx``: cached vectors are looked up; a missing *multi-sentence*
  text gets the normalized mean of its sentences' vectors (each sentence
  looked up, or computed by the model and cached). Used for the 100k size, so
  it finishes in minutes without hours of embedding; its vectors are real e5
  vectors for the sentences and an approximation for the chunks, which is
  fine for store, index and query costs but not for retrieval quality.

Queries are never cached: every query is embedded by the model.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

Mode = Literal["record", "reuse", "approx"]


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


class EmbeddingCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._index: dict[bytes, tuple[int, int]] = {}  # key -> (shard, row)
        self._shards: list[np.ndarray] = []
        self._pending: dict[bytes, np.ndarray] = {}
        if directory.exists():
            for path in sorted(directory.glob("shard-*.npz")):
                try:
                    with np.load(path) as data:
                        keys, vectors = data["keys"], data["vectors"]
                except (OSError, ValueError, KeyError):
                    continue  # a torn shard (killed mid-write) is ignored
                shard = len(self._shards)
                self._shards.append(vectors)
                for row, key in enumerate(keys):
                    self._index[bytes(key)] = (shard, row)

    def __len__(self) -> int:
        return len(self._index) + len(self._pending)

    def get(self, key: bytes) -> np.ndarray | None:
        pending = self._pending.get(key)
        if pending is not None:
            return pending
        where = self._index.get(key)
        return None if where is None else self._shards[where[0]][where[1]]

    def put(self, key: bytes, vector: np.ndarray) -> None:
        if key not in self._index and key not in self._pending:
            self._pending[key] = np.asarray(vector, dtype=np.float32)

    def flush(self) -> int:
        """Write what was added since the last flush as a new shard; returns how many vectors."""
        if not self._pending:
            return 0
        self.directory.mkdir(parents=True, exist_ok=True)
        keys = np.frombuffer(b"".join(self._pending), dtype="S16")
        vectors = np.stack(list(self._pending.values()))
        fd, tmp = tempfile.mkstemp(prefix=".shard-", suffix=".npz", dir=self.directory)
        os.close(fd)
        np.savez(tmp, keys=keys, vectors=vectors)
        name = f"shard-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{len(self._shards):03d}.npz"
        os.replace(tmp, self.directory / name)
        shard = len(self._shards)
        self._shards.append(vectors)
        for row, key in enumerate(self._pending):
            self._index[key] = (shard, row)
        count = len(self._pending)
        self._pending = {}
        return count

    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._shards) + sum(v.nbytes for v in self._pending.values())


def cache_dir_for(root: Path, model_id: str) -> Path:
    return root / "embeddings" / "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)


class CachingEmbedder:
    """Drop-in for the product's embedder (same ``model_id`` and ``dim``), backed by an :class:`EmbeddingCache`."""

    def __init__(self, inner, cache: EmbeddingCache, mode: Mode) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.cache = cache
        self.mode = mode
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.counts = {"texts": 0, "chars": 0, "hits": 0, "computed": 0, "approximated": 0}

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.counts["texts"] += len(texts)
        self.counts["chars"] += sum(len(t) for t in texts)
        if self.mode == "record":
            vectors = self.inner.embed_passages(texts)
            self.counts["computed"] += len(texts)
            for text, vector in zip(texts, vectors):
                self.cache.put(text_key(text), vector)
            return vectors
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: list[int] = []
        for i, text in enumerate(texts):
            vector = self.cache.get(text_key(text))
            if vector is None:
                missing.append(i)
            else:
                out[i] = vector
        self.counts["hits"] += len(texts) - len(missing)
        if missing and self.mode == "approx":
            missing = self._approximate(texts, missing, out)
        if missing:
            vectors = self.inner.embed_passages([texts[i] for i in missing])
            self.counts["computed"] += len(missing)
            for i, vector in zip(missing, vectors):
                out[i] = vector
                self.cache.put(text_key(texts[i]), vector)
        return out

    def _approximate(self, texts: Sequence[str], missing: list[int], out: np.ndarray) -> list[int]:
        """Fill multi-sentence texts from their sentences' vectors; return the rest (single sentences)."""
        from rag.text import split_sentences

        parts = {i: [s.text for s in split_sentences(texts[i])] for i in missing}
        still = [i for i in missing if len(parts[i]) < 2]
        sentences = list(dict.fromkeys(s for i in missing if len(parts[i]) >= 2 for s in parts[i]))
        unknown = [s for s in sentences if self.cache.get(text_key(s)) is None]
        if unknown:
            for sentence, vector in zip(unknown, self.inner.embed_passages(unknown)):
                self.cache.put(text_key(sentence), vector)
            self.counts["computed"] += len(unknown)
        for i in missing:
            if len(parts[i]) >= 2:
                mean = np.mean([self.cache.get(text_key(s)) for s in parts[i]], axis=0)
                out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
                self.counts["approximated"] += 1
        return still
