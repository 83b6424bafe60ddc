"""What the CLI prints stays one line per thing and displays as it is (issue 19: D5): names with
newlines or bidi overrides are escaped, library chatter goes into the skip reason, a huge batch
question is not echoed whole."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import rag_script

RAG = rag_script()
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: the rest of the line displays reversed


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RAG, *args], env=env, capture_output=True, text=True, timeout=300)


def test_printable_escapes_what_breaks_or_reverses_a_line_and_keeps_the_rest():
    from rag.text import printable

    assert printable("two\nlines.txt") == "two\\nlines.txt"
    assert printable(f"report{RLO}fdp.txt") == "report\\u202efdp.txt"
    assert printable("bad\udcff.txt") == "bad\\udcff.txt"  # an undecodable byte in a file name
    assert printable("tab\tand\u2028sep\u200b") == "tab\\tand\\u2028sep\\u200b"
    assert printable("Café déjà vu\u00a0!.md") == "Café déjà vu\u00a0!.md"  # letters and spaces as they are
    assert printable("東京 📄.txt") == "東京 📄.txt"


def test_ingest_prints_one_line_per_bad_file_with_escaped_names_and_ask_escapes_sources(tmp_path, cli_env):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "two\nlines.txt").write_text("", encoding="utf-8")  # skipped: empty
    (folder / "not-a.pdf").write_bytes(b"hello, this is no PDF at all")
    (folder / "cut.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n")
    reversed_name = f"notes{RLO}txt.exe.txt"
    (folder / reversed_name).write_text("The night ferry leaves the north pier at eleven.\n", encoding="utf-8")

    result = run(["ingest", str(folder)], cli_env)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("skipped ") for line in lines), lines
    assert f"skipped {folder}/two\\nlines.txt: empty (no text)" in lines
    assert any("not-a.pdf: PDF could not be parsed" in line and "invalid pdf header" in line for line in lines)
    assert any("cut.pdf: PDF could not be parsed" in line and "EOF marker not found" in line for line in lines)
    assert RLO not in result.stdout + result.stderr

    ask = run(["ask", "At what time does the night ferry leave the north pier?"], cli_env)
    assert ask.returncode == 0, ask.stderr
    sources = ask.stdout.split("Sources:")[1]
    assert "notes\\u202etxt.exe.txt" in sources and RLO not in ask.stdout
    as_json = json.loads(run(["ask", "--json", "At what time does the night ferry leave the north pier?"], cli_env).stdout)
    assert as_json["citations"][0]["source"] == reversed_name  # JSON keeps the exact name


def test_a_huge_batch_question_is_not_echoed_whole(tmp_path, cli_env):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ferry.txt").write_text("The night ferry leaves the north pier at eleven.\n", encoding="utf-8")
    assert run(["ingest", str(folder)], cli_env).returncode == 0
    batch = tmp_path / "batch.jsonl"
    huge = "why " * 2_500_000  # a 10 MB line
    batch.write_text(json.dumps({"id": "big", "question": huge}) + "\n"
                     + json.dumps({"id": "ok", "question": "At what time does the night ferry leave the north pier?"}) + "\n",
                     encoding="utf-8")
    result = run(["ask", "--json", "--batch", str(batch)], cli_env)
    assert result.returncode == 0, result.stderr
    big, ok = (json.loads(line) for line in result.stdout.splitlines())
    assert "too long" in big["error"] and len(json.dumps(big)) < 1000
    assert big["question"].startswith("why why") and f"({len(huge)} characters)" in big["question"]
    assert ok["id"] == "ok" and ok["citations"]
    text = run(["ask", "--batch", str(batch)], cli_env)
    assert len(text.stdout) < 2000 and "too long" in text.stdout
