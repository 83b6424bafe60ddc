"""Lexical search: a BM25 index (bm25s) kept beside Chroma.

LlamaIndex's BM25Retriever cannot run over a Chroma-backed index (its docstore
is empty, llama_index#20601), so we keep our own. It is rebuilt from Chroma's
live chunks after each ingest that changed something, written atomically, and
tagged with the store version it mirrors; a stale or missing one is rebuilt on
open, so the two sides never disagree for long (and never after a crash).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

import math

from rag.text import lexical_tokens, term_prefixes

_MANIFEST = "manifest.json"
FORMAT = 2  # bump when tokenization or term prefixes change: older indexes are rebuilt


@dataclass
class LexicalHit:
    chunk_id: str
    score: float


class LexicalIndex:
    def __init__(self, retriever: object | None, chunk_ids: list[str], version: int, terms: dict[str, int]) -> None:
        self._retriever = retriever
        self.chunk_ids = chunk_ids
        self.version = version
        # Chunk frequency of every term prefix (see rag.text.term_prefix): whether a
        # name occurs in the corpus at all, and how rare (informative) it is.
        self.terms = terms

    def has_term(self, prefix: str) -> bool:
        return prefix in self.terms

    def idf(self, prefix: str) -> float:
        """Inverse chunk frequency of a term prefix; 0 for a term the corpus lacks."""
        df = self.terms.get(prefix, 0)
        return math.log(1 + len(self.chunk_ids) / df) if df else 0.0

    @classmethod
    def build(cls, items: Iterable[tuple[str, str, str]], version: int) -> "LexicalIndex":
        """Index ``(chunk_id, text, lang)`` triples."""
        import bm25s

        chunk_ids: list[str] = []
        corpus: list[list[str]] = []
        terms: dict[str, int] = {}
        for chunk_id, text, lang in items:
            chunk_ids.append(chunk_id)
            corpus.append(lexical_tokens(text, lang))
            for prefix in term_prefixes(text):
                terms[prefix] = terms.get(prefix, 0) + 1
        if not corpus:
            return cls(None, [], version, {})
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        return cls(retriever, chunk_ids, version, terms)

    def search(self, question: str, lang: str, n: int) -> list[LexicalHit]:
        if self._retriever is None or n <= 0:
            return []
        tokens = lexical_tokens(question, lang)
        if not tokens:
            return []
        scores = self._retriever.get_scores(tokens)  # type: ignore[attr-defined]
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [LexicalHit(self.chunk_ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def save(self, directory: Path) -> None:
        """Write to a temporary folder, then swap it in: a crash leaves the old index whole."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=directory.parent))
        try:
            if self._retriever is not None:
                self._retriever.save(str(tmp), show_progress=False)  # type: ignore[attr-defined]
            (tmp / _MANIFEST).write_text(json.dumps({"format": FORMAT, "version": self.version, "chunk_ids": self.chunk_ids, "terms": self.terms}))
            old = directory.with_name(directory.name + ".old")
            if directory.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> "LexicalIndex | None":
        """The saved index, or None if missing or unreadable (the caller rebuilds)."""
        manifest = directory / _MANIFEST
        if not manifest.exists():
            old = directory.with_name(directory.name + ".old")  # crash between the two renames
            if (old / _MANIFEST).exists():
                directory = old
                manifest = old / _MANIFEST
            else:
                return None
        try:
            meta = json.loads(manifest.read_text())
            if meta.get("format") != FORMAT:
                return None
            retriever = None
            if meta["chunk_ids"]:
                import bm25s

                retriever = bm25s.BM25.load(str(directory), show_progress=False, verbosity=0)
            return cls(retriever, list(meta["chunk_ids"]), int(meta["version"]), dict(meta["terms"]))
        except (OSError, ValueError, KeyError):
            return None
