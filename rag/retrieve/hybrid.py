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
from typing import AbstractSet, Any, Sequence

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


@dataclass
class _Candidate:
    """A chunk met by either leg, as fusion and the re-score see it; only the k kept become hits."""

    chunk_id: str
    lang: str
    doc_id: str
    dense: float  # cosine similarity to the query
    sentences: int  # its stored sentence spans (its sentence vectors must be as many)
    stored: StoredChunk | None = None  # its row, where it was read to rank it
    score: float = 0.0
    lexical: float | None = None
    sentence: float | None = None
    sentence_vectors: np.ndarray | None = None


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
        # A settled view's BM25 side says which chunks are live and what fusion needs of them, so only
        # the rows of the k kept are read (~300 candidates meet a question on a pooled index).
        held: Sequence[AbstractSet[str]]
        if self._view.lexical_is_live and not filters.source:
            names = query.profile.names if use_lexical else frozenset()
            candidates, held = self._candidates_from_index(nearest, lexical_hits, vector, filters, names)
        else:
            candidates, held = self._candidates_from_rows(nearest, lexical_hits, vector, filters)
        leading = self._fused(query, candidates, held, use_lexical, n if use_sentences else k)
        if use_sentences:
            self._rescore_by_best_sentence(vector, leading, POOLED_SENTENCE_WEIGHT if pooled else SENTENCE_WEIGHT)
            leading.sort(key=lambda c: c.score, reverse=True)  # stable, as sorting hits was
        return self._hits(leading, k)

    def _candidates_from_index(self, nearest: list[tuple[str, str, float]], lexical_hits: list[LexicalHit],
                               vector: np.ndarray, filters: Filters,
                               names: AbstractSet[str]) -> tuple[list[_Candidate], list[AbstractSet[str]]]:
        """Both legs' live candidates from the BM25 side alone (it holds exactly the live chunks): the
        dense ones with the search's similarity, then those only BM25 found, scored by their stored
        vector; and which of the question's names each holds."""
        lexical = self._view.lexical
        # chunk id -> (language, similarity, position) of each live candidate, the dense ones first.
        live: dict[str, tuple[str, float, int]] = {}
        for cid, lang, similarity in nearest:
            position = lexical.position(cid)
            if position is not None:  # not there: a chunk of no committed document version
                live[cid] = (lang, similarity, position)
        alone = [(hit, position) for hit in lexical_hits if hit.chunk_id not in live
                 and (position := lexical.position(hit.chunk_id)) is not None
                 and (not filters.lang or lexical.langs[position] == filters.lang)]
        vectors = self._vectors([hit for hit, _ in alone])
        for hit, position in alone:
            chunk_vector = vectors.get(hit.chunk_id)
            if chunk_vector is not None:  # None: no such row in Chroma
                live[hit.chunk_id] = (lexical.langs[position], float(chunk_vector @ vector), position)
        positions = [position for *_, position in live.values()]
        counts = lexical.sentence_counts_of(positions)
        candidates = [_Candidate(cid, lang, lexical.doc_ids[position], similarity, count)
                      for (cid, (lang, similarity, position)), count in zip(live.items(), counts)]
        return candidates, lexical.prefixes_held(positions, names)

    def _vectors(self, hits: list[LexicalHit]) -> dict[str, np.ndarray]:
        """The stored vectors of chunks only BM25 found: the view's caches, the rest read once."""
        cached, missing = self._view.vectors.get_many([hit.chunk_id for hit in hits])
        rows, missing = self._view.stored.get_many(missing)
        cached.update({cid: row[1] for cid, row in rows.items() if row[1] is not None})
        missing += [cid for cid, row in rows.items() if row[1] is None]
        if missing:
            fetched = self._store.vectors_of(missing, {hit.chunk_id: hit.lang for hit in hits})
            self._view.vectors.put_many(fetched)
            cached.update(fetched)
        return cached

    def _candidates_from_rows(self, nearest: list[tuple[str, str, float]], lexical_hits: list[LexicalHit],
                              vector: np.ndarray, filters: Filters) -> tuple[list[_Candidate], list[frozenset[str]]]:
        """Both legs' live candidates from their rows (a view whose BM25 side may not be the live set:
        read while an ingest is under way; or a source filter, which only a row can check)."""
        rows = self._rows(nearest, lexical_hits)
        found = self._dense_candidates(nearest, rows)
        self._add_lexical_candidates(lexical_hits, rows, vector, filters, found)
        candidates = [_Candidate(cid, stored.chunk.lang, stored.chunk.doc_id, similarity, len(stored.chunk.sentences),
                                 stored) for cid, (stored, similarity) in found.items()]
        return candidates, [stored.terms for stored, _ in found.values()]

    def _fused(self, query: Query, candidates: list[_Candidate], held: Sequence[AbstractSet[str]],
               use_lexical: bool, limit: int) -> list[_Candidate]:
        """The ``limit`` best candidates by fused score (dense similarity, its language's bias removed,
        plus the name bonus), best first, ties in candidate order. Scored in plain lists: building,
        shifting and sorting ~300 hits a question was ~2 ms at 10k."""
        dense = [c.dense for c in candidates]
        langs = [c.lang for c in candidates]
        shifts = language_shifts(range(len(candidates)), langs.__getitem__, dense.__getitem__)
        scores = [similarity + shifts.get(lang, 0.0) for similarity, lang in zip(dense, langs)]
        coverage = self._name_coverage(query, [c.doc_id for c in candidates], held) if use_lexical else None
        if coverage is not None:
            scores = [score + NAME_WEIGHT * share for score, share in zip(scores, coverage)]
        order = sorted(range(len(candidates)), key=scores.__getitem__, reverse=True)[:limit]  # stable
        leading = [candidates[i] for i in order]
        for i, c in zip(order, leading):
            c.score, c.lexical = scores[i], None if coverage is None else coverage[i]
        return leading

    def _rescore_by_best_sentence(self, vector: np.ndarray, candidates: list[_Candidate], weight: float) -> None:
        """Mix each candidate's score with its best sentence's similarity (language bias removed)."""
        sentence_vectors = self._sentence_vectors(candidates)
        for c in candidates:
            c.sentence_vectors = sentence_vectors.get(c.chunk_id)
            c.sentence = float((c.sentence_vectors @ vector).max()) if c.sentence_vectors is not None else c.dense
        shifts = language_shifts(candidates, lambda c: c.lang, lambda c: c.sentence or 0.0)
        for c in candidates:
            sentence = (c.sentence or 0.0) + shifts.get(c.lang, 0.0)
            chunk = c.score - NAME_WEIGHT * (c.lexical or 0.0)  # the debiased chunk similarity
            c.score += weight * (sentence - chunk)

    def _sentence_vectors(self, candidates: list[_Candidate]) -> dict[str, np.ndarray | None]:
        """The candidates' sentence vectors: from the view's cache, the rest read from the store once."""
        cached, missing = self._view.sentences.get_many([c.chunk_id for c in candidates])
        if missing:
            counts = {c.chunk_id: c.sentences for c in candidates}
            fetched = self._store.sentence_vectors({cid: counts[cid] for cid in missing})
            fresh: dict[str, np.ndarray | None] = {cid: fetched.get(cid) for cid in missing}
            self._view.sentences.put_many(fresh)
            cached.update(fresh)
        return cached

    def _hits(self, ranked: list[_Candidate], k: int) -> list[Hit]:
        """The first k candidates with a row, as hits: rows read only for these (the cache first)."""
        hits: list[Hit] = []
        at = 0
        while len(hits) < k and at < len(ranked):
            batch = ranked[at:at + k - len(hits)]
            at += len(batch)
            rows = self._rows_of([c for c in batch if c.stored is None])
            for c in batch:
                stored = c.stored or rows.get(c.chunk_id)
                if stored is not None:  # None: the row is gone (the next candidate takes its place)
                    hits.append(Hit(chunk=stored.chunk, score=c.score, dense=c.dense, lexical=c.lexical,
                                    sentence=c.sentence, sentence_vectors=c.sentence_vectors))
        return hits

    def _rows_of(self, candidates: list[_Candidate]) -> dict[str, StoredChunk]:
        """The stored chunks of these candidates: the view's cache, the rest read (without vectors)."""
        cached, missing = self._view.stored.get_many([c.chunk_id for c in candidates])
        rows = {cid: row[0] for cid, row in cached.items()}
        if missing:
            lang_of = {c.chunk_id: c.lang for c in candidates}
            fetched = self._store.get_chunks(missing, sorted({lang_of[cid] for cid in missing}), vectors=False,
                                             lang_of=lang_of)
            self._view.stored.put_many(fetched)
            rows.update({cid: row[0] for cid, row in fetched.items()})
        return rows

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

    def _name_coverage(self, query: Query, doc_ids: list[str], held: Sequence[AbstractSet[str]]) -> list[float] | None:
        """Each candidate's IDF-weighted share of the question's names (``held``: the names, or all the
        terms, each candidate holds); None: the question has no name the corpus holds (no bonus, the
        ranking is dense alone)."""
        lexical = self._view.lexical
        weights = {name: lexical.idf(name) for name in query.profile.names}
        total = sum(weights.values())
        if total <= 0:
            return None
        # A name held by another candidate chunk of the same document counts DOCUMENT_NAME_SHARE.
        in_document: dict[str, set[str]] = {}
        for doc_id, terms in zip(doc_ids, held):
            if not terms.isdisjoint(weights):
                in_document.setdefault(doc_id, set()).update(n for n in weights if n in terms)
        nothing: set[str] = set()
        # Most candidates' documents hold none of the names: their share is 0.0 without a sum over them.
        return [sum(w * (1.0 if name in terms else DOCUMENT_NAME_SHARE if name in nearby else 0.0)
                    for name, w in weights.items()) / total
                if (nearby := in_document.get(doc_id, nothing)) else 0.0 for doc_id, terms in zip(doc_ids, held)]
