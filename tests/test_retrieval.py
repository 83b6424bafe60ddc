"""Hybrid retrieval: cross-lingual by default, never worse than dense alone, better where names matter."""

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest

from rag.pipeline import Pipeline
from rag.retrieve.hybrid import Filters
from rag.text import normalize_spaces
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "eval" / "gold" / "seeds.jsonl"


@pytest.mark.parametrize("question", [
    "How many times were the Qwen models downloaded?",
    "Wie oft wurden die Qwen-Modelle heruntergeladen?",
])
def test_a_question_finds_facts_that_exist_only_in_a_french_article(seeded, question):
    hits = seeded.retrieve(question, k=3)
    assert any(h.chunk.source.startswith("003") and "400 millions" in h.chunk.text for h in hits)


def test_filters_restrict_language_and_source(seeded):
    hits = seeded.retrieve("Alibaba layoffs in the metaverse unit", k=5, filters=Filters(lang="de"))
    assert hits and all(h.chunk.lang == "de" for h in hits)
    hits = seeded.retrieve("Alibaba", k=5, filters=Filters(source="004_1b7fa20e5a60d997.txt"))
    assert hits and all(h.chunk.source == "004_1b7fa20e5a60d997.txt" for h in hits)


def test_hits_are_unique_and_ordered_by_fused_score(seeded):
    hits = seeded.retrieve("Combien Microsoft a-t-il investi en Italie ?", k=8)
    assert len({h.chunk.chunk_id for h in hits}) == len(hits) == 8
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_numbers_decide_between_near_identical_passages(tmp_path):
    """Dense similarity barely separates passages that differ only by a number; the lexical leg does."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    companies = ["Zorblax", "Quintaro", "Velmora", "Dranvik", "Ostrel", "Pellucid"]
    shared = ("Le secteur de l’intelligence artificielle attire des investissements records cette année. "
              "Les analystes estiment que la concurrence entre les laboratoires va encore s’intensifier. "
              "Plusieurs groupes européens ont annoncé des programmes de recrutement de chercheurs. ")
    for i, name in enumerate(companies):
        (corpus / f"{i}.txt").write_text(
            shared + f"Le groupe {name} investira {10 + 7 * i} millions d’euros dans son laboratoire. "
            + shared + "\n", encoding="utf-8")
    # Embedded chunk vectors: with sentence_mean ones (the distinct sentence's own vector in the mean)
    # dense retrieval alone already separates these passages, and the lexical leg has nothing to show.
    pipeline = Pipeline(make_settings(tmp_path / "index", chunk_vectors="embedded"))
    pipeline.ingest([corpus])
    wins = 0
    for i, name in enumerate(companies):
        question = f"Which group will invest {10 + 7 * i} million euros in its laboratory?"  # English vs French
        hybrid = pipeline.retrieve(question, k=1)[0]
        dense = pipeline.retrieve(question, k=1, use_lexical=False, use_sentences=False)[0]
        assert name in hybrid.chunk.text  # hybrid always finds the right company
        wins += name not in dense.chunk.text
    assert wins >= 2, "this corpus should be hard for dense retrieval alone"
    pooled = Pipeline(make_settings(tmp_path / "pooled"))  # the default, sentence_mean: found as well
    pooled.ingest([corpus])
    for i, name in enumerate(companies):
        assert name in pooled.retrieve(f"Which group will invest {10 + 7 * i} million euros in its laboratory?",
                                       k=1)[0].chunk.text
    answer = pipeline.ask("Which group will invest 24 million euros in its laboratory?", mode="extractive")
    assert "Velmora" in answer.answer and answer.citations[0].source == "2.txt"


def _gold() -> list[dict]:
    return [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


def _rank(hits, item) -> int | None:
    norm = lambda text: normalize_spaces(text).lower()  # noqa: E731
    for rank, hit in enumerate(hits, start=1):
        if any(hit.chunk.source.startswith(s) for s in item["sources"]) and \
                any(norm(a) in norm(hit.chunk.text) for a in item["answers"]):
            return rank
    return None


@pytest.mark.skipif(not GOLD.exists(), reason="gold set not written yet")
def test_hybrid_never_loses_to_dense_alone_per_language_pair(seeded):
    doc_lang = {h.chunk.source[:3]: h.chunk.lang for h in seeded.retrieve("Alibaba", k=50)}
    by_pair: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"dense": [], "hybrid": []})
    for item in _gold():
        if item.get("unanswerable"):
            continue
        source_langs = sorted({doc_lang[s[:3]] for s in item["sources"]})
        pair = f"{item['lang']}->{'/'.join(source_langs)}"
        for leg, use_lexical in (("dense", False), ("hybrid", True)):
            rank = _rank(seeded.retrieve(item["question"], k=5, use_lexical=use_lexical), item)
            by_pair[pair][leg].append(1.0 if rank else 0.0)
    for pair, legs in by_pair.items():
        dense, hybrid = sum(legs["dense"]) / len(legs["dense"]), sum(legs["hybrid"]) / len(legs["hybrid"])
        assert hybrid >= dense, f"{pair}: hybrid hit@5 {hybrid:.2f} < dense {dense:.2f}"


# --- a chunk is as relevant as its best sentence ---

import numpy as np  # noqa: E402

from rag.index.lexical import LexicalIndex  # noqa: E402
from rag.index.corpus import CorpusView  # noqa: E402
from rag.retrieve.hybrid import HybridRetriever  # noqa: E402
from rag.retrieve.query import Query  # noqa: E402
from rag.index.store import StoredChunk  # noqa: E402
from rag.types import Chunk, Span  # noqa: E402

DEV = ROOT / "eval" / "dev" / "seeds-dev.jsonl"
LEAD = ROOT / "eval" / "gold" / "seeds-lead.jsonl"


def _unit(similarity: float, axis: int, dim: int = 8) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    vector[0], vector[axis] = similarity, (1 - similarity ** 2) ** 0.5
    return vector


class _TwoChunkStore:
    """Stands in for Chroma: chunk "broad" is closer as a whole, chunk "pointed" has the one sentence."""

    def __init__(self, chunk_vectors: str = "embedded") -> None:
        self.chunk_vectors = chunk_vectors
        self.asked: list[int] = []  # n of each dense query
        span = (Span(0, 4, "text"),)
        self.chunks = {cid: StoredChunk(Chunk(cid, cid, f"{cid}.txt", 0, 0, 4, "text", "en", "t", span * 3), "sha",
                                        frozenset()) for cid in ("broad", "pointed")}
        self.similarity = {"broad": 0.86, "pointed": 0.85}
        self.sentences = {"broad": [0.83, 0.82, 0.82], "pointed": [0.80, 0.94, 0.79]}

    def nearest(self, vector, n, lang, where=None):
        self.asked.append(n)
        return [(cid, self.similarity[cid]) for cid in self.chunks]

    def get_chunks(self, ids, langs=(), vectors=True, lang_of=None):
        return {cid: (self.chunks[cid], np.zeros(8, dtype=np.float32) if vectors else None)
                for cid in ids if cid in self.chunks}

    def vectors_of(self, ids, lang_of):
        return {cid: np.zeros(8, dtype=np.float32) for cid in ids if cid in self.chunks}

    def sentence_vectors(self, counts):
        return {cid: np.stack([_unit(s, i + 1) for i, s in enumerate(self.sentences[cid])])
                for cid in counts if len(self.sentences[cid]) == counts[cid]}


def test_a_chunk_that_states_the_fact_in_one_sentence_outranks_a_broadly_similar_one():
    store = _TwoChunkStore()
    view = CorpusView({"broad": "sha", "pointed": "sha"}, ("en",), LexicalIndex.build([], 1), 1, chunks=2)
    retriever = HybridRetriever(store, view)  # type: ignore[arg-type]
    question = _unit(1.0, 1)
    assert [h.chunk.chunk_id for h in retriever.retrieve(Query("q", "en", question), 2, use_sentences=False)] == \
        ["broad", "pointed"]
    hits = retriever.retrieve(Query("q", "en", question), 2)
    assert [h.chunk.chunk_id for h in hits] == ["pointed", "broad"]
    assert hits[0].sentence == pytest.approx(0.94, abs=1e-6)
    assert hits[0].sentence_vectors is not None and hits[0].sentence_vectors.shape == (3, 8)


@pytest.fixture(scope="module")
def seeded_embedded(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """The seeds in an index built the way SENTENCE_WEIGHT was chosen under: chunk texts embedded."""
    from tests.conftest import SEEDS

    home = tmp_path_factory.mktemp("seeded-embedded") / "index"
    Pipeline(make_settings(home, chunk_vectors="embedded")).ingest([SEEDS])
    return Pipeline(make_settings(home))


def _rescoring_ranks(pipeline: Pipeline) -> dict[str, int]:
    """hit@1 with and without the best-sentence re-score on dev + lead; fails on a hit@5 it loses."""
    items = [json.loads(line) for path in (DEV, LEAD) for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    items = [item for item in items if not item.get("unanswerable") and item.get("sources")]
    first = {"chunk": 0, "sentence": 0}
    for item in items:
        chunk_only = _rank(pipeline.retrieve(item["question"], k=5, use_sentences=False), item)
        with_sentences = _rank(pipeline.retrieve(item["question"], k=5), item)
        assert not (chunk_only and not with_sentences), f"{item['id']}: lost from the top 5"
        first["chunk"] += chunk_only == 1
        first["sentence"] += with_sentences == 1
    return first


@pytest.mark.skipif(not (DEV.exists() and LEAD.exists()), reason="calibration gold sets missing")
def test_best_sentence_rescoring_keeps_hit5_and_lifts_the_first_rank(seeded_embedded):
    """On the gold sets the weight was chosen with (dev + lead): never a lost hit@5, more hit@1."""
    first = _rescoring_ranks(seeded_embedded)
    assert first["sentence"] > first["chunk"], first


@pytest.mark.skipif(not (DEV.exists() and LEAD.exists()), reason="calibration gold sets missing")
def test_best_sentence_rescoring_of_a_pooled_index_keeps_hit5(seeded):
    """A sentence_mean index (the default): the re-score never loses a hit@5 on dev + lead. (Its hit@1
    there is about even with the pooled vectors alone, 78 vs 79 of the dev + lead questions: a pooled
    vector already carries its sentences; its weights were chosen on xquad-dev, BENCHMARKS.md.)"""
    _rescoring_ranks(seeded)


def test_a_pooled_index_fetches_deeper_and_weighs_the_best_sentence_more():
    """sentence_mean chunk vectors dilute a one-sentence fact: more candidates, more sentence weight."""
    from rag.retrieve import hybrid

    scores = {}
    for mode in ("embedded", "sentence_mean"):
        store = _TwoChunkStore(mode)
        view = CorpusView({"broad": "sha", "pointed": "sha"}, ("en",), LexicalIndex.build([], 1), 1, chunks=100)
        hits = HybridRetriever(store, view).retrieve(Query("q", "en", _unit(1.0, 1)), 2)  # type: ignore[arg-type]
        scores[mode] = {h.chunk.chunk_id: h.score for h in hits}
        assert store.asked == [hybrid.POOLED_MIN_CANDIDATES if mode == "sentence_mean" else hybrid.MIN_CANDIDATES]
    # "pointed"'s best sentence (0.94) beats its chunk (0.85): the larger weight lifts it further.
    lift = scores["sentence_mean"]["pointed"] - scores["embedded"]["pointed"]
    assert lift == pytest.approx((hybrid.POOLED_SENTENCE_WEIGHT - hybrid.SENTENCE_WEIGHT) * (0.94 - 0.85), abs=1e-3)


def test_sentence_vectors_are_read_once_per_view_and_shared_read_only():
    store = _TwoChunkStore()
    reads: list[list[str]] = []
    fetch = store.sentence_vectors
    store.sentence_vectors = lambda counts: reads.append(list(counts)) or fetch(counts)  # type: ignore[method-assign]
    view = CorpusView({"broad": "sha", "pointed": "sha"}, ("en",), LexicalIndex.build([], 1), 1, chunks=2)
    retriever = HybridRetriever(store, view)  # type: ignore[arg-type]
    first = retriever.retrieve(Query("q", "en", _unit(1.0, 1)), 2)
    second = retriever.retrieve(Query("q", "en", _unit(1.0, 1)), 2)
    assert len(reads) == 1 and sorted(reads[0]) == ["broad", "pointed"]
    assert [(h.chunk.chunk_id, h.score) for h in first] == [(h.chunk.chunk_id, h.score) for h in second]
    assert second[0].sentence_vectors is not None and not second[0].sentence_vectors.flags.writeable
    # A new view (the store version moved on) starts empty: the store is read again.
    fresh = CorpusView(view.live, view.languages, view.lexical, 2, chunks=2)
    HybridRetriever(store, fresh).retrieve(Query("q", "en", _unit(1.0, 1)), 2)  # type: ignore[arg-type]
    assert len(reads) == 2


def test_searches_fetch_ids_only_and_each_chunk_once_per_view():
    """Chroma is asked for ids and distances; texts and metadata are read once per chunk and version."""
    store = _TwoChunkStore()
    fetched: list[list[str]] = []
    get_chunks = store.get_chunks
    store.get_chunks = lambda ids, langs=(), vectors=True, lang_of=None: (  # type: ignore[method-assign]
        fetched.append(sorted(ids)) or get_chunks(ids, langs, vectors))
    view = CorpusView({"broad": "sha", "pointed": "sha"}, ("en",), LexicalIndex.build([], 1), 1, chunks=2)
    first = HybridRetriever(store, view).retrieve(Query("q", "en", _unit(1.0, 1)), 2)  # type: ignore[arg-type]
    second = HybridRetriever(store, view).retrieve(Query("q", "en", _unit(1.0, 1)), 2)  # type: ignore[arg-type]
    assert fetched == [["broad", "pointed"]]
    assert [(h.chunk.chunk_id, h.dense) for h in first] == [(h.chunk.chunk_id, h.dense) for h in second]
    assert {h.chunk.chunk_id: h.dense for h in first} == pytest.approx(store.similarity)
    # A chunk of a document version that is no longer live is dropped, cached or not.
    stale = CorpusView({"broad": "other", "pointed": "sha"}, ("en",), view.lexical, 2, chunks=2)
    assert [h.chunk.chunk_id for h in HybridRetriever(store, stale).retrieve(  # type: ignore[arg-type]
        Query("q", "en", _unit(1.0, 1)), 2)] == ["pointed"]
    assert len(fetched) == 2


def test_a_chunk_only_bm25_finds_is_fetched_with_the_dense_ones_and_scored_by_its_vector():
    store = _TwoChunkStore()
    extra = Chunk("lexonly", "lexonly", "lexonly.txt", 0, 0, 4, "Zyx", "en", "t", (Span(0, 4, "text"),))
    store.chunks["lexonly"] = StoredChunk(extra, "sha", frozenset())
    store.sentences["lexonly"] = [0.5]
    vector = _unit(0.7, 2)
    store.nearest = lambda v, n, lang, where=None: [("broad", 0.86), ("pointed", 0.85)]  # type: ignore[method-assign]
    reads: list[tuple[list[str], bool]] = []
    store.get_chunks = lambda ids, langs=(), vectors=True, lang_of=None: reads.append((sorted(ids), vectors)) or {  # type: ignore[method-assign]
        cid: (store.chunks[cid], (vector if cid == "lexonly" else _unit(0.9, 3)) if vectors else None) for cid in ids}
    lexical = LexicalIndex.build([("lexonly", "Zyx", "en")], 1)
    view = CorpusView({"broad": "sha", "pointed": "sha", "lexonly": "sha"}, ("en",), lexical, 1, chunks=3)
    hits = HybridRetriever(store, view).retrieve(Query("Zyx", "en", _unit(1.0, 1)), 3,  # type: ignore[arg-type]
                                                  use_sentences=False)
    by_id = {h.chunk.chunk_id: h for h in hits}
    assert set(by_id) == {"broad", "pointed", "lexonly"}
    assert by_id["lexonly"].dense == pytest.approx(float(vector @ _unit(1.0, 1)))
    # Only the chunk BM25 alone found is read with its vector (the dense ones have the search's similarity).
    assert reads == [(["broad", "pointed"], False), (["lexonly"], True)]


def test_a_cached_row_without_its_vector_is_read_again_when_bm25_alone_finds_it():
    store = _TwoChunkStore()
    lexical = LexicalIndex.build([("pointed", "Zyx", "en")], 1)
    view = CorpusView({"broad": "sha", "pointed": "sha"}, ("en",), lexical, 1, chunks=2)
    HybridRetriever(store, view).retrieve(Query("q", "en", _unit(1.0, 1)), 2)  # type: ignore[arg-type]
    assert view.stored.get_many(["pointed"])[0]["pointed"][1] is None  # read for the dense leg only
    store.nearest = lambda v, n, lang, where=None: [("broad", 0.86)]  # type: ignore[method-assign]
    hits = HybridRetriever(store, view).retrieve(Query("Zyx", "en", _unit(1.0, 1)), 2,  # type: ignore[arg-type]
                                                  use_sentences=False)
    assert {h.chunk.chunk_id for h in hits} == {"broad", "pointed"}
    cached = view.stored.get_many(["pointed"])[0]["pointed"][1]
    assert cached is not None and not cached.flags.writeable


def test_a_name_another_chunk_of_the_document_holds_counts_a_share_of_the_bonus():
    """A chunk in the middle of a list rarely repeats the entity its document is about."""
    from rag.retrieve import hybrid
    from rag.text import term_prefixes

    store = _TwoChunkStore()
    span = (Span(0, 4, "text"),)
    named = frozenset(term_prefixes("Zyx"))
    # "elsewhere" comes before "list" among the candidates: only the share can put "list" ahead of it.
    layout = {"named": ("d1", named), "elsewhere": ("d2", frozenset()), "list": ("d1", frozenset())}
    store.chunks = {cid: StoredChunk(Chunk(cid, doc, f"{doc}.txt", 0, 0, 4, "text", "en", "t", span), "sha", terms)
                    for cid, (doc, terms) in layout.items()}
    store.similarity = {cid: 0.85 for cid in layout}
    lexical = LexicalIndex.build([("named", "Zyx", "en"), ("elsewhere", "text", "en"), ("list", "text", "en")], 1)
    view = CorpusView({"d1": "sha", "d2": "sha"}, ("en",), lexical, 1, chunks=3)
    hits = HybridRetriever(store, view).retrieve(Query("Where was Zyx born?", "en", _unit(1.0, 1)), 3,  # type: ignore[arg-type]
                                                  use_sentences=False)
    coverage = {h.chunk.chunk_id: h.lexical for h in hits}
    assert coverage == pytest.approx({"named": 1.0, "list": hybrid.DOCUMENT_NAME_SHARE, "elsewhere": 0.0})
    assert [h.chunk.chunk_id for h in hits] == ["named", "list", "elsewhere"]


def test_the_per_language_searches_on_threads_give_the_sequential_ranking():
    import threading

    store = _TwoChunkStore()
    for cid, lang in (("de1", "de"), ("fr1", "fr")):
        store.chunks[cid] = StoredChunk(Chunk(cid, cid, f"{cid}.txt", 0, 0, 4, "text", lang, "t", (Span(0, 4, "text"),) * 3),
                                        "sha", frozenset())
        store.similarity[cid], store.sentences[cid] = 0.84, [0.81, 0.80, 0.79]
    by_lang = {"en": ["broad", "pointed"], "de": ["de1"], "fr": ["fr1"]}
    threads: set[str] = set()

    def nearest(vector, n, lang, where=None):
        threads.add(threading.current_thread().name)
        return [(cid, store.similarity[cid]) for cid in by_lang[lang]]

    store.nearest = nearest  # type: ignore[method-assign]
    view = CorpusView({cid: "sha" for cid in store.chunks}, ("de", "en", "fr"), LexicalIndex.build([], 1), 1, chunks=4)
    ranked = {}
    for count in (1, 4):
        hits = HybridRetriever(store, view, search_threads=count).retrieve(Query("q", "en", _unit(1.0, 1)), 4)  # type: ignore[arg-type]
        ranked[count] = [(h.chunk.chunk_id, h.score) for h in hits]
    assert ranked[1] == ranked[4] and len(ranked[1]) == 4
    assert any(name.startswith("rag-search") for name in threads)


def test_search_threads_setting():
    from rag.config import Settings
    from rag.errors import ConfigError

    assert Settings.from_env({}).search_threads == 4
    assert Settings.from_env({"RAG_SEARCH_THREADS": "1"}).search_threads == 1
    with pytest.raises(ConfigError, match="RAG_SEARCH_THREADS"):
        Settings.from_env({"RAG_SEARCH_THREADS": "0"})


def test_chunk_rows_are_asked_of_their_own_language_collection_first(seeded):
    """With each id's language known, a collection is asked only for its own ids; an id under a wrong
    language is still found (asked of the others after)."""
    store = seeded._open_store(create=False)
    by_lang: dict[str, list[str]] = {}
    for stored in store.iter_chunks():
        by_lang.setdefault(stored.chunk.lang, []).append(stored.chunk.chunk_id)
    assert len(by_lang) >= 2
    ids = [cid for cids in by_lang.values() for cid in cids[:3]]
    lang_of = {cid: lang for lang, cids in by_lang.items() for cid in cids[:3]}
    asked: list[list[str]] = []
    originals = {}
    for key, collection in store._chunks.items():
        originals[key] = collection.get
        collection.get = lambda *a, _get=collection.get, **kw: asked.append(list(kw.get("ids") or [])) or _get(*a, **kw)
    try:
        everywhere = store.get_chunks(ids, vectors=False)
        unknown = sum(len(a) for a in asked)  # each id asked of collections until one holds it
        asked.clear()
        own = store.get_chunks(ids, vectors=False, lang_of=lang_of)
        assert sum(len(a) for a in asked) == len(ids) < unknown
        assert {cid: row[0] for cid, row in own.items()} == {cid: row[0] for cid, row in everywhere.items()}
        wrong = dict(lang_of, **{ids[0]: "xx" if lang_of[ids[0]] != "xx" else "yy"})
        assert set(store.get_chunks(ids, vectors=False, lang_of=wrong)) == set(ids)
    finally:
        for key, collection in store._chunks.items():
            collection.get = originals[key]


def test_a_settled_view_ranks_from_the_bm25_side_and_reads_only_the_rows_it_keeps():
    """When the BM25 side holds exactly the live chunks (with documents and sentence counts), a
    chunk is live iff it is there: the ranking equals the row-based one, and only the kept rows are read."""
    from rag.index.lexical import Item

    store = _TwoChunkStore()
    items = [Item.of(store.chunks[cid].chunk) for cid in ("broad", "pointed")]
    live = CorpusView({"broad": "sha", "pointed": "sha"}, ("en",), LexicalIndex.build(items, 1), 1, chunks=2,
                      lexical_is_live=True)
    by_rows = CorpusView(live.live, live.languages, live.lexical, 1, chunks=2)
    question = Query("q", "en", _unit(1.0, 1))
    expected = [(h.chunk.chunk_id, h.score) for h in HybridRetriever(store, by_rows).retrieve(question, 2)]  # type: ignore[arg-type]
    read: list[list[str]] = []
    get_chunks = store.get_chunks
    store.get_chunks = lambda ids, langs=(), vectors=True, lang_of=None: (  # type: ignore[method-assign]
        read.append(list(ids)) or get_chunks(ids, langs, vectors))
    hits = HybridRetriever(store, live).retrieve(question, 1)  # type: ignore[arg-type]
    assert [(h.chunk.chunk_id, h.score) for h in hits] == expected[:1]
    assert read == [["pointed"]]  # the one kept, not both candidates
    # A chunk the BM25 side lacks is of no committed version: never a hit, though Chroma returns it.
    store.chunks["orphan"] = replace(store.chunks["broad"], chunk=replace(store.chunks["broad"].chunk, chunk_id="orphan"))
    store.similarity["orphan"], store.sentences["orphan"] = 0.99, [0.99, 0.99, 0.99]
    fresh = CorpusView(live.live, live.languages, live.lexical, 1, chunks=2, lexical_is_live=True)
    assert "orphan" not in [h.chunk.chunk_id for h in HybridRetriever(store, fresh).retrieve(question, 2)]  # type: ignore[arg-type]


def test_only_a_settled_view_whose_bm25_side_holds_every_committed_chunk_ranks_without_rows(seeded):
    from rag.index.corpus import _view_of
    from rag.index.lexical import Item

    view = seeded._corpus.view()
    assert view.lexical_is_live  # a settled index, built by an ingest
    records = seeded._corpus.records.read(seeded._open_store(create=False), view.version)
    assert _view_of(records, view.lexical, view.version, settled=True).lexical_is_live
    assert not _view_of(records, view.lexical, view.version, settled=False).lexical_is_live  # during an ingest
    assert not _view_of(records, view.lexical, view.version + 1, settled=True).lexical_is_live  # another version
    short = view.lexical.updated([], view.lexical.chunk_ids[:1], view.version)  # one committed chunk missing
    assert short is not None and not _view_of(records, short, view.version, settled=True).lexical_is_live
    # Built from (id, text, lang) alone: documents and sentence counts unknown, so rows are read.
    store = seeded._open_store(create=False)
    plain = LexicalIndex.build([(s.chunk.chunk_id, s.chunk.text, s.chunk.lang) for s in store.iter_chunks()
                                if Item.of(s.chunk).chunk_id in set(view.lexical.chunk_ids)], view.version)
    assert len(plain.chunk_ids) == len(view.lexical.chunk_ids) and not plain.knows_chunks
    assert not _view_of(records, plain, view.version, settled=True).lexical_is_live
