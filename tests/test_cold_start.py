"""A cold `rag ask` loads nothing it does not use: no web server, no LlamaIndex, no Word reader, no Gradio."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Top-level packages (and rag modules) that `rag ask` must never import.
NOT_ON_THE_ASK_PATH = ("fastapi", "starlette", "uvicorn", "llama_index", "docx", "gradio", "rag.serve",
                       "rag.llamaindex")

PROBE = """
import json, sys
from rag.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {names} or m in {names})
print("\\nLOADED " + json.dumps(loaded))
sys.exit(code)
"""


def _loaded_by(args: list[str], home) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_HOME=str(home), RAG_PROGRESS="0")
    probe = PROBE.replace("{names}", repr(set(NOT_ON_THE_ASK_PATH)))
    result = subprocess.run([sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.rsplit("LOADED ", 1)[1])


def test_rag_ask_and_stats_import_no_server_llamaindex_or_docx(seeded_home):
    assert _loaded_by(["ask", "How much did Microsoft invest in Italy?"], seeded_home) == []
    assert _loaded_by(["ask", "--json", "Who co-founded Alibaba?"], seeded_home) == []
    assert _loaded_by(["stats"], seeded_home) == []


def test_the_probe_sees_an_import_when_there_is_one(tmp_path):
    # `rag ingest` chunks with LlamaIndex's splitter: the probe must report it, or the test above proves nothing.
    (tmp_path / "note.txt").write_text("Zorblax opened a bicycle factory in Lyon in 2019.", encoding="utf-8")
    loaded = _loaded_by(["ingest", "--quiet", str(tmp_path / "note.txt")], tmp_path / "index")
    assert "llama_index" in {m.split(".")[0] for m in loaded}
