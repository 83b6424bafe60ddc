"""Lexical search: a BM25 index (bm25s) kept beside Chroma.

LlamaIndex's BM25Retriever cannot run over a Chroma-backed index (its docstore
is empty, llama_index#20601), so we keep our own. After each ingest that changed
something it is updated from the chunks the ingest added and removed: every
chunk's tokens are kept on disk (``entries.json``), so only new text is
tokenized and Chroma is not read back. It is written atomically and tagged with
the store version it mirrors; a stale or missing one is rebuilt from Chroma's
live chunks on open, so the two sides never disagree for long (and never after
a crash).
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
_ENTRIES = "entries.json"
FORMAT = 3  # bump when tokenization, term prefixes or files change: older indexes are rebuilt

Item = tuple[str, str, str]  # (chunk_id, text, lang)


@dataclass
class LexicalHit:
    chunk_id: str
    score: float
    lang: str = ""


@dataclass(frozen=True)
class _Entry:
    """What the index keeps of one chunk, as space-joined strings (compact in memory and on disk)."""

    lang: str
    tokens: str  # BM25 tokens
    prefixes: str  # term prefixes (for document frequencies)

    @classmethod
    def of(cls, text: str, lang: str) -> "_Entry":
        return cls(lang, " ".join(lexical_tokens(text, lang)), " ".join(term_prefixes(text)))


class LexicalIndex:
    def __init__(self, retriever: object | None, chunk_ids: list[str], version: int, terms: dict[str, int],
                 langs: list[str] | None = None, entries: dict[str, _Entry] | None = None) -> None:
        self._retriever = retriever
        self.chunk_ids = chunk_ids
        self.langs = langs or [""] * len(chunk_ids)
        self.version = version
        # Chunk frequency of every term prefix (see rag.text.term_prefix): whether a
        # name occurs in the corpus at all, and how rare (informative) it is.
        self.terms = terms
        # Per-chunk tokens, held only between a build/update and the save that writes them.
        self._entries = entries

    def has_term(self, prefix: str) -> bool:
        return prefix in self.terms

    def idf(self, prefix: str) -> float:
        """Inverse chunk frequency of a term prefix; 0 for a term the corpus lacks."""
        df = self.terms.get(prefix, 0)
        return math.log(1 + len(self.chunk_ids) / df) if df else 0.0

    @classmethod
    def build(cls, items: Iterable[Item], version: int) -> "LexicalIndex":
        """Index ``(chunk_id, text, lang)`` triples from scratch."""
        entries = {chunk_id: _Entry.of(text, lang) for chunk_id, text, lang in items}
        terms: dict[str, int] = {}
        for entry in entries.values():
            for prefix in entry.prefixes.split():
                terms[prefix] = terms.get(prefix, 0) + 1
        return cls._from_entries(entries, terms, version)

    def updated(self, directory: Path, added: Iterable[Item], removed: Iterable[str], version: int) -> "LexicalIndex | None":
        """This index with chunks added and removed, tokenizing only the added text; None if
        the per-chunk tokens on disk are missing or not this index's (the caller rebuilds)."""
        entries = self._entries if self._entries is not None else _load_entries(directory, self.version)
        if entries is None or len(entries) != len(self.chunk_ids):
            return None
        terms = dict(self.terms)
        for chunk_id in removed:
            entry = entries.pop(chunk_id, None)
            if entry is not None:
                _count(terms, entry.prefixes, -1)
        for chunk_id, text, lang in added:
            if chunk_id in entries:
                continue
            entries[chunk_id] = entry = _Entry.of(text, lang)
            _count(terms, entry.prefixes, +1)
        return self._from_entries(entries, terms, version)

    @classmethod
    def _from_entries(cls, entries: dict[str, _Entry], terms: dict[str, int], version: int) -> "LexicalIndex":
        chunk_ids = list(entries)
        if not chunk_ids:
            return cls(None, [], version, {}, [], entries)
        import bm25s

        retriever = bm25s.BM25()
        retriever.index([entries[cid].tokens.split() for cid in chunk_ids], show_progress=False)
        return cls(retriever, chunk_ids, version, terms, [entries[cid].lang for cid in chunk_ids], entries)

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
        return [LexicalHit(self.chunk_ids[i], float(scores[i]), self.langs[i]) for i in top if scores[i] > 0]

    def save(self, directory: Path) -> None:
        """Write to a temporary folder, then swap it in: a crash leaves the old index whole."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=directory.parent))
        try:
            if self._retriever is not None:
                self._retriever.save(str(tmp), show_progress=False)  # type: ignore[attr-defined]
            if self._entries is not None:
                entries = {cid: [e.lang, e.tokens, e.prefixes] for cid, e in self._entries.items()}
                (tmp / _ENTRIES).write_text(json.dumps({"version": self.version, "entries": entries}))
            (tmp / _MANIFEST).write_text(json.dumps({
                "format": FORMAT, "version": self.version, "chunk_ids": self.chunk_ids, "langs": self.langs,
                "terms": self.terms,
            }))
            old = directory.with_name(directory.name + ".old")
            if directory.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
            self._entries = None  # on disk now; queries do not need them
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
            return cls(retriever, list(meta["chunk_ids"]), int(meta["version"]), dict(meta["terms"]),
                       list(meta["langs"]))
        except (OSError, ValueError, KeyError):
            return None


def _count(terms: dict[str, int], prefixes: str, delta: int) -> None:
    for prefix in prefixes.split():
        count = terms.get(prefix, 0) + delta
        if count > 0:
            terms[prefix] = count
        else:
            terms.pop(prefix, None)


def _load_entries(directory: Path, version: int) -> dict[str, _Entry] | None:
    try:
        data = json.loads((directory / _ENTRIES).read_text())
        if data.get("version") != version:
            return None
        return {cid: _Entry(*values) for cid, values in data["entries"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None
