"""Server mode: the same pipeline over a real `chroma run` on 127.0.0.1 (HttpClient)."""

import pytest

from rag.errors import StoreUnavailableError
from rag.pipeline import Pipeline
from tests.chroma_server import ChromaServer, free_port
from tests.conftest import make_settings

pytestmark = pytest.mark.server


def test_ingest_and_ask_through_a_chroma_server_survive_a_restart(tmp_path, corpus):
    data = tmp_path / "chroma-data"
    with ChromaServer(data) as server:
        settings = make_settings(tmp_path / "local", chroma_url=server.url, mode="extractive")
        pipeline = Pipeline(settings)
        report = pipeline.ingest([corpus])
        assert report.count("added") == 5
        answer = pipeline.ask("How much did Microsoft invest in Italy?")
        assert not answer.abstained and "4" in answer.answer and answer.citations
        stats = pipeline.stats()
        assert stats.documents == 5 and stats.store == server.url
        port = server.port

    with ChromaServer(data, port=port) as server:
        # A new process-like pipeline with an empty local dir: the BM25 side is rebuilt from the server.
        settings = make_settings(tmp_path / "other-local", chroma_url=server.url, mode="extractive")
        pipeline = Pipeline(settings)
        assert pipeline.stats().to_json() == {**stats.to_json(), "store": server.url}
        again = pipeline.ingest([corpus])
        assert again.count("unchanged") == 5 and again.chunks_added == 0
        answer = pipeline.ask("Qui a cofondé Alibaba ?")
        assert not answer.abstained and "Joe Tsai" in answer.answer


def test_unreachable_server_names_the_url(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreUnavailableError, match=url.replace(".", r"\.")):
        Pipeline(make_settings(tmp_path / "x", chroma_url=url)).stats()


def test_a_server_going_away_mid_run_is_a_clear_error_then_recovers(tmp_path, corpus):
    data = tmp_path / "chroma-data"
    server = ChromaServer(data).start()
    try:
        pipeline = Pipeline(make_settings(tmp_path / "local", chroma_url=server.url, mode="extractive"))
        pipeline.ingest([corpus / "002_4568a86cd45dc480.txt"])
        server.stop()
        with pytest.raises(StoreUnavailableError, match="lost the Chroma server at " + server.url.replace(".", r"\.")):
            pipeline.ask("How much did Microsoft invest in Italy?")
        server = ChromaServer(data, port=server.port).start()
        answer = pipeline.ask("How much did Microsoft invest in Italy?")  # same pipeline, server back
        assert "4.3 billion" in answer.answer
    finally:
        server.stop()
