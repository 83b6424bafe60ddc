"""LlamaIndex on top of the index: a retriever, a query engine, and LlamaIndex documents in.

    from rag.llamaindex import RagRetriever, RagQueryEngine
    retriever = RagRetriever(index_dir=".rag", similarity_top_k=5)      # or RagRetriever(pipeline=p)
    nodes = retriever.retrieve("Who co-founded Alibaba?")              # NodeWithScore, our ranking
    engine = RetrieverQueryEngine.from_args(retriever, llm=any_llm)    # LlamaIndex's synthesis
    response = RagQueryEngine(index_dir=".rag").query("...")           # our answerers, cited

    pipeline.ingest(SimpleDirectoryReader("docs/").load_data())        # any LlamaIndex reader feeds it

Retrieval, answering and citing stay in the library (``Pipeline.retrieve`` / ``Pipeline.ask``); this
module only converts. It imports llama-index, so nothing on the ``rag ask`` path imports it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any, Iterable

from rag.offline import apply_offline_env

apply_offline_env()  # before llama-index is imported (its caches, no downloads)

try:
    from llama_index.core.base.base_query_engine import BaseQueryEngine
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.base.response.schema import Response
    from llama_index.core.callbacks import CallbackManager
    from llama_index.core.schema import BaseNode, NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode
except ModuleNotFoundError as exc:  # a core dependency, but say what to install if it is gone
    raise ImportError(f"rag.llamaindex needs llama-index-core ({exc.name} is missing): "
                      f"pip install 'llama-index-core>=0.14,<0.15'") from None

from rag.config import Mode, Settings  # noqa: E402 (after the offline settings)
from rag.errors import InputError  # noqa: E402 (after the offline settings)
from rag.ingest.loading import Skipped, doc_id_for  # noqa: E402 (after the offline settings)
from rag.pipeline import Pipeline  # noqa: E402 (after the offline settings)
from rag.retrieve.hybrid import Filters  # noqa: E402 (after the offline settings)
from rag.lang.detect import detect_language  # noqa: E402 (after the offline settings)
from rag.text import normalize_spaces  # noqa: E402 (after the offline settings)
from rag.types import Answer, Document, Hit  # noqa: E402 (after the offline settings)

# Metadata a node carries for people and tools, but not into an LLM prompt or an embedding.
_BOOKKEEPING_KEYS = ["chunk_id", "doc_id", "start", "end", "position", "cited"]
# LlamaIndex gives a document a random uuid4 id unless told otherwise: such an id is no identity.
_RANDOM_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _pipeline(pipeline: Pipeline | None, index_dir: str | Path | None) -> Pipeline:
    if pipeline is not None and index_dir is not None:
        raise ValueError("give either pipeline= or index_dir=, not both")
    if pipeline is not None:
        return pipeline
    return Pipeline(Settings.from_env().with_overrides(home=index_dir))


def node_from_hit(hit: Hit, cited: list[int] | None = None) -> NodeWithScore:
    """A retrieved chunk as a LlamaIndex node: its id, text and offsets in the source, and metadata."""
    chunk = hit.chunk
    metadata: dict[str, Any] = {"source": chunk.source, "title": chunk.title, "language": chunk.lang,
                                "chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id, "start": chunk.start,
                                "end": chunk.end, "position": chunk.position}
    if cited is not None:
        metadata["cited"] = cited
    node = TextNode(id_=chunk.chunk_id, text=chunk.text, metadata=metadata, start_char_idx=chunk.start,
                    end_char_idx=chunk.end, excluded_llm_metadata_keys=list(_BOOKKEEPING_KEYS),
                    excluded_embed_metadata_keys=list(_BOOKKEEPING_KEYS),
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.doc_id)})
    return NodeWithScore(node=node, score=hit.score)


class RagRetriever(BaseRetriever):
    """The product's hybrid retrieval (dense + BM25, cross-lingual) as a LlamaIndex retriever."""

    def __init__(self, pipeline: Pipeline | None = None, *, index_dir: str | Path | None = None,
                 similarity_top_k: int | None = None, filters: Filters | None = None,
                 callback_manager: CallbackManager | None = None) -> None:
        self.pipeline = _pipeline(pipeline, index_dir)
        self.similarity_top_k = similarity_top_k or self.pipeline.settings.k
        self.filters = filters
        super().__init__(callback_manager=callback_manager)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.pipeline.retrieve(query_bundle.query_str, k=self.similarity_top_k, filters=self.filters)
        return [node_from_hit(hit) for hit in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)  # embedding and search block: off the loop


def response_from_answer(answer: Answer) -> Response:
    """An Answer as a LlamaIndex Response: the cited text; ``source_nodes`` are the chunks read (each
    node's ``metadata["cited"]`` lists the [n] markers citing it); ``metadata["citations"]`` are the
    citations in the ``rag ask --json`` shape."""
    cited: dict[str, list[int]] = {}
    for citation in answer.citations:
        cited.setdefault(citation.chunk, []).append(citation.n)
    nodes = [node_from_hit(hit, cited.get(hit.chunk.chunk_id, [])) for hit in answer.hits]
    metadata = {"citations": [c.to_json() for c in answer.citations], "mode": answer.mode,
                "abstained": answer.abstained}
    return Response(response=answer.answer, source_nodes=nodes, metadata=metadata)


class RagQueryEngine(BaseQueryEngine):
    """Answers with the product's own answerers (extractive, or the configured LLM), cited."""

    def __init__(self, pipeline: Pipeline | None = None, *, index_dir: str | Path | None = None,
                 mode: Mode | None = None, similarity_top_k: int | None = None, filters: Filters | None = None,
                 callback_manager: CallbackManager | None = None) -> None:
        self.pipeline = _pipeline(pipeline, index_dir)
        self.mode = mode
        self.similarity_top_k = similarity_top_k
        self.filters = filters
        super().__init__(callback_manager)

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def _query(self, query_bundle: QueryBundle) -> Response:
        answer = self.pipeline.ask(query_bundle.query_str, k=self.similarity_top_k, mode=self.mode,
                                   filters=self.filters)
        return response_from_answer(answer)

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return await asyncio.to_thread(self._query, query_bundle)

    def retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return RagRetriever(self.pipeline, similarity_top_k=self.similarity_top_k, filters=self.filters) \
            .retrieve(query_bundle)


# --- LlamaIndex documents in ---------------------------------------------------------------


def documents_from_llamaindex(items: Iterable[object]) -> list[Document | Skipped]:
    """LlamaIndex ``Document``s (any reader's) as the library's Documents. Parts of one source (a PDF
    reader's pages share ``file_path``) are joined, in order, into one document, as ``rag ingest``
    reads that file; an empty one is Skipped with the reason."""
    groups: dict[str, list[BaseNode]] = {}
    for item in items:
        if not isinstance(item, BaseNode):
            raise InputError(f"cannot ingest a {type(item).__name__}: give paths, or LlamaIndex Documents")
        groups.setdefault(_identity(item), []).append(item)
    return [_document(key, nodes) for key, nodes in groups.items()]


def _identity(node: BaseNode) -> str:
    """What makes re-ingesting the same source replace it, not add it again: metadata ``doc_id``,
    else ``file_path``, else an id set on purpose, else the text itself."""
    metadata = node.metadata or {}
    if metadata.get("doc_id"):
        return f"id:{metadata['doc_id']}"
    if metadata.get("file_path"):
        return f"path:{Path(str(metadata['file_path'])).expanduser().resolve()}"
    if node.id_ and not _RANDOM_ID.fullmatch(node.id_):
        return f"id:{node.id_}"
    return "text:" + hashlib.sha256(_text(node).encode("utf-8")).hexdigest()


def _text(node: BaseNode) -> str:
    return node.get_content().replace("\r\n", "\n").replace("\r", "\n").strip()


def _document(key: str, nodes: list[BaseNode]) -> Document | Skipped:
    metadata = nodes[0].metadata or {}
    kind, _, value = key.partition(":")
    path = value if kind == "path" else f"llamaindex:{value[:80]}"
    doc_id = doc_id_for(Path(value)) if kind == "path" else hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]
    source = str(metadata.get("file_name") or (Path(value).name if kind == "path" else "")
                 or metadata.get("source") or metadata.get("title") or doc_id)
    text = "\n\n".join(part for part in (_text(node) for node in nodes) if part)
    if not text:
        return Skipped(path, "empty (no text)")
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = str(metadata.get("title") or metadata.get("document_title") or first_line)
    return Document(doc_id=doc_id, source=source, path=path, text=text,
                    sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), lang=detect_language(text),
                    title=normalize_spaces(title)[:200] or source)


__all__ = ["RagRetriever", "RagQueryEngine", "documents_from_llamaindex", "node_from_hit", "response_from_answer"]
