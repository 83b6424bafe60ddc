"""The BM25 side (rag.index.lexical): bm25s's scores, incremental updates equal a rebuild, files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from rag.index.lexical import FORMAT, Item, LexicalIndex
from rag.text import lexical_tokens

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
LANGS = ("fr", "en", "de", "it", "es", "")
QUERIES = (("Alibaba Metaverso Shanghai", "fr"), ("Microsoft Italie milliards milliards", "fr"),
           ("Nvidia chips 2021 revenue", "en"), ("Wer hat Alibaba gegründet?", "de"), ("zzzz qqqq", "en"))


def _corpus(n: int, seed: int = 7, prefix: str = "c") -> list[Item]:
    """Random multilingual chunks made of the seed articles' words (some empty, some repetitive)."""
    words = " ".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))).split()
    rng = random.Random(seed)
    items = []
    for i in range(n):
        length = rng.choice((0, 3, rng.randint(5, 120)))
        text = " ".join(rng.choice(words) for _ in range(length))
        if i % 17 == 0:
            text += " Alibaba Alibaba Alibaba"
        items.append((f"{prefix}{i}", text, rng.choice(LANGS)))
    return items


def _scores(index: LexicalIndex, question: str, lang: str) -> dict[str, float]:
    return {h.chunk_id: h.score for h in index.search(question, lang, len(index.chunk_ids))}


def _assert_same(a: LexicalIndex, b: LexicalIndex) -> None:
    assert sorted(a.chunk_ids) == sorted(b.chunk_ids)
    assert dict(zip(a.chunk_ids, a.langs)) == dict(zip(b.chunk_ids, b.langs))
    assert a.terms == b.terms
    for question, lang in QUERIES:
        assert _scores(a, question, lang) == pytest.approx(_scores(b, question, lang), abs=1e-9)
    for prefix in ("alib", "shan", "2021", "zzzz"):
        assert a.idf(prefix) == b.idf(prefix) and a.has_term(prefix) == b.has_term(prefix)


def test_scores_equal_bm25s_for_every_chunk():
    bm25s = pytest.importorskip("bm25s")
    items = _corpus(600)
    index = LexicalIndex.build(items, 1)
    reference = bm25s.BM25()  # defaults: lucene, k1=1.5, b=0.75
    reference.index([lexical_tokens(text, lang) for _, text, lang in items], show_progress=False)
    for question, lang in QUERIES:
        tokens = lexical_tokens(question, lang)
        ours = index.scores(tokens)
        known = [t for t in tokens if t in reference.vocab_dict]
        theirs = reference.get_scores(known) if known else np.zeros(len(items))
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
        assert ours.max() > 0 or not known
    hits = index.search("Alibaba Metaverso Shanghai", "fr", 10)
    assert len(hits) == 10 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.lang == dict((i, lang) for i, _, lang in items)[h.chunk_id] for h in hits)


def test_updates_equal_a_fresh_build(tmp_path):
    items = _corpus(400)
    index = LexicalIndex.build(items, 1)
    live = {cid: (cid, text, lang) for cid, text, lang in items}
    rng = random.Random(3)
    for step in range(2, 8):
        removed = rng.sample(sorted(live), k=min(len(live), rng.choice((0, 5, 60, 150))))
        added = _corpus(rng.choice((0, 7, 40)), seed=step, prefix=f"s{step}-")
        added += [live[cid] for cid in removed[:2]]  # removed and added back in the same ingest
        added += added[:1]  # a duplicate
        index = index.updated(added, removed + ["never-there"], step)
        assert index is not None and index.version == step
        for cid in removed:
            live.pop(cid)
        for cid, text, lang in added:
            live.setdefault(cid, (cid, text, lang))
        _assert_same(index, LexicalIndex.build(live.values(), step))
        index.save(tmp_path / "bm25")  # and a saved one keeps updating
        index = LexicalIndex.load(tmp_path / "bm25")
        assert index is not None


def test_removing_everything_then_adding():
    index = LexicalIndex.build(_corpus(30), 1)
    empty = index.updated([], index.chunk_ids, 2)
    assert empty is not None and empty.chunk_ids == [] and empty.terms == {}
    assert empty.search("Alibaba", "fr", 5) == [] and empty.idf("alib") == 0.0
    again = empty.updated(_corpus(5), [], 3)
    _assert_same(again, LexicalIndex.build(_corpus(5), 3))


def test_save_and_load_round_trip(tmp_path):
    index = LexicalIndex.build(_corpus(200) + [("one-empty-lang", "Alibaba Qwen", "")], 42)
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert loaded is not None and loaded.version == 42
    assert loaded.chunk_ids == index.chunk_ids and loaded.langs == index.langs
    _assert_same(loaded, index)
    for question, lang in QUERIES:
        assert loaded.search(question, lang, 7) == index.search(question, lang, 7)
    # Saving over an existing index swaps it in whole.
    LexicalIndex.build(_corpus(3), 43).save(tmp_path / "bm25")
    assert LexicalIndex.load(tmp_path / "bm25").version == 43  # type: ignore[union-attr]
    assert not (tmp_path / "bm25.old").exists()


def test_an_empty_index_round_trips(tmp_path):
    LexicalIndex.build([], 5).save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert loaded is not None and loaded.version == 5 and loaded.chunk_ids == [] and loaded.terms == {}
    assert loaded.search("anything", "en", 3) == []


def test_a_crash_between_the_two_renames_loads_the_old_index(tmp_path):
    LexicalIndex.build(_corpus(20), 9).save(tmp_path / "bm25")
    (tmp_path / "bm25").rename(tmp_path / "bm25.old")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert loaded is not None and loaded.version == 9 and len(loaded.chunk_ids) == 20


def test_missing_index_loads_as_none(tmp_path):
    assert LexicalIndex.load(tmp_path / "bm25") is None


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "short", "manifest", "format"])
def test_a_damaged_index_loads_as_none(tmp_path, damage):
    directory = tmp_path / "bm25"
    LexicalIndex.build(_corpus(50), 1).save(directory)
    postings = directory / "term_docs.npy"
    if damage == "missing":
        postings.unlink()
    elif damage == "truncated":
        postings.write_bytes(postings.read_bytes()[:-20])
    elif damage == "garbage":
        (directory / "vocab.npy").write_bytes(b"\x00not numpy at all")
    elif damage == "short":  # a well-formed array of the wrong length
        np.save(directory / "lengths.npy", np.zeros(3, np.int32))
    elif damage == "manifest":
        (directory / "manifest.json").write_text("{not json")
    elif damage == "format":
        meta = json.loads((directory / "manifest.json").read_text())
        (directory / "manifest.json").write_text(json.dumps({**meta, "format": FORMAT - 1}))
    assert LexicalIndex.load(directory) is None


def test_the_chunk_facts_the_retriever_reads_instead_of_rows(tmp_path):
    """Sentence counts and held name prefixes, read for many chunks at once from the saved (memory-mapped)
    arrays, equal each chunk's own: what a row would say."""
    from rag.text import passage_term_prefixes

    items = [Item(cid, text, lang, f"doc{i % 5}", i % 4) for i, (cid, text, lang) in enumerate(_corpus(120))]
    LexicalIndex.build(items, 3).save(tmp_path / "bm25")
    index = LexicalIndex.load(tmp_path / "bm25")
    assert index is not None and index.knows_chunks
    rng = random.Random(3)
    positions = [index.position(item.chunk_id) for item in rng.sample(items, 60)]
    assert None not in positions
    by_position = {index.position(item.chunk_id): item for item in items}
    assert index.sentence_counts_of(positions) == [by_position[p].sentences for p in positions]  # type: ignore[index]
    assert index.sentence_counts_of([]) == []
    wanted = {"alib", "shan", "2021", "zzzz", "micr"}
    held = index.prefixes_held(positions, wanted)  # type: ignore[arg-type]
    assert [set(h) for h in held] == [wanted & passage_term_prefixes(by_position[p].text) for p in positions]  # type: ignore[index]
    assert any(held) and not all(held)  # both kinds occur
