"""Deleting a document (`Pipeline.delete`, `rag delete NAME`) and previewing its text.

A deleted document's record, chunks, sentence vectors and BM25 entries go; its file goes too
if (and only if) it is the UI's copy in ``<index>/uploads/``; a delete that fails half-way
leaves an index that readers and the next writer see as consistent.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rag.errors import IndexNotFoundError, InputError
from rag.index.lexical import LexicalIndex
from rag.ingest.loading import load_file
from rag.pipeline import Pipeline
from rag.index.store import Store
from rag.types import Stats
from tests.conftest import make_settings, rag_script
from tests.test_ingest import _lexical_matches_a_full_rebuild

# A made-up company, so no seed article can answer for it.
FACT = ("# Zorblax Industries\n\nZorblax Industries est une entreprise fictive de Lyon. "
        "En 2031, Zorblax Industries a vendu 7 342 robots jardiniers en Europe.\n")
QUESTION = "Combien de robots jardiniers Zorblax Industries a-t-elle vendus ?"


def _paragraphs(n: int) -> str:
    """A long neutral document (several chunks), each paragraph different."""
    return "\n\n".join(
        f"Paragraphe {i}. La coopérative Velmora de la vallée {i} entretient {i * 3 + 7} ruches et "
        f"vend son miel sur {i + 2} marchés. Chaque printemps, ses {i + 11} bénévoles réparent les "
        "clôtures, plantent des haies et comptent les essaims avant la première récolte." for i in range(n))


def _store(pipeline: Pipeline, home: Path) -> Store:
    return Store(make_settings(home), pipeline.embedder.model_id, create=False)


def _cites(pipeline: Pipeline, question: str, source: str) -> bool:
    answer = pipeline.ask(question)
    return any(c.source == source for c in answer.citations) or any(h.chunk.source == source for h in answer.hits)


def _assert_consistent(pipeline: Pipeline, home: Path) -> Stats:
    stats = pipeline.stats()
    store = _store(pipeline, home)
    assert store.chunk_count() == stats.chunks == store.sentence_record_count()
    assert set(store.documents()) == {r.doc_id for r in pipeline.documents()}
    _lexical_matches_a_full_rebuild(pipeline, home)
    return stats


@pytest.fixture
def indexed(tmp_path: Path, corpus: Path) -> tuple[Pipeline, Path, Path]:
    """The seeds plus a user's own file outside the index dir, and one uploaded copy."""
    home = tmp_path / "index"
    pipeline = Pipeline(make_settings(home, mode="extractive"))
    own = tmp_path / "mine" / "zorblax.md"
    own.parent.mkdir()
    own.write_text(FACT, encoding="utf-8")
    uploaded = pipeline.uploads_dir / "velmora.md"
    uploaded.parent.mkdir(parents=True)
    uploaded.write_text("# Velmora\n\n" + _paragraphs(12), encoding="utf-8")
    pipeline.ingest([corpus, own, uploaded])
    return pipeline, own, uploaded


def test_delete_drops_chunks_and_bm25_entries_and_keeps_a_users_file(indexed) -> None:
    pipeline, own, _ = indexed
    home = pipeline.settings.home
    before = pipeline.stats()
    assert _cites(pipeline, QUESTION, "zorblax.md")
    doc_chunks = {s.chunk.chunk_id for s in _store(pipeline, home).iter_chunks() if s.chunk.source == "zorblax.md"}
    assert doc_chunks

    outcome = pipeline.delete("zorblax.md")

    assert (outcome.status, outcome.path, outcome.chunks) == ("deleted", str(own.resolve()), len(doc_chunks))
    after = _assert_consistent(pipeline, home)
    assert after.documents == before.documents - 1
    assert after.chunks == before.chunks - len(doc_chunks)
    assert "zorblax.md" not in after.sources
    assert not doc_chunks & set(LexicalIndex.load(home / "bm25").chunk_ids)
    assert not _cites(pipeline, QUESTION, "zorblax.md")
    assert own.read_text(encoding="utf-8") == FACT  # the user's own file is never touched
    # Another process's view (a fresh pipeline reading the saved caches) agrees.
    fresh = Pipeline(make_settings(home, mode="extractive"))
    assert fresh.stats().sources == after.sources
    assert not _cites(fresh, QUESTION, "zorblax.md")
    # It can come back.
    assert pipeline.ingest([own]).files[0].status == "added"
    assert _cites(pipeline, QUESTION, "zorblax.md")


def test_delete_removes_the_uploaded_copy_and_a_path_names_a_document(indexed) -> None:
    pipeline, _, uploaded = indexed
    outcome = pipeline.delete(uploaded)  # by path this time
    assert outcome.status == "deleted" and outcome.chunks > 1
    assert not uploaded.exists()
    assert "velmora.md" not in pipeline.stats().sources
    _assert_consistent(pipeline, pipeline.settings.home)


def test_document_text_rebuilds_the_indexed_text_at_its_offsets(indexed) -> None:
    pipeline, _, uploaded = indexed
    expected = load_file(uploaded).text
    record = next(r for r in pipeline.documents() if r.source == "velmora.md")
    assert record.chunks > 1  # several chunks, overlapping: each is put back at its offset
    text = pipeline.document_text("velmora.md")
    assert text.split() == expected.split()
    citation = pipeline.ask("Combien de ruches la coopérative Velmora de la vallée 9 entretient-elle ?").citations[0]
    assert text[citation.start : citation.end] == citation.text


def test_unknown_and_ambiguous_names_are_one_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "index"
    pipeline = Pipeline(make_settings(home, mode="extractive"))
    with pytest.raises(IndexNotFoundError):
        pipeline.delete("notes.md")
    assert not home.exists()  # a mistyped --index-dir is not created
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.md").write_text(f"# Notes {folder}\n\nLe dossier {folder} contient des notes.\n",
                                                    encoding="utf-8")
    pipeline.ingest([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(InputError, match=r"no indexed document is called other\.md"):
        pipeline.delete("other.md")
    with pytest.raises(InputError, match=r"2 indexed documents are called notes\.md: give its path"):
        pipeline.delete("notes.md")
    assert pipeline.delete(tmp_path / "a" / "notes.md").status == "deleted"
    assert pipeline.delete("notes.md").path == str((tmp_path / "b" / "notes.md").resolve())
    assert pipeline.stats().documents == 0
    assert (tmp_path / "a" / "notes.md").exists() and (tmp_path / "b" / "notes.md").exists()


def test_a_delete_that_fails_half_way_leaves_a_consistent_index(indexed, monkeypatch) -> None:
    """Killed (here: an exception) after the record is gone but before its chunks: readers no
    longer see the document, and the next writer sweeps what is left."""
    pipeline, own, uploaded = indexed
    home = pipeline.settings.home
    before = pipeline.stats()

    def fail(self, where):  # noqa: ANN001 - Store.delete_chunks_where's signature
        raise RuntimeError("killed between the record and the chunks")

    with monkeypatch.context() as patch:
        patch.setattr(Store, "delete_chunks_where", fail)
        with pytest.raises(RuntimeError):
            pipeline.delete("zorblax.md")
    store = _store(pipeline, home)
    assert store.interrupted_ingest()  # the mark tells the next writer to clean up
    assert store.chunk_count() == before.chunks  # the chunks are still stored...

    reader = Pipeline(make_settings(home, mode="extractive"))
    assert "zorblax.md" not in reader.stats().sources  # ...but no reader counts or finds them
    assert reader.stats().chunks == before.chunks - 1
    answer = reader.ask(QUESTION)
    live = {r.doc_id for r in reader.documents()}
    assert all(h.chunk.doc_id in live for h in answer.hits)
    assert not _cites(reader, QUESTION, "zorblax.md")

    # The next delete sweeps the orphans; re-ingesting the document brings it back whole.
    pipeline.delete(uploaded)
    assert not store.interrupted_ingest()
    _assert_consistent(pipeline, home)
    report = pipeline.ingest([own])
    assert report.files[0].status == "added"
    _assert_consistent(pipeline, home)
    assert _cites(pipeline, QUESTION, "zorblax.md")


def test_rag_delete_prints_one_line_and_exits_1_on_a_bad_name(tmp_path: Path, cli_env: dict[str, str]) -> None:
    doc = tmp_path / "zorblax.md"
    doc.write_text(FACT, encoding="utf-8")

    def rag(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([rag_script(), *args], env=cli_env, capture_output=True, text=True, timeout=300)

    assert rag("ingest", str(doc)).returncode == 0
    missing = rag("delete", "nothing.md")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines() == [
        "error: no indexed document is called nothing.md: `rag stats --json` lists the indexed files"]
    done = rag("delete", "zorblax.md")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines() == [f"deleted {doc.resolve()} (1 chunk)"]
    assert doc.exists()
    assert "documents: 0" in rag("stats").stdout
