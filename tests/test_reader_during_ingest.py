"""Readers during an ingest, then killed ingests (RELIABILITY.md, D1), with real `rag` processes.

The sequence an independent probe found with timed kills, made deterministic by the fault hook
(rag.ingest.faults, RAG_FAULT_AT): an ingest adding files is paused after its first commit, a reader runs,
the ingest goes on and is killed after a later commit; a second ingest is killed right after its
start-up clean-up; a third finishes. Before the fix, the reader froze a stale document list in
documents.json, the clean-up trusted it and deleted the chunks of committed documents, and later
ingests called those documents "unchanged" for good.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import rag_script

RAG = rag_script()
pytestmark = pytest.mark.slow

# Invented towns and crops: every document states facts no other one does.
TOWNS = ["Varnholt", "Quessidy", "Ombrelac", "Tirrowen", "Falkmire", "Drossan", "Pellucar", "Wyndhage",
         "Sorrento Vale", "Kelmarsh", "Brixendorf", "Caldrapoint"]
CROPS = ["saffron", "quinoa", "hops", "lentils", "sorghum", "flax", "chicory", "millet", "teff", "rye",
         "buckwheat", "amaranth"]


def write_corpus(folder: Path, indices: range) -> dict[str, str]:
    """One short document per index; returns file name -> a question only that document answers."""
    folder.mkdir(parents=True)
    questions = {}
    for i in indices:
        town, crop = TOWNS[i], CROPS[i]
        name = f"report_{i:02d}.txt"
        (folder / name).write_text(
            f"Cooperative report {i}\n\nThe cooperative of {town} grows {crop} on {40 + i} hectares. "
            f"Its {crop} harvest reached {300 + 7 * i} tonnes in {1990 + i}. "
            f"The {town} cooperative employs {12 + i} people and sells most of its {crop} abroad.\n",
            encoding="utf-8")
        questions[name] = f"How many tonnes of {crop} did the {town} cooperative harvest?"
    return questions


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_HOME=str(home), RAG_PROGRESS="0", RAG_INGEST_BATCH_TEXTS="8", **extra)
    return env


def rag(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RAG, *args], env=env_for(home, **extra), capture_output=True, text=True, timeout=300)


def wait_for(marker: Path, process: subprocess.Popen[str], timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        assert process.poll() is None, f"the ingest ended early: {process.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, f"the ingest never reached {marker.name}"
        time.sleep(0.05)


def answerable(home: Path, questions: dict[str, str]) -> dict[str, bool]:
    """In a fresh process (as `rag ask --source NAME` would): does each document still give
    retrieval a chunk when the search is restricted to it?"""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from rag.pipeline import Pipeline\n"
        "from rag.retrieve.hybrid import Filters\n"
        "from tests.conftest import make_settings\n"
        "questions = json.loads(sys.argv[2])\n"
        "pipeline = Pipeline(make_settings(Path(sys.argv[1]), mode='extractive'))\n"
        "print(json.dumps({name: bool(pipeline.retrieve(q, k=3, filters=Filters(source=name)))"
        " for name, q in questions.items()}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(home), json.dumps(questions)], capture_output=True,
                            text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def stats(home: Path) -> dict:
    result = rag(home, "stats", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_reader_during_an_ingest_then_two_killed_ingests_lose_no_committed_document(tmp_path):
    home = tmp_path / "index"
    first = write_corpus(tmp_path / "first", range(0, 4))
    other = write_corpus(tmp_path / "other", range(4, 12))
    assert rag(home, "ingest", str(tmp_path / "first")).returncode == 0

    # 1. An ingest of other/ pauses after its first commit; a reader runs; it goes on and is killed
    #    (as kill -9) after its third commit.
    writer = subprocess.Popen([RAG, "ingest", str(tmp_path / "other")], text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              env=env_for(home, RAG_FAULT_AT="committed:1=wait,committed:3=exit"))
    marker = home / "fault-committed-1.reached"
    wait_for(marker, writer)
    during = stats(home)
    assert during["documents"] > 4, "the reader must see the documents committed so far"
    marker.unlink()
    writer.communicate(timeout=300)
    assert writer.returncode == 137

    # 2. Readers after the kill see every document committed before it, not a frozen list.
    committed = stats(home)["documents"]
    assert committed > during["documents"], "later readers must see the later commits"
    seen = answerable(home, first | other)
    assert sum(seen.values()) == committed and all(seen[name] for name in first)

    # 3. The next ingest is killed right after its start-up clean-up of the killed run.
    assert rag(home, "ingest", str(tmp_path / "other"), RAG_FAULT_AT="cleaned=exit").returncode == 137
    after_cleanup = answerable(home, first | other)
    assert after_cleanup == seen, "the clean-up deleted chunks of committed documents"

    # 4. A third ingest finishes: every document of both folders is there and answerable.
    final = rag(home, "ingest", "--json", str(tmp_path / "other"))
    assert final.returncode == 0, final.stderr
    assert stats(home)["documents"] == 12 and stats(home)["chunks"] >= 12
    assert all(answerable(home, first | other).values())


def test_a_document_whose_chunks_were_lost_is_repaired_not_called_unchanged(tmp_path):
    """Self-healing: an index damaged as D1 left it (a record whose chunks are gone) is repaired by
    the next ingest, even of another folder: the file is read again from where it was ingested."""
    home = tmp_path / "index"
    first = write_corpus(tmp_path / "first", range(0, 3))
    write_corpus(tmp_path / "second", range(3, 5))
    assert rag(home, "ingest", str(tmp_path / "first")).returncode == 0
    code = (
        "import sys\nfrom pathlib import Path\nfrom rag.pipeline import Pipeline\nfrom rag.index.store import Store\n"
        "from tests.conftest import make_settings\n"
        "settings = make_settings(Path(sys.argv[1]))\n"
        "store = Store(settings, Pipeline(settings).embedder.model_id, create=False)\n"
        "doc = next(r for r in store.documents().values() if r.source == 'report_01.txt')\n"
        "store.delete_chunks_where({'doc_id': doc.doc_id})\n"
    )
    damage = subprocess.run([sys.executable, "-c", code, str(home)], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parent.parent)
    assert damage.returncode == 0, damage.stderr[-2000:]
    assert answerable(home, first) == {"report_00.txt": True, "report_01.txt": False, "report_02.txt": True}

    result = rag(home, "ingest", "--json", str(tmp_path / "second"))
    assert result.returncode == 0, result.stderr
    outcomes = {Path(f["path"]).name: f["status"] for f in json.loads(result.stdout)["files"]}
    assert outcomes == {"report_01.txt": "repaired", "report_03.txt": "added", "report_04.txt": "added"}
    assert all(answerable(home, first).values())
    again = rag(home, "ingest", "--json", str(tmp_path / "first"))
    assert {f["status"] for f in json.loads(again.stdout)["files"]} == {"unchanged"}
