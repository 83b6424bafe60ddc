"""The real `rag` console script in subprocesses: JSON contracts, batch, errors without tracebacks."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import rag_script

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

RAG = rag_script()


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RAG, *args], env=env, capture_output=True, text=True, input=stdin, timeout=300)


@pytest.fixture(scope="module")
def indexed_env(tmp_path_factory) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env["RAG_HOME"] = str(tmp_path_factory.mktemp("cli") / "index")
    result = run("ingest", str(SEEDS), env=env)
    assert result.returncode == 0, result.stderr
    assert "5 files: 5 added" in result.stdout
    return env


def test_ask_prints_answer_markers_and_sources(indexed_env):
    result = run("ask", "Combien Microsoft a-t-il investi en Italie ?", env=indexed_env)
    assert result.returncode == 0, result.stderr
    assert "4,3 milliards" in result.stdout and "[1]" in result.stdout
    assert "Sources:" in result.stdout and "_" in result.stdout.split("Sources:")[1]
    assert "mode: extractive" in result.stdout


def test_ask_json_contract(indexed_env):
    result = run("ask", "--json", "Who co-founded Alibaba?", env=indexed_env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == ["id", "question", "answer", "abstained", "mode", "citations", "timings_ms", "short_answer",
                          "claims", "language_ok"]  # the claim checker's keys come last (rag.answer.verify)
    assert data["short_answer"] is None or data["short_answer"] in data["answer"]
    assert data["id"] is None and data["mode"] == "extractive" and isinstance(data["abstained"], bool)
    assert set(data["timings_ms"]) == {"retrieve", "answer", "total"}
    for citation in data["citations"]:
        assert list(citation) == ["n", "source", "chunk", "start", "end", "text", "score", "title"]
        source_text = (SEEDS / citation["source"]).read_text(encoding="utf-8")
        assert source_text[citation["start"]:citation["end"]] == citation["text"]
        # A text file's title is its first line, not its hash-like file name.
        assert citation["title"] == source_text.strip().splitlines()[0].strip()[:200]


def test_sources_list_names_the_document_title_beside_the_file_name(indexed_env):
    result = run("ask", "Who co-founded Alibaba?", env=indexed_env)
    assert result.returncode == 0, result.stderr
    sources = result.stdout.split("Sources:")[1].strip().splitlines()
    shown = re.match(r"\s*\[1\] (.+) \(([^()]+\.txt)\), chars \d+-\d+: ", sources[0])
    assert shown, sources[0]
    title = (SEEDS / shown.group(2)).read_text(encoding="utf-8").strip().splitlines()[0].strip()
    assert shown.group(1) == title[:200]  # titles are capped at 200 characters


def test_batch_keeps_order_and_ids_and_ignores_other_fields(indexed_env, tmp_path):
    batch = tmp_path / "questions.jsonl"
    lines = [
        {"id": "q1", "question": "In welchen Städten wurden Mitarbeiter entlassen?", "answers": ["x"]},
        {"id": 7, "question": "What did Nvidia launch?"},
        {"question": "Quel est le salaire annuel de Zorblax Vantorp ?"},
    ]
    batch.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    result = run("ask", "--json", "--batch", str(batch), env=indexed_env)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["q1", 7, None]
    assert [o["question"] for o in out] == [x["question"] for x in lines]
    assert out[2]["abstained"] is True and out[2]["citations"] == []


def test_stats_json_is_identical_after_reingesting_unchanged_files(indexed_env):
    before = json.loads(run("stats", "--json", env=indexed_env).stdout)
    assert before["documents"] == 5 and before["chunks"] > 0
    again = run("ingest", str(SEEDS), env=indexed_env)
    assert "5 unchanged" in again.stdout
    assert json.loads(run("stats", "--json", env=indexed_env).stdout) == before


@pytest.mark.parametrize("args, message", [
    (["ask", "   "], "the question is empty"),
    (["ask", "x" * 5000], "too long"),
    (["ask", "--json", "?!.,;:\u2026\u00bf\u00a1"], "has no words"),
    (["ask", "..."], "has no words"),
    (["ask", "!!!!"], "has no words"),
    (["ingest", "/no/such/folder"], "no such file or folder"),
])
def test_bad_input_gets_one_line_and_exit_1(indexed_env, args, message):
    result = run(*args, env=indexed_env)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_index_and_bad_batch_line(tmp_path, indexed_env):
    env = dict(indexed_env, RAG_HOME=str(tmp_path / "empty"))
    result = run("ask", "Who?", env=env)
    assert result.returncode == 1 and "rag ingest" in result.stderr and "Traceback" not in result.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{not json}\n', encoding="utf-8")
    result = run("ask", "--json", "--batch", str(bad), env=indexed_env)
    assert result.returncode == 1 and "line 2" in result.stderr and result.stdout == ""


def test_index_dir_flag_wins_over_rag_home(indexed_env, tmp_path):
    env = dict(indexed_env, RAG_HOME=str(tmp_path / "elsewhere"))
    result = run("stats", "--json", "--index-dir", indexed_env["RAG_HOME"], env=env)
    assert result.returncode == 0 and json.loads(result.stdout)["documents"] == 5


def test_usage_errors_exit_2(indexed_env):
    result = run("frobnicate", env=indexed_env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
