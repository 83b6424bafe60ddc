"""Chunking: a :class:`Document` -> sentence-aware, overlapping :class:`Chunk` list.

LlamaIndex's ``SentenceSplitter`` does the packing, fed with our sentence
segmenter and the embedding model's own token count, so a 200-token chunk is
200 e5 tokens (well under its 512-token window) and no tiktoken file is ever
needed. We then locate every chunk in the source ourselves: chunk text is
always ``document.text[start:end]`` (LlamaIndex's own offsets were wrong for
overlapping sub-nodes, PR #22537).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING

from rag.e5 import token_count
from rag.text import sentence_texts, split_sentences
from rag.types import Chunk, Document

if TYPE_CHECKING:
    from llama_index.core.node_parser import SentenceSplitter


def _e5_tokens(text: str) -> range:
    # SentenceSplitter only takes len() of what the tokenizer returns.
    return range(token_count(text))


@lru_cache(maxsize=4)
def _splitter(chunk_tokens: int, overlap_tokens: int) -> SentenceSplitter:
    from rag.offline import apply_offline_env

    apply_offline_env()
    from llama_index.core.node_parser import SentenceSplitter

    return SentenceSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=overlap_tokens,
        tokenizer=_e5_tokens,
        chunking_tokenizer_fn=sentence_texts,
        paragraph_separator="\n\n",
        include_metadata=False,
        include_prev_next_rel=False,
    )


def chunk_id_for(doc_id: str, doc_sha: str, text: str, occurrence: int) -> str:
    """Content-derived id: the same document version and text always give the same id."""
    digest = hashlib.sha256(f"{doc_id}\x00{doc_sha}\x00{occurrence}\x00{text}".encode("utf-8"))
    return digest.hexdigest()[:32]


def chunk_document(doc: Document, chunk_tokens: int = 200, overlap_tokens: int = 40) -> list[Chunk]:
    pieces = _splitter(chunk_tokens, overlap_tokens).split_text(doc.text)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    cursor = 0
    for piece in pieces:
        start = _locate(doc.text, piece, cursor)
        end = start + len(piece)
        cursor = start + 1
        text = doc.text[start:end]
        occurrence = seen.get(text, 0)
        seen[text] = occurrence + 1
        chunks.append(
            Chunk(
                chunk_id=chunk_id_for(doc.doc_id, doc.sha256, text, occurrence),
                doc_id=doc.doc_id,
                source=doc.source,
                position=len(chunks),
                start=start,
                end=end,
                text=text,
                lang=doc.lang,
                title=doc.title,
                sentences=tuple(split_sentences(text, offset=start)),
            )
        )
    return chunks


def _locate(text: str, piece: str, cursor: int) -> int:
    """Offset of ``piece`` in ``text`` at or after ``cursor`` (chunks come in order)."""
    found = text.find(piece, cursor)
    if found < 0:
        found = text.find(piece)
    if found < 0:
        # The splitter never rewrites text today; fail loudly rather than cite a wrong span.
        raise ValueError("chunk text not found in its document (splitter changed the text)")
    return found
