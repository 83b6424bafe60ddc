"""A 2000-line `rag ask --batch` in one process: one output line per input line, in order, each
with its own id, the refused lines among them not stopping the rest, and every answer the same as
the question asked alone. Bounded: 500 of the lines are answered (about 50 ms each on 2 cores), the
others are refused before retrieval (empty, no words, too long), so the test stays under a minute."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import rag_script

RAG = rag_script()
pytestmark = pytest.mark.slow

LINES = 2000
QUESTIONS = [
    "At what time does the night ferry leave the north pier?",
    "What did the keeper paint green?",
    "Who repairs the nets in the harbour?",
    "What is moored at the south jetty?",
]
REFUSED = ["   ", "?!", "x" * 2500]


def _line(i: int) -> dict[str, object]:
    if i % 4 == 0:
        return {"id": f"q{i}", "question": QUESTIONS[(i // 4) % len(QUESTIONS)]}
    return {"id": i, "question": REFUSED[i % len(REFUSED)]}


def test_a_2000_line_batch_answers_every_line_in_order(tmp_path: Path, cli_env: dict[str, str]):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "harbour.txt").write_text(
        "The night ferry leaves the north pier at eleven. The keeper painted the lighthouse door green.\n"
        "Old Marta repairs the nets in the harbour every morning. Twelve boats are moored at the south jetty.\n",
        encoding="utf-8")
    assert subprocess.run([RAG, "ingest", str(docs)], env=cli_env, capture_output=True, timeout=300).returncode == 0
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps(_line(i)) + "\n" for i in range(LINES)), encoding="utf-8")

    result = subprocess.run([RAG, "ask", "--json", "--batch", str(batch)], env=cli_env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == [_line(i)["id"] for i in range(LINES)]
    answered = [o for o in out if "error" not in o]
    assert len(answered) == LINES // 4 and all(o["citations"] for o in answered)
    assert all(("empty" in o["error"] or "no words" in o["error"] or "too long" in o["error"])
               for o in out if "error" in o)

    alone = {q: json.loads(subprocess.run([RAG, "ask", "--json", q], env=cli_env, capture_output=True, text=True,
                                          timeout=300).stdout) for q in QUESTIONS}
    for o in answered:
        assert (o["answer"], o["citations"]) == (alone[o["question"]]["answer"], alone[o["question"]]["citations"])
