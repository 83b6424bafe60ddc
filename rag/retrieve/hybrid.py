"""Retrieving: hybrid dense (Chroma) + lexical (BM25) search, fused.

Why not plain reciprocal-rank fusion: across languages BM25 matches only
names, numbers and function-word noise, so an equal vote lets it push good
dense hits down (measured on the seeds: hit@5 0.86 for naive RRF against 1.00
for dense alone). Here

* both legs propose candidates (dense top-N from Chroma, BM25 top-N over the
  whole question); a chunk only BM25 found gets its true dense score from its
  stored vector, so every candidate is compared on the same scale;
* the dense cosine similarity is the backbone of the fused score;
* the lexical evidence that counts is the one that crosses languages: the
  question's names and numbers (``rag.lang.question``). A chunk earns a bonus for
  the share of them it contains, weighted by rarity (IDF), so "Nemotron" or
  "4,3" counts and "Alibaba", present everywhere, does not reorder anything.
  A question with no name, or names the corpus lacks, is ranked by dense
  similarity alone: the lexical leg can add candidates but cannot push a
  better dense hit down.

* a chunk is as relevant as its best passage: the leading candidates are
  re-scored with the mean of the chunk's similarity and that of its
  best-matching sentence (sentence vectors are stored at ingest). A
  200-token chunk dilutes a one-sentence fact among its neighbours; the
  sentence term lifts the chunk that states it. Measured on the calibration
  gold sets (dev + lead): hit@1 0.87 -> 0.93, MRR 0.93 -> 0.96; hit@5 stays
  1.00. The sentence vectors travel on the hits, so the extractive answerer
  reads none again.

``eval`` reports hit@k per language pair; ``tests/test_retrieval.py`` checks
hybrid against dense alone.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.index.corpus import CorpusView
from rag.index.lexical import LexicalHit
from rag.index.store import Store, StoredChunk
from rag.lang.bias import language_shifts
from rag.retrieve.query import Query
from rag.types import Chunk, Hit

# Weight of the name coverage (0..1) against cosine similarity. e5 similarities
# of the relevant chunks for a question spread over about 0.05, so a chunk with
# all the question's rare names can overtake near-ties, not a clearly better one.
NAME_WEIGHT = 0.03
# A name the chunk lacks but another candidate chunk of its document holds counts this share: a
# chunk in the middle of a list or a long paragraph rarely repeats the entity it is about ("...
# costa-ricanischer Präsident José María Figueres; ..." in a Harvard alumni list), and the full bonus
# for its neighbours alone pushed it out of the top 5. Chosen on the 14 xquad-dev training articles
# (retrieval, k=5; 0 / 0.25 / 0.35 / 0.5 / 1): hit@1 0.909 / 0.913 / 0.913 / 0.909 / 0.906, hit@5
# 0.994 / 0.997 / 0.997 / 0.997 / 0.997; ro/ru/tr/el/vi questions hit@5 0.945 -> 0.948 at 0.25. Held
# out: xquad-dev hit@5 0.988 -> 0.994, xquad-multi hit@1 0.773 -> 0.767, seeds and seeds-lead the
# same (1 gave seeds hit@1 0.986 -> 0.944: there every document names the same companies).
DOCUMENT_NAME_SHARE = 0.25
CANDIDATES_PER_K = 4
MIN_CANDIDATES = 20
# Weight of the best sentence's similarity against the chunk's own (0: chunk only,
# 1: sentence only). Chosen on dev + lead: hit@1 is flat from 0.4 to 0.9.
SENTENCE_WEIGHT = 0.5
# An index whose chunk vectors are pooled from its sentence vectors (RAG_CHUNK_VECTORS=sentence_mean):
# a pooled vector dilutes a one-sentence fact more than an embedded chunk does, so the best sentence
# counts more and the dense legs fetch deeper for the re-score to lift it. Chosen on the 14 xquad-dev
# training articles, their questions as asked (gold.jsonl) and in ro/ru/tr/el/vi (xquad-multi.jsonl)
# (BENCHMARKS.md, "One embedding pass"): hit@5 0.981 / 0.922 with 20 and 0.5, 0.994 / 0.945 with 80 and
# 0.7 (embedded today: 0.994 / 0.948). xquad-dev has ~50 chunks per language: deeper than that is untested.
# The price: a warm retrieve about 1.7x slower than with 20 (measured under load; 40 keeps xquad-dev at or
# above embedded but not xquad-multi).
POOLED_SENTENCE_WEIGHT = 0.7
POOLED_MIN_CANDIDATES = 80

_POOLS: dict[int, ThreadPoolExecutor] = {}  # threads -> the pool running the per-language searches
_POOLS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some documents (the UI's language/source filter)."""

    lang: str = ""
    source: str = ""

    def chroma_where(self) -> dict[str, Any] | None:
        clauses = [{key: value} for key, value in (("lang", self.lang), ("source", self.source)) if value]
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def accepts(self, chunk: Chunk) -> bool:
        return (not self.lang or chunk.lang == self.lang) and (not self.source or chunk.source == self.source)


def _search_pool(threads: int) -> ThreadPoolExecutor:
    """The process's pool for one size (made once: a pool made per question cost as much as the
    searches it ran side by side). Its idle threads are joined when the interpreter exits
    (``concurrent.futures``). Chroma's local and HTTP clients may be called from several threads."""
    with _POOLS_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rag-search")
        return pool


class HybridRetriever:
    def __init__(self, store: Store, view: CorpusView, search_threads: int = 1) -> None:
        self._store = store
        self._view = view
        self._search_threads = search_threads

    def retrieve(self, query: Query, k: int, filters: Filters | None = None, use_lexical: bool = True,
                 use_sentences: bool = True) -> list[Hit]:
        """The k best chunks for ``query.search``; ``use_lexical``/``use_sentences`` switch legs off
        (for comparisons)."""
        filters = filters or Filters()
        vector = query.vector
        pooled = self._store.chunk_vectors == "sentence_mean"
        n = max(POOLED_MIN_CANDIDATES if pooled else MIN_CANDIDATES, CANDIDATES_PER_K * k)
        nearest = self._nearest(vector, n, filters)
        lexical_hits = self._view.lexical.search(query.search, query.lang, n) if use_lexical else []
        rows = self._rows(nearest, lexical_hits)
        candidates = self._dense_candidates(nearest, rows)
        if use_lexical:
            self._add_lexical_candidates(lexical_hits, rows, vector, filters, candidates)
        # Only the leading candidates become hits: ~300 meet a question on a pooled index, n are re-scored.
        leading = self._fused(query, candidates, use_lexical, n if use_sentences else k)
        if not use_sentences:
            return leading
        self._rescore_by_best_sentence(vector, leading, POOLED_SENTENCE_WEIGHT if pooled else SENTENCE_WEIGHT)
        return sorted(leading, key=lambda h: h.score, reverse=True)[:k]

    def _fused(self, query: Query, candidates: dict[str, tuple[StoredChunk, float]], use_lexical: bool,
               limit: int) -> list[Hit]:
        """The ``limit`` best candidates by fused score (dense similarity, its language's bias removed,
        plus the name bonus), best first, ties in candidate order. Scored in plain lists, not on
        ``Hit`` objects: building, shifting and sorting ~300 hits a question was ~2 ms at 10k."""
        items = list(candidates.values())
        dense = [similarity for _, similarity in items]
        langs = [stored.chunk.lang for stored, _ in items]
        shifts = language_shifts(range(len(items)), langs.__getitem__, dense.__getitem__)
        scores = [similarity + shifts.get(lang, 0.0) for similarity, lang in zip(dense, langs)]
        coverage = self._name_coverage(query, [stored for stored, _ in items]) if use_lexical else None
        if coverage is not None:
            scores = [score + NAME_WEIGHT * share for score, share in zip(scores, coverage)]
        order = sorted(range(len(items)), key=scores.__getitem__, reverse=True)[:limit]  # stable, as sorting hits was
        return [Hit(chunk=items[i][0].chunk, score=scores[i], dense=dense[i],
                    lexical=None if coverage is None else coverage[i]) for i in order]

    def _rescore_by_best_sentence(self, vector: np.ndarray, hits: list[Hit], weight: float) -> None:
        """Mix each hit's score with its best sentence's similarity (language bias removed)."""
        sentence_vectors = self._sentence_vectors(hits)
        for hit in hits:
            hit.sentence_vectors = sentence_vectors.get(hit.chunk.chunk_id)
            hit.sentence = float((hit.sentence_vectors @ vector).max()) if hit.sentence_vectors is not None \
                else float(hit.dense or 0.0)
        shifts = language_shifts(hits, lambda h: h.chunk.lang, lambda h: h.sentence or 0.0)
        for hit in hits:
            sentence = (hit.sentence or 0.0) + shifts.get(hit.chunk.lang, 0.0)
            chunk = hit.score - NAME_WEIGHT * (hit.lexical or 0.0)  # the debiased chunk similarity
            hit.score += weight * (sentence - chunk)

    def _sentence_vectors(self, hits: list[Hit]) -> dict[str, np.ndarray | None]:
        """The hits' sentence vectors: from the view's cache, the rest read from the store once."""
        cached, missing = self._view.sentences.get_many([h.chunk.chunk_id for h in hits])
        if missing:
            wanted = {cid: None for cid in missing}
            fetched = self._store.sentence_vectors([h.chunk for h in hits if h.chunk.chunk_id in wanted])
            fresh: dict[str, np.ndarray | None] = {cid: fetched.get(cid) for cid in wanted}
            self._view.sentences.put_many(fresh)
            cached.update(fresh)
        return cached

    def _nearest(self, vector: np.ndarray, n: int, filters: Filters) -> list[tuple[str, str, float]]:
        """(chunk id, language, similarity) of the top-n per document language, each language
        nearest first: one language's chunks cannot crowd out another's."""
        languages = [filters.lang] if filters.lang else list(self._view.languages)
        where = Filters(source=filters.source).chroma_where()
        n = min(n, self._view.chunks) if self._view.chunks else n

        def search(language: str) -> list[tuple[str, float]]:
            return self._store.nearest(vector, n, language, where=where)

        if self._search_threads > 1 and len(languages) > 1:
            found = list(_search_pool(self._search_threads).map(search, languages))  # in language order
        else:
            found = [search(language) for language in languages]
        return [(cid, language, similarity) for language, pairs in zip(languages, found)
                for cid, similarity in pairs]

    def _rows(self, nearest: list[tuple[str, str, float]],
              lexical_hits: list[LexicalHit]) -> dict[str, tuple[StoredChunk, np.ndarray | None]]:
        """The stored chunks of both legs' candidates, from the view's cache, the rest read from the
        store. Only a chunk BM25 alone found is scored by its stored vector (a dense candidate has the
        search's similarity), so only those rows are read with their vector: reading the vectors of
        all ~220 new rows of a question on a pooled index was about a third of the read
        (10k synthetic, 220 rows, under load: 22 ms with vectors, 14 without)."""
        wanted = {cid: lang for cid, lang, _ in nearest}
        scored = {hit.chunk_id for hit in lexical_hits if hit.chunk_id not in wanted}
        for hit in lexical_hits:
            wanted.setdefault(hit.chunk_id, hit.lang)
        rows, missing = self._view.stored.get_many(list(wanted))
        # A cached row read for the dense leg has no vector yet: read again, with it, when BM25 alone finds it.
        again = [cid for cid in scored if cid in rows and rows[cid][1] is None]
        for ids, vectors in (([c for c in missing if c not in scored], False),
                             ([c for c in missing if c in scored] + again, True)):
            if ids:
                # A lexical hit of unknown language may be in any collection.
                langs = () if any(not wanted[cid] for cid in ids) else sorted({wanted[cid] for cid in ids})
                fetched = self._store.get_chunks(ids, langs, vectors=vectors, lang_of=wanted)
                self._view.stored.put_many(fetched)
                rows.update(fetched)
        return rows

    def _dense_candidates(self, nearest: list[tuple[str, str, float]],
                          rows: dict[str, tuple[StoredChunk, np.ndarray | None]]) -> dict[str, tuple[StoredChunk, float]]:
        """The nearest chunks of live document versions, with Chroma's similarity."""
        candidates: dict[str, tuple[StoredChunk, float]] = {}
        live = self._view.live
        for cid, _, similarity in nearest:
            row = rows.get(cid)
            if row is not None and live.get(row[0].chunk.doc_id) == row[0].doc_sha:
                candidates[cid] = (row[0], similarity)
        return candidates

    def _add_lexical_candidates(self, lexical_hits: list[LexicalHit],
                                rows: dict[str, tuple[StoredChunk, np.ndarray | None]],
                                vector: np.ndarray, filters: Filters,
                                candidates: dict[str, tuple[StoredChunk, float]]) -> None:
        """Chunks only BM25 found, scored by their stored vector (the dense scale)."""
        for hit in lexical_hits:
            row = rows.get(hit.chunk_id)
            if hit.chunk_id in candidates or row is None:
                continue
            stored, chunk_vector = row
            if self._view.live.get(stored.chunk.doc_id) != stored.doc_sha or not filters.accepts(stored.chunk):
                continue
            if chunk_vector is None:  # a row of the dense leg: a live one is a dense candidate already
                continue
            candidates[hit.chunk_id] = (stored, float(chunk_vector @ vector))

    def _name_coverage(self, query: Query, chunks: list[StoredChunk]) -> list[float] | None:
        """Each chunk's IDF-weighted share of the question's names; None: the question has no name the
        corpus holds (no bonus, the ranking is dense alone)."""
        lexical = self._view.lexical
        weights = {name: lexical.idf(name) for name in query.profile.names}
        total = sum(weights.values())
        if total <= 0:
            return None
        # A name held by another candidate chunk of the same document counts DOCUMENT_NAME_SHARE.
        in_document: dict[str, set[str]] = {}
        for c in chunks:
            if not c.terms.isdisjoint(weights):
                in_document.setdefault(c.chunk.doc_id, set()).update(n for n in weights if n in c.terms)
        nothing: set[str] = set()
        # Most candidates' documents hold none of the names: their share is 0.0 without a sum over them.
        return [sum(w * (1.0 if name in c.terms else DOCUMENT_NAME_SHARE if name in nearby else 0.0)
                    for name, w in weights.items()) / total
                if (nearby := in_document.get(c.chunk.doc_id, nothing)) else 0.0 for c in chunks]
