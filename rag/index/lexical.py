"""Lexical search: a BM25 index kept beside Chroma.

LlamaIndex's BM25Retriever cannot run over a Chroma-backed index (its docstore
is empty, llama_index#20601), so we keep our own. After each ingest that changed
something it is updated from the chunks the ingest added and removed: every
chunk's term counts are kept (on disk and in memory), so only new text is
tokenized and Chroma is not read back. It is written atomically and tagged with
the store version it mirrors; a stale or missing one is rebuilt from Chroma's
live chunks on open (the caller's job), so the two sides never disagree for long
(and never after a crash).

Why not bm25s (which it replaces): bm25s can only index a corpus from scratch,
so every ingest re-read every chunk's tokens (JSON), re-indexed the whole corpus
in Python and wrote it all again: ~8 s and ~2 GB to add one file to 100k chunks.
Here the index is a few numpy arrays:

* postings grouped by term (CSC: ``term_ptr``, ``term_docs``, ``term_tf``) and
  each chunk's token count, from which BM25 is scored at query time over the
  query terms' postings only. Nothing is precomputed per posting, so an update
  is a mask (removed chunks) and an insert (added chunks), with no per-chunk
  Python over the corpus;
* each chunk's term prefixes (CSR: ``prefix_ptr``, ``prefix_ids``) and their
  chunk frequencies, so removing a chunk subtracts its prefixes;
* saved as ``.npy`` files loaded with ``mmap_mode="r"`` (a cold start reads only
  what a query touches), vocabularies and ids as newline-joined UTF-8.

Scores equal bm25s's default ("lucene" BM25, k1=1.5, b=0.75; tests/test_lexical.py
checks it against bm25s): idf = ln(1 + (N - df + 0.5) / (df + 0.5)) and a term
scores idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)), summed over the query's
tokens (a repeated query token counts again).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import tempfile
from array import array
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import AbstractSet, Iterable, NamedTuple, Sequence

import numpy as np

from rag.text import lexical_tokens, term_prefixes
from rag.types import Chunk

_MANIFEST = "manifest.json"
# Bump when tokenization, term prefixes or files change: older indexes are rebuilt on open.
# 5: each chunk's document id and sentence count (the retriever ranks without reading rows).
FORMAT = 5
K1 = 1.5
B = 0.75


class Item(NamedTuple):
    """One chunk as the index takes it (a plain ``(chunk_id, text, lang)`` triple also does: its
    document and sentence count are then unknown, and the retriever reads its rows instead)."""

    chunk_id: str
    text: str
    lang: str
    doc_id: str = ""
    sentences: int = -1  # its stored sentence spans; -1: not known

    @classmethod
    def of(cls, chunk: Chunk) -> "Item":
        return cls(chunk.chunk_id, chunk.text, chunk.lang, chunk.doc_id, len(chunk.sentences))


ItemLike = Item | tuple[str, str, str]

_INT = np.int32  # chunk, term and prefix numbers, counts
_PTR = np.int64  # offsets into the postings
_ARRAYS = ("term_ptr", "term_docs", "term_tf", "lengths", "prefix_ptr", "prefix_ids", "prefix_df",
           "sentence_counts")
_STRINGS = ("chunk_ids", "langs", "doc_ids", "vocab", "prefixes")


@dataclass
class LexicalHit:
    chunk_id: str
    score: float
    lang: str = ""


@dataclass(frozen=True)
class _Arrays:
    """The numeric side of the index; chunks are numbered by their position in ``chunk_ids``."""

    term_ptr: np.ndarray  # (terms + 1,) postings of term t: [term_ptr[t], term_ptr[t + 1])
    term_docs: np.ndarray  # (postings,) chunk number, ascending within a term
    term_tf: np.ndarray  # (postings,) occurrences of the term in that chunk
    lengths: np.ndarray  # (chunks,) BM25 tokens per chunk
    prefix_ptr: np.ndarray  # (chunks + 1,) prefixes of chunk c: [prefix_ptr[c], prefix_ptr[c + 1])
    prefix_ids: np.ndarray  # (entries,) prefix numbers
    prefix_df: np.ndarray  # (prefixes,) chunks holding each prefix (0 for a dead one)
    sentence_counts: np.ndarray  # (chunks,) stored sentence spans per chunk (-1: not known)

    @classmethod
    def empty(cls) -> "_Arrays":
        zero = np.zeros(1, _PTR)
        none = np.zeros(0, _INT)
        return cls(zero, none, none, none, zero, none, none, none)

    def consistent(self, chunks: int, terms: int, prefixes: int) -> bool:
        """Whether the arrays fit together and fit these counts (a torn or foreign file does not)."""
        return (len(self.term_ptr) == terms + 1 and len(self.lengths) == chunks == len(self.sentence_counts)
                and len(self.prefix_ptr) == chunks + 1 and len(self.prefix_df) == prefixes
                and int(self.term_ptr[0]) == 0 and int(self.term_ptr[-1]) == len(self.term_docs) == len(self.term_tf)
                and int(self.prefix_ptr[0]) == 0 and int(self.prefix_ptr[-1]) == len(self.prefix_ids))


class _Added:
    """The chunks an update adds, tokenized: postings (term, chunk, tf), token counts, prefix ids
    (int32 arrays, not lists: a rebuild of 100k chunks holds ~10M postings here)."""

    def __init__(self) -> None:
        self.terms, self.docs, self.tfs = array("i"), array("i"), array("i")
        self.lengths, self.prefix_counts, self.prefix_ids = array("i"), array("i"), array("i")
        self.sentence_counts = array("i")


class LexicalIndex:
    def __init__(self, chunk_ids: list[str], langs: list[str], doc_ids: list[str], vocab: list[str],
                 prefixes: list[str], arrays: _Arrays, version: int) -> None:
        self.chunk_ids = chunk_ids
        self.langs = langs
        self.doc_ids = doc_ids  # each chunk's document ("" where not known)
        self.version = version
        self._vocab = vocab  # BM25 tokens, numbered by position
        self._prefixes = prefixes  # term prefixes, numbered by position
        self._a = arrays

    # --- term prefixes: whether a name occurs in the corpus at all, and how rare it is ---

    @cached_property
    def terms(self) -> dict[str, int]:
        """Chunk frequency of every term prefix (see rag.text.term_prefix) the corpus holds."""
        df = self._a.prefix_df.tolist()
        return {prefix: n for prefix, n in zip(self._prefixes, df) if n > 0}

    def has_term(self, prefix: str) -> bool:
        return prefix in self.terms

    def idf(self, prefix: str) -> float:
        """Inverse chunk frequency of a term prefix; 0 for a term the corpus lacks."""
        df = self.terms.get(prefix, 0)
        return math.log(1 + len(self.chunk_ids) / df) if df else 0.0

    # --- what the retriever reads here instead of Chroma rows ---

    @cached_property
    def knows_chunks(self) -> bool:
        """Whether every chunk's document and sentence count are recorded (an index built from full
        :class:`Item` s): only then can :meth:`position`, :attr:`doc_ids`, :meth:`sentence_counts_of` and
        :meth:`prefixes_held` stand in for a chunk's row."""
        return "" not in self.doc_ids and bool((np.asarray(self._a.sentence_counts) >= 0).all())

    def position(self, chunk_id: str) -> int | None:
        """The chunk's number here; None: this index does not hold it."""
        return self._positions.get(chunk_id)

    def sentence_counts_of(self, positions: Sequence[int]) -> list[int]:
        """Each chunk's (by position) stored sentence count, in one read of the array (indexing the
        memory-mapped array once per chunk cost ~1 ms a question over ~300 candidates)."""
        if not len(positions):
            return []
        return np.asarray(self._a.sentence_counts[np.asarray(positions, dtype=np.int64)]).tolist()

    def prefixes_held(self, positions: Sequence[int], prefixes: Iterable[str]) -> list[AbstractSet[str]]:
        """Which of ``prefixes`` each chunk (by position) holds: the term prefixes a row's ``terms``
        carries, read from the CSR arrays for all the chunks at once. Most chunks hold none: they
        share one empty set (a fresh set each was ~1 ms a question at 10k)."""
        nothing: frozenset[str] = frozenset()
        held: list[AbstractSet[str]] = [nothing] * len(positions)
        wanted = {self._prefix_ids[p]: p for p in prefixes if p in self._prefix_ids}
        if not wanted or not len(positions):
            return held
        at = np.asarray(positions, dtype=np.int64)
        starts, ends = self._a.prefix_ptr[at], self._a.prefix_ptr[at + 1]
        counts = (ends - starts).astype(np.int64)
        owner = np.repeat(np.arange(len(at)), counts)
        # Every entry of every chunk: its start plus its offset inside the chunk's run.
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        entries = np.asarray(self._a.prefix_ids[np.repeat(starts, counts) + offsets])
        found: dict[int, set[str]] = {}
        for number, prefix in wanted.items():
            for chunk in np.unique(owner[entries == number]).tolist():
                found.setdefault(chunk, set()).add(prefix)
        for chunk, names in found.items():
            held[chunk] = names
        return held

    # --- building and updating ---

    @classmethod
    def build(cls, items: Iterable[ItemLike], version: int) -> "LexicalIndex":
        """Index chunks from scratch."""
        empty = cls([], [], [], [], [], _Arrays.empty(), version)
        return empty._with(items, (), version)

    def updated(self, added: Iterable[ItemLike], removed: Iterable[str], version: int) -> "LexicalIndex | None":
        """This index with chunks added and removed, tokenizing only the added text; None if this
        index is not whole (the caller rebuilds). Every chunk's counts are held in memory (mapped
        from the files the index was loaded from), so nothing is read again."""
        if not self._a.consistent(len(self.chunk_ids), len(self._vocab), len(self._prefixes)) \
                or not len(self.langs) == len(self.doc_ids) == len(self.chunk_ids):
            return None
        return self._with(added, removed, version)

    def _with(self, added: Iterable[ItemLike], removed: Iterable[str], version: int) -> "LexicalIndex":
        position = self._positions
        keep = np.ones(len(self.chunk_ids), bool)
        keep[[position[cid] for cid in set(removed) if cid in position]] = False
        kept = keep.tolist()
        chunk_ids = list(itertools.compress(self.chunk_ids, kept))
        langs = list(itertools.compress(self.langs, kept))
        doc_ids = list(itertools.compress(self.doc_ids, kept))
        # Copies: this index stays whole for the readers that still hold it.
        vocab, prefixes = list(self._vocab), list(self._prefixes)
        token_ids, prefix_ids = dict(self._token_ids), dict(self._prefix_ids)
        present = set(chunk_ids)
        new = _Added()
        for item in map(_as_item, added):
            if item.chunk_id in present:
                continue
            present.add(item.chunk_id)
            _tokenize(item.text, item.lang, len(chunk_ids), new, token_ids, vocab, prefix_ids, prefixes)
            new.sentence_counts.append(item.sentences)
            chunk_ids.append(item.chunk_id)
            langs.append(item.lang)
            doc_ids.append(item.doc_id)
        arrays = _append(_drop(self._a, keep), new, len(vocab), len(prefixes))
        return _compacted(LexicalIndex(chunk_ids, langs, doc_ids, vocab, prefixes, arrays, version))

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {cid: i for i, cid in enumerate(self.chunk_ids)}

    @cached_property
    def _token_ids(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self._vocab)}

    @cached_property
    def _prefix_ids(self) -> dict[str, int]:
        return {prefix: i for i, prefix in enumerate(self._prefixes)}

    # --- searching ---

    @cached_property
    def _norms(self) -> np.ndarray:
        """k1 * (1 - b + b * dl / avgdl) per chunk: the length part of every term score."""
        lengths = self._a.lengths.astype(np.float64)
        avgdl = lengths.mean() if len(lengths) else 0.0
        if avgdl == 0:
            return np.full(len(lengths), K1 * (1 - B))
        return K1 * ((1 - B) + B * lengths / avgdl)

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every chunk for these query tokens (bm25s's ``get_scores``)."""
        a, n = self._a, len(self.chunk_ids)
        scores = np.zeros(n, np.float64)
        for token in tokens:
            term = self._token_ids.get(token)
            if term is None:
                continue
            start, end = int(a.term_ptr[term]), int(a.term_ptr[term + 1])
            if start == end:
                continue
            docs = a.term_docs[start:end]
            tf = a.term_tf[start:end].astype(np.float64)
            df = end - start
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            scores[docs] += idf * tf / (tf + self._norms[docs])  # a term's chunks are distinct
        return scores

    def search(self, question: str, lang: str, n: int) -> list[LexicalHit]:
        if not self.chunk_ids or n <= 0:
            return []
        tokens = lexical_tokens(question, lang)
        if not tokens:
            return []
        scores = self.scores(tokens)
        found = np.flatnonzero(scores > 0)
        if len(found) > n:
            found = found[np.argpartition(-scores[found], n - 1)[:n]]
        found = found[np.lexsort((found, -scores[found]))]  # best first, ties by position
        return [LexicalHit(self.chunk_ids[i], float(scores[i]), self.langs[i]) for i in found.tolist()]

    # --- files ---

    def save(self, directory: Path) -> None:
        """Write to a temporary folder, then swap it in: a crash leaves the old index whole."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=directory.parent))
        try:
            for name in _ARRAYS:
                np.save(tmp / f"{name}.npy", getattr(self._a, name), allow_pickle=False)
            strings = {"chunk_ids": self.chunk_ids, "langs": self.langs, "doc_ids": self.doc_ids,
                       "vocab": self._vocab, "prefixes": self._prefixes}
            for name, values in strings.items():
                np.save(tmp / f"{name}.npy", _pack(values), allow_pickle=False)
            (tmp / _MANIFEST).write_text(json.dumps({
                "format": FORMAT, "version": self.version, "chunks": len(self.chunk_ids),
                "terms": len(self._vocab), "prefixes": len(self._prefixes),
            }))
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
            # Mapped, not read: the files are never written in place (a save swaps a new folder in).
            arrays = _Arrays(**{name: np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                                for name in _ARRAYS})
            chunks, terms, n_prefixes = int(meta["chunks"]), int(meta["terms"]), int(meta["prefixes"])
            counts = {"chunk_ids": chunks, "langs": chunks, "doc_ids": chunks, "vocab": terms, "prefixes": n_prefixes}
            chunk_ids, langs, doc_ids, vocab, prefixes = (
                _unpack(np.load(directory / f"{name}.npy", allow_pickle=False), counts[name]) for name in _STRINGS)
            if not arrays.consistent(chunks, terms, n_prefixes):
                return None
            return cls(chunk_ids, langs, doc_ids, vocab, prefixes, arrays, int(meta["version"]))
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return None


# --- updates, vectorized over the corpus --------------------------------------------


def _as_item(item: ItemLike) -> Item:
    return item if isinstance(item, Item) else Item(*item)


def _tokenize(text: str, lang: str, doc: int, new: _Added, token_ids: dict[str, int], vocab: list[str],
              prefix_ids: dict[str, int], prefixes: list[str]) -> None:
    """Add one chunk's term counts and prefixes to ``new``, numbering unseen terms and prefixes."""
    tokens = lexical_tokens(text, lang)
    for token, tf in Counter(tokens).items():
        new.terms.append(_number(token, token_ids, vocab))
        new.docs.append(doc)
        new.tfs.append(tf)
    new.lengths.append(len(tokens))
    ids = [_number(prefix, prefix_ids, prefixes) for prefix in term_prefixes(text)]
    new.prefix_counts.append(len(ids))
    new.prefix_ids.extend(ids)


def _number(key: str, ids: dict[str, int], names: list[str]) -> int:
    number = ids.get(key)
    if number is None:
        number = ids[key] = len(names)
        names.append(key)
    return number


def _drop(a: _Arrays, keep: np.ndarray) -> _Arrays:
    """The arrays without the chunks ``keep`` marks False; the others are renumbered in order."""
    if keep.all():
        return a
    renumber = (np.cumsum(keep) - 1).astype(_INT)
    kept_postings = keep[a.term_docs]
    # The postings kept before each offset: term t now spans [kept[term_ptr[t]], kept[term_ptr[t + 1]]).
    kept_before = np.concatenate(([0], np.cumsum(kept_postings, dtype=_PTR)))
    prefix_counts = np.diff(a.prefix_ptr)
    kept_entries = np.repeat(keep, prefix_counts)
    prefix_df = a.prefix_df - np.bincount(a.prefix_ids[~kept_entries], minlength=len(a.prefix_df)).astype(_INT)
    return _Arrays(
        term_ptr=kept_before[a.term_ptr],
        term_docs=renumber[a.term_docs[kept_postings]],
        term_tf=np.asarray(a.term_tf[kept_postings]),
        lengths=np.asarray(a.lengths[keep]),
        prefix_ptr=_offsets(prefix_counts[keep]),
        prefix_ids=np.asarray(a.prefix_ids[kept_entries]),
        prefix_df=prefix_df,
        sentence_counts=np.asarray(a.sentence_counts[keep]),
    )


def _append(a: _Arrays, new: _Added, terms: int, prefixes: int) -> _Arrays:
    """The arrays with the added chunks' postings slotted in at the end of their terms."""
    if not new.lengths:
        return a
    add_terms = _ints(new.terms)
    order = np.argsort(add_terms, kind="stable")  # by term, then chunk (chunks were added in order)
    add_terms, add_docs, add_tf = add_terms[order], _ints(new.docs)[order], _ints(new.tfs)[order]
    old_terms = len(a.term_ptr) - 1
    term_ptr = np.concatenate((a.term_ptr, np.full(terms - old_terms, a.term_ptr[-1], _PTR)))
    at = term_ptr[add_terms + 1]  # insert after the term's existing postings (lower chunk numbers)
    term_ptr = term_ptr + np.concatenate(([0], np.cumsum(np.bincount(add_terms, minlength=terms), dtype=_PTR)))
    add_prefixes = _ints(new.prefix_ids)
    prefix_df = np.concatenate((a.prefix_df, np.zeros(prefixes - len(a.prefix_df), _INT)))
    prefix_counts = np.concatenate((np.diff(a.prefix_ptr), _ints(new.prefix_counts)))
    return _Arrays(
        term_ptr=term_ptr,
        term_docs=np.insert(a.term_docs, at, add_docs),
        term_tf=np.insert(a.term_tf, at, add_tf),
        lengths=np.concatenate((a.lengths, _ints(new.lengths))),
        prefix_ptr=_offsets(prefix_counts),
        prefix_ids=np.concatenate((a.prefix_ids, add_prefixes)),
        prefix_df=prefix_df + np.bincount(add_prefixes, minlength=prefixes).astype(_INT),
        sentence_counts=np.concatenate((a.sentence_counts, _ints(new.sentence_counts))),
    )


def _ints(values: array) -> np.ndarray:
    return np.frombuffer(values, np.intc).astype(_INT)


def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(counts, dtype=_PTR)))


def _compacted(index: LexicalIndex) -> LexicalIndex:
    """Forget terms and prefixes no chunk holds any more, once they are a quarter of a vocabulary."""
    a = index._a
    term_alive = np.diff(a.term_ptr) > 0
    prefix_alive = a.prefix_df > 0
    if (~term_alive).sum() * 4 <= len(term_alive) and (~prefix_alive).sum() * 4 <= len(prefix_alive):
        return index
    # Dead terms have no postings: dropping their offsets renumbers the rest, postings unchanged.
    term_ptr = np.concatenate((a.term_ptr[:1], a.term_ptr[1:][term_alive]))
    renumber = (np.cumsum(prefix_alive) - 1).astype(_INT)
    arrays = _Arrays(term_ptr, a.term_docs, a.term_tf, a.lengths, a.prefix_ptr,
                     renumber[a.prefix_ids], np.asarray(a.prefix_df[prefix_alive]), a.sentence_counts)
    vocab = list(itertools.compress(index._vocab, term_alive.tolist()))
    prefixes = list(itertools.compress(index._prefixes, prefix_alive.tolist()))
    return LexicalIndex(index.chunk_ids, index.langs, index.doc_ids, vocab, prefixes, arrays, index.version)


# --- strings as one array: fast to save and to load -----------------------------------


def _pack(values: list[str]) -> np.ndarray:
    """Newline-joined UTF-8 (ids, tokens and prefixes hold no newline)."""
    return np.frombuffer("\n".join(values).encode("utf-8"), np.uint8)


def _unpack(data: np.ndarray, count: int) -> list[str]:
    """The ``count`` strings :func:`_pack` joined (a count, as one empty string packs like none)."""
    if data.dtype != np.uint8 or data.ndim != 1:
        raise ValueError("not a string array")
    values = data.tobytes().decode("utf-8").split("\n") if count else []
    if len(values) != count:
        raise ValueError("string count mismatch")
    return values
