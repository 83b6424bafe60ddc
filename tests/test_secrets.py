"""The API key and the system prompt end up in nothing a run writes.

One run, in llm mode against the loopback stub, with a distinctive fake key, a
private HOME, working directory and TMPDIR: ``rag ingest``, ``rag ask`` (an
answer, a malformed reply, a 401 whose body echoes the key), ``rag eval`` with
the judge, writing its reports to an out dir. Then every file under the run's
folder, and every stdout/stderr, is searched for the key and for the system
prompt's distinctive lines.

``python -m bench --quick`` is left out: it never calls an LLM, strips every
``OPENAI_*`` variable from its children's environment (``bench/measure.py``)
and takes over a minute and a half on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rag.answer.llm import SYSTEM_PROMPT
from tests.conftest import SEEDS, rag_script
from tests.openai_server import OpenAIStubServer, error_body

KEY = "sk-test-9c41f7e2-SECRETS-GREP-b38d5a06e1"
JUDGE_MARK = "You check whether an answer is supported"
ANSWER = "Microsoft invested 4.3 billion euros in Italy [1]."


def prompt_fragments() -> list[str]:
    """The system prompt's distinctive lines (the part before any ``{placeholder}``), 30+ characters."""
    fragments = []
    for line in SYSTEM_PROMPT.splitlines():
        text = line.strip("- ").strip().split("{")[0].strip()
        if len(text) >= 30:
            fragments.append(text)
    assert len(fragments) >= 5
    return fragments


NEEDLES = [KEY, *prompt_fragments()]


def find_leaks(root: Path, needles: list[str]) -> tuple[list[tuple[str, str]], list[Path]]:
    """(path, needle) for every needle found in a file under ``root``; and every file looked at."""
    leaks, visited = [], []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            visited.append(path)
            leaks += [(str(path), n) for n in needles if n.encode() in data]
    return leaks, visited


def test_the_leak_finder_can_fail(tmp_path):
    """The check below is only worth something if it finds a planted secret in any file, binary included."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "blob.bin").write_bytes(b"\x00\xff" + KEY.encode() + b"\x00")
    (tmp_path / "clean.txt").write_text("nothing here", encoding="utf-8")
    (tmp_path / "prompt.md").write_text("x " + prompt_fragments()[2] + " y", encoding="utf-8")
    leaks, visited = find_leaks(tmp_path, NEEDLES)
    assert len(visited) == 3
    assert sorted(Path(p).name for p, _ in leaks) == ["blob.bin", "prompt.md"]


def _rag() -> str:
    return rag_script()


def _reply(body: dict) -> str:
    system = body["messages"][0]["content"]
    if system.startswith(JUDGE_MARK):
        return '{"supported": true, "reason": "the passage says so"}'
    # A server coaxed into echoing the system prompt: the echo must not reach any answer written down.
    return "Echo: " + SYSTEM_PROMPT.splitlines()[0] + " " + ANSWER


@pytest.mark.slow
def test_key_and_system_prompt_are_in_no_file_or_output_of_a_whole_llm_run(tmp_path):
    run_dir = tmp_path / "run"
    home, cwd, tmp, index, out = (run_dir / name for name in ("home", "cwd", "tmp", "index", "eval-out"))
    for folder in (home, cwd, tmp):
        folder.mkdir(parents=True)
    corpus = run_dir / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "002_4568a86cd45dc480.txt", corpus)
    gold = run_dir / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(item) for item in [
        {"id": "q1", "lang": "en", "question": "How much did Microsoft invest in Italy?",
         "answers": ["4.3 billion"], "match": "any", "sources": ["002"]},
        {"id": "q2", "lang": "en", "question": "What is the salary of Zorblax Vantorp?",
         "answers": [], "match": "any", "sources": [], "unanswerable": True},
    ]) + "\n", encoding="utf-8")

    outputs: list[str] = []

    def rag(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([_rag(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
        outputs.extend([result.stdout, result.stderr])
        return result

    with OpenAIStubServer(api_key=KEY, default_reply=_reply) as stub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
        env.update(HOME=str(home), TMPDIR=str(tmp), XDG_CACHE_HOME=str(home / ".cache"),
                   XDG_CONFIG_HOME=str(home / ".config"), MPLCONFIGDIR=str(home / ".mpl"),
                   RAG_HOME=str(index), RAG_PROGRESS="0", RAG_LLM_RETRIES="0", RAG_MODE="llm",
                   OPENAI_API_KEY=KEY, OPENAI_BASE_URL=stub.base_url)

        ingest = rag("ingest", str(corpus), env=env)
        assert ingest.returncode == 0, ingest.stderr
        answered = rag("ask", "--json", "How much did Microsoft invest in Italy?", env=env)
        assert answered.returncode == 0, answered.stderr
        assert json.loads(answered.stdout)["answer"].endswith(ANSWER)
        stub.script_malformed("html")
        malformed = rag("ask", "How much did Microsoft invest in Italy?", env=env)
        assert malformed.returncode == 1 and "sent a malformed reply" in malformed.stderr
        # A server that echoes the key in its 401 body (the real API shows part of it).
        stub.script_error(401, body=error_body(401, f"Incorrect API key provided: {KEY}"))
        refused = rag("ask", "How much did Microsoft invest in Italy?", env=env)
        assert refused.returncode == 1 and "refused the API key (401)" in refused.stderr
        evaluated = rag("eval", "--gold", str(gold), "--index-dir", str(index), "--mode", "llm", "--judge",
                        "--out", str(out), env=env)
        assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
        requests = stub.chat_requests()

    # The key really was in use: every request carried it (so a leak had something to leak).
    assert len(requests) >= 6 and all(r.headers["authorization"] == f"Bearer {KEY}" for r in requests)
    assert sum(r.body["messages"][0]["content"].startswith(JUDGE_MARK) for r in requests) >= 1

    leaks, visited = find_leaks(run_dir, NEEDLES)
    # The walk saw what the run wrote: the index, and the eval reports holding the stub's answers.
    names = {p.relative_to(run_dir).as_posix() for p in visited}
    assert {"eval-out/report.json", "eval-out/report.md", "eval-out/metrics.png"} <= names, sorted(names)
    assert any(name.startswith("index/") for name in names), sorted(names)
    report = (out / "report.json").read_text(encoding="utf-8")
    assert "Microsoft invested 4.3 billion euros in Italy" in report and '"llm"' in report
    assert leaks == []
    for text in outputs:
        assert not [n for n in NEEDLES if n in text], text
    assert any(ANSWER in text for text in outputs)  # the outputs searched hold the answers
