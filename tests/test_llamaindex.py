"""rag.llamaindex: RagRetriever, RagQueryEngine and LlamaIndex documents into Pipeline.ingest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from llama_index.core import SimpleDirectoryReader
from llama_index.core.evaluation import RetrieverEvaluator
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import Document as LlamaDocument

from eval.gold_format import load_gold
from eval.scoring import Ranked, contains, hit_at, reciprocal_rank, retrieval_rank, source_matches
from rag.ingest.chunking import chunk_document
from rag.ingest.loading import discover, load_file
from rag.llamaindex import RagQueryEngine, RagRetriever
from rag.pipeline import Pipeline
from tests.conftest import SEEDS, make_settings

GOLD = Path(__file__).resolve().parent.parent / "eval" / "gold" / "seeds.jsonl"
QUESTION = "How much did Microsoft invest in Italy?"


def test_retriever_returns_our_ranking_as_nodes_with_source_offsets_language_and_title(seeded):
    nodes = RagRetriever(pipeline=seeded, similarity_top_k=3).retrieve(QUESTION)
    hits = seeded.retrieve(QUESTION, k=3)
    assert [n.node.node_id for n in nodes] == [h.chunk.chunk_id for h in hits] and len(nodes) == 3
    assert [n.score for n in nodes] == [h.score for h in hits]
    for node, hit in zip(nodes, hits):
        meta = node.node.metadata
        assert (meta["source"], meta["chunk_id"], meta["language"], meta["title"]) == \
            (hit.chunk.source, hit.chunk.chunk_id, hit.chunk.lang, hit.chunk.title)
        source_text = (SEEDS / meta["source"]).read_text(encoding="utf-8")
        assert source_text[meta["start"]:meta["end"]] == node.node.get_content() == hit.chunk.text
        assert (node.node.start_char_idx, node.node.end_char_idx) == (meta["start"], meta["end"])
        assert node.node.ref_doc_id == hit.chunk.doc_id
        # An LLM prompt built from the node gets the file and title, not the bookkeeping.
        prompt = node.node.get_content(metadata_mode="llm")
        assert f"source: {meta['source']}" in prompt and "chunk_id" not in prompt


def test_retriever_opens_an_index_dir_itself(seeded, seeded_home, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("RAG_", "OPENAI_"))]:
        monkeypatch.delenv(name)
    retriever = RagRetriever(index_dir=seeded_home, similarity_top_k=5)
    assert [n.node.node_id for n in retriever.retrieve(QUESTION)] == \
        [h.chunk.chunk_id for h in seeded.retrieve(QUESTION, k=5)]
    with pytest.raises(ValueError):
        RagRetriever(pipeline=seeded, index_dir=seeded_home)


def _relevant_chunk_ids(settings, sources: list[str], answers: list[str]) -> list[str]:
    """Every chunk of a gold source that holds an accepted answer (what `rag eval` counts as a hit)."""
    files, _ = discover([SEEDS])
    ids = []
    for path in files:
        if source_matches(path.name, sources):
            for chunk in chunk_document(load_file(path), settings.chunk_tokens, settings.chunk_overlap_tokens):
                if any(contains(chunk.text, a) for a in answers):
                    ids.append(chunk.chunk_id)
    return ids


@pytest.mark.slow
def test_llamaindex_retriever_evaluator_gives_the_hit_rate_and_mrr_of_rag_eval(seeded):
    """LlamaIndex's own RetrieverEvaluator (no LLM) over the seeds gold set, against the ranks
    `rag eval` computes (eval.scoring over Pipeline.retrieve): the same per question and overall."""
    k = 5
    evaluator = RetrieverEvaluator.from_metric_names(["hit_rate", "mrr"],
                                                     retriever=RagRetriever(pipeline=seeded, similarity_top_k=k))
    ours, theirs = [], []
    for item in (i for i in load_gold(GOLD) if not i.unanswerable):
        expected = _relevant_chunk_ids(seeded.settings, list(item.sources), list(item.answers))
        ranking = [Ranked(h.chunk.chunk_id, h.chunk.source, h.chunk.text) for h in seeded.retrieve(item.question, k=k)]
        rank = retrieval_rank(ranking, item.sources, item.answers)
        ours.append((float(hit_at(rank, k)), reciprocal_rank(rank)))
        result = evaluator.evaluate(query=item.question, expected_ids=expected or ["(none)"])
        theirs.append((result.metric_vals_dict["hit_rate"], result.metric_vals_dict["mrr"]))
        assert theirs[-1] == pytest.approx(ours[-1]), item.id
    hit_rate = sum(h for h, _ in theirs) / len(theirs)
    mrr = sum(m for _, m in theirs) / len(theirs)
    assert len(theirs) == 71
    assert hit_rate == pytest.approx(sum(h for h, _ in ours) / len(ours))
    assert mrr == pytest.approx(sum(m for _, m in ours) / len(ours))
    print(f"seeds.jsonl answerable={len(theirs)} hit@{k}={hit_rate:.3f} mrr={mrr:.3f}")


def test_retriever_composes_with_llamaindex_retriever_query_engine_and_any_llm(seeded):
    retriever = RagRetriever(pipeline=seeded, similarity_top_k=2)
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    response = engine.query(QUESTION)
    hits = seeded.retrieve(QUESTION, k=2)
    assert [n.node.node_id for n in response.source_nodes] == [h.chunk.chunk_id for h in hits]
    # MockLLM echoes its prompt: LlamaIndex's synthesizer put our chunks (and file names) in it.
    assert hits[0].chunk.text[:80] in str(response) and f"source: {hits[0].chunk.source}" in str(response)


def test_query_engine_answers_with_the_product_answerer_and_cited_source_nodes(seeded):
    response = RagQueryEngine(pipeline=seeded).query(QUESTION)
    answer = seeded.ask(QUESTION)
    assert str(response) == answer.answer and "[1]" in answer.answer
    assert [n.node.node_id for n in response.source_nodes] == [h.chunk.chunk_id for h in answer.hits]
    assert response.metadata["citations"] == [c.to_json() for c in answer.citations]
    cited = {n.node.node_id: n.node.metadata["cited"] for n in response.source_nodes if n.node.metadata["cited"]}
    assert cited == {c.chunk: [d.n for d in answer.citations if d.chunk == c.chunk] for c in answer.citations}


# -- LlamaIndex documents into Pipeline.ingest ------------------------------------------------------

ZORBLAX = "Zorblax Industries opened a bicycle factory in Lyon in 2019. It employs 420 workers."
NOTE = "Die Firma Quendrix baut seit 2021 Solarmodule in Leipzig und beschäftigt 75 Menschen."


def test_llamaindex_documents_are_ingested_with_stable_ids_titles_and_languages(tmp_path):
    pipeline = Pipeline(make_settings(tmp_path / "index", mode="extractive"))
    pages = [LlamaDocument(text=text, metadata={"file_path": str(tmp_path / "report.pdf"), "file_name": "report.pdf",
                                                "page_label": str(n)})
             for n, text in enumerate(["Quarterly report of Zorblax.", ZORBLAX], start=1)]
    note = LlamaDocument(text=NOTE, metadata={"doc_id": "note-7", "title": "Quendrix note"})
    empty = LlamaDocument(text="   ", metadata={"doc_id": "blank"})
    report = pipeline.ingest([*pages, note, empty])
    assert (report.count("added"), report.count("skipped")) == (2, 1)
    assert [f.reason for f in report.files if f.status == "skipped"] == ["empty (no text)"]
    stats = pipeline.stats()
    assert stats.languages == {"de": 1, "en": 1}
    assert "report.pdf" in stats.sources
    hit = pipeline.retrieve("How many workers does Zorblax employ?", k=1)[0].chunk
    assert hit.source == "report.pdf" and hit.title == "Quarterly report of Zorblax." and "420" in hit.text
    assert pipeline.retrieve("Wie viele Menschen beschäftigt Quendrix?", k=1)[0].chunk.title == "Quendrix note"
    # The same documents again: unchanged (stable ids); a changed text replaces, never duplicates.
    assert pipeline.ingest([*pages, note]).count("unchanged") == 2
    changed = LlamaDocument(text=NOTE.replace("75", "80"), metadata={"doc_id": "note-7", "title": "Quendrix note"})
    assert pipeline.ingest([changed]).count("replaced") == 1
    assert pipeline.stats().documents == 2
    with pytest.raises(Exception, match="cannot ingest a int"):
        pipeline.ingest([42])


def test_a_llamaindex_reader_feeds_ingest_and_maps_to_the_same_documents_as_the_files(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "zorblax.txt").write_text(f"Zorblax in Lyon\n{ZORBLAX}\n", encoding="utf-8")
    (folder / "quendrix.txt").write_text(f"Quendrix in Leipzig\n{NOTE}\n", encoding="utf-8")
    pipeline = Pipeline(make_settings(tmp_path / "index", mode="extractive"))
    assert pipeline.ingest(SimpleDirectoryReader(str(folder)).load_data()).count("added") == 2
    assert sorted(pipeline.stats().sources) == ["quendrix.txt", "zorblax.txt"]
    hit = pipeline.retrieve("How many workers does Zorblax employ?", k=1)[0].chunk
    assert hit.source == "zorblax.txt" and hit.title == "Zorblax in Lyon" and "420" in hit.text
    # `rag ingest` of the same files finds the same documents (ids from the path): no duplicates.
    pipeline.ingest([folder])
    assert pipeline.stats().documents == 2
