"""`rag eval` end to end: a tiny en/fr corpus through the real pipeline (extractive mode),
in-process via eval.cli.main and once through the real `rag` console script; bad gold files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from eval import cli
from eval.gold_format import GoldFormatError, parse_gold_lines
from eval.scoring import METRIC_KEYS
from rag import Settings
from tests.openai_server import OpenAIStubServer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROW_KEYS = {"id", "lang", "question", "expected", "match", "answer", "abstained", "cited_sources", "correct",
            "retrieval_rank", "latency_ms", "unanswerable"}

CORPUS = {
    "001_bridge_en.txt": (
        "The Kestrel Bridge in Port Avalon was opened in 1887. It was designed by the engineer Margaret Holloway. "
        "The bridge is 412 metres long and carries a railway line across the Avalon estuary.\n"
    ),
    "002_tram_fr.txt": (
        "La ville de Montclair a voté un budget de 4,3\u202fmilliards d\u2019euros pour son nouveau tramway. "
        "Le chantier commencera en 2026 et sera dirigé par l\u2019ingénieure Claire Dubois. "
        "La ligne comptera dix-huit stations entre le port et l\u2019université.\n"
    ),
    "003_orchard_en.txt": (
        "The Greywater orchard cooperative grows apples and pears on 60 hectares. "
        "It was founded by twelve families in 1952 and sells its cider in the valley.\n"
    ),
}
GOLD = [
    {"id": "en-1", "lang": "en", "question": "Who designed the Kestrel Bridge?", "answers": ["Margaret Holloway"],
     "match": "any", "sources": ["001"]},
    {"id": "fr-1", "lang": "fr", "question": "Quel budget Montclair a-t-elle voté pour son tramway ?",
     "answers": ["4,3 milliards"], "match": "any", "sources": ["002"]},
    {"id": "en-2", "lang": "en", "question": "Who will lead the construction of the Montclair tramway?",
     "answers": ["Claire Dubois"], "match": "any", "sources": ["002"]},
    {"id": "u-1", "lang": "en", "question": "What is the population of Mars City?", "answers": [], "match": "any",
     "sources": [], "unanswerable": True},
]


def _write_gold(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in items), encoding="utf-8")
    return path


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env["RAG_PROGRESS"] = "0"
    return env


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("eval-tiny")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus, _write_gold(root / "gold.jsonl", GOLD)


@pytest.fixture(scope="module")
def inprocess(tiny, tmp_path_factory):
    """One in-process run with --judge against a loopback OpenAI stub (answers stay extractive)."""
    corpus, gold = tiny
    out = tmp_path_factory.mktemp("eval-out") / "out"

    def verdict(request: dict) -> str:
        return '{"supported": true, "reason": "stated in passage 1"}'

    stdout, stderr = io.StringIO(), io.StringIO()
    with OpenAIStubServer(default_reply=verdict) as stub, pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("RAG_", "OPENAI_")):
                mp.delenv(key)
        mp.setenv("RAG_PROGRESS", "0")
        mp.setenv("OPENAI_BASE_URL", stub.base_url)
        mp.setenv("RAG_LLM_MODEL", "stub-chat")
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli.main(["--gold", str(gold), "--corpus", str(corpus), "--out", str(out),
                             "--mode", "extractive", "--k", "3", "--judge"])
        judge_calls = len(stub.chat_requests())
    return Namespace(code=code, out=out, stdout=stdout.getvalue(), stderr=stderr.getvalue(), judge_calls=judge_calls)


def test_inprocess_run_writes_well_formed_report(inprocess):
    assert inprocess.code == 0, inprocess.stderr
    report = json.loads((inprocess.out / "report.json").read_text(encoding="utf-8"))
    assert tuple(report["metrics"]) == METRIC_KEYS
    for value in report["metrics"].values():
        assert value is None or isinstance(value, (int, float))
    for key in ("answer_accuracy", "abstention_accuracy", "citation_precision", "citation_recall",
                "hit@1", "hit@3", "hit@5", "mrr"):
        assert 0.0 <= report["metrics"][key] <= 1.0
    assert report["metrics"]["hit@1"] <= report["metrics"]["hit@3"] <= report["metrics"]["hit@5"]
    assert report["metrics"]["latency_ms_p50"] <= report["metrics"]["latency_ms_p95"]
    assert report["run"]["mode"] == "extractive" and report["run"]["k"] == 3 and report["run"]["retrieval_depth"] == 5

    assert set(report["by_language"]) == {"en", "fr"}
    assert set(report["by_crosslingual"]) == {"cross", "same"}
    assert set(report["by_source"]) == {"001", "002"}
    for group in (*report["by_language"].values(), *report["by_crosslingual"].values(), *report["by_source"].values()):
        assert tuple(group) == METRIC_KEYS
    assert report["by_source"]["001"]["abstention_accuracy"] is None
    assert report["document_languages"] == {"001_bridge_en.txt": "en", "002_tram_fr.txt": "fr",
                                            "003_orchard_en.txt": "en"}

    rows = {row["id"]: row for row in report["rows"]}
    assert list(rows) == ["en-1", "fr-1", "en-2", "u-1"]
    for row in rows.values():
        assert ROW_KEYS <= set(row)
        assert isinstance(row["correct"], bool) and isinstance(row["abstained"], bool)
        assert row["retrieval_rank"] is None or 1 <= row["retrieval_rank"] <= 5
        assert row["latency_ms"] > 0
    assert rows["en-2"]["crosslingual"] is True and rows["en-1"]["crosslingual"] is False
    assert rows["fr-1"]["crosslingual"] is False and rows["u-1"]["crosslingual"] is False  # en is in the corpus
    assert rows["u-1"]["unanswerable"] and rows["u-1"]["expected"] == [] and rows["u-1"]["retrieval_rank"] is None
    assert rows["u-1"]["correct"] == rows["u-1"]["abstained"]
    # The document writes "4,3\u202fmilliards d’euros"; the gold says "4,3 milliards".
    assert rows["fr-1"]["retrieval_rank"] is not None and rows["fr-1"]["correct"], rows["fr-1"]
    assert rows["en-1"]["retrieval_rank"] is not None
    assert all(s.endswith(".txt") for row in rows.values() for s in row["cited_sources"])


def test_inprocess_run_writes_markdown_chart_and_console_table(inprocess):
    report = json.loads((inprocess.out / "report.json").read_text(encoding="utf-8"))
    md = (inprocess.out / "report.md").read_text(encoding="utf-8")
    assert "## Headline" in md and "| answer_accuracy |" in md and "## By question language" in md
    assert "## Cross-lingual vs same language" in md and "## By gold source" in md
    failures = [row for row in report["rows"] if not row["correct"]]
    assert f"## Failures ({len(failures)})" in md
    for row in failures:
        assert f"### {row['id']} " in md and row["question"] in md
    assert (inprocess.out / "metrics.png").read_bytes()[:8] == PNG_MAGIC
    assert "answer_accuracy" in inprocess.stdout and "hit@5" in inprocess.stdout and "fr" in inprocess.stdout
    assert "asking" not in inprocess.stderr  # no progress bar when stderr is not a terminal


def test_judge_is_reported_apart_and_never_gated(inprocess):
    report = json.loads((inprocess.out / "report.json").read_text(encoding="utf-8"))
    judge = report["judge"]
    given = [r for r in report["rows"] if not r["abstained"]]
    assert inprocess.judge_calls == sum(1 for r in given if r["cited_sources"])
    assert judge["judge_faithfulness"] == 1.0 and judge["judged"] == len(given)
    assert "judge_faithfulness" not in report["metrics"] and report["gate"] is None


def test_judge_without_llm_prints_a_notice_and_skips(capsys):
    settings = Settings.from_env(_clean_env())
    assert cli._judge(Namespace(judge=True), settings, None) is None
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--judge skipped" in err


def test_real_rag_console_script(tiny, tmp_path):
    corpus, gold = tiny
    rag = str(Path(sys.executable).parent / "rag")  # this venv's script, not one on PATH
    out = tmp_path / "out"
    result = subprocess.run([rag, "eval", "--gold", str(gold), "--corpus", str(corpus), "--out", str(out),
                             "--mode", "extractive"], env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert len(report["rows"]) == len(GOLD) and report["run"]["k"] == 5
    assert (out / "metrics.png").read_bytes()[:8] == PNG_MAGIC and (out / "report.md").exists()
    assert "answer_accuracy" in result.stdout


# --- bad gold files: the line is named, nothing runs, exit 2 ---------------------------

GOOD_LINE = json.dumps(GOLD[0])


@pytest.mark.parametrize("bad,message", [
    ('{"id": "x", "lang": "en", "question": "q?", ', "not valid JSON"),
    (json.dumps({k: v for k, v in GOLD[0].items() if k != "match"}), 'missing key "match"'),
    (json.dumps({**GOLD[0], "match": "some"}), 'unknown "match"'),
    (json.dumps({**GOLD[0], "answers": "Margaret Holloway"}), '"answers" must be a list'),
    (json.dumps({**GOLD[3], "answers": ["42"]}), 'unanswerable question must have "answers": []'),
    (json.dumps({**GOLD[0], "answers": []}), '"answers" is empty'),
    (json.dumps([1, 2]), "expected a JSON object"),
    (json.dumps({**GOLD[0], "id": "en-1"}), 'duplicate id "en-1" (first on line 1)'),
])
def test_bad_gold_line_is_named_and_nothing_runs(tmp_path, capsys, bad, message):
    gold = tmp_path / "bad.jsonl"
    gold.write_text(f"{GOOD_LINE}\n\n{bad}\n", encoding="utf-8")  # the blank line 2 still counts
    out = tmp_path / "out"
    code = cli.main(["--gold", str(gold), "--corpus", str(tmp_path / "no-such-corpus"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{gold} line 3: " in err and message in err
    assert "nothing was run" in err and "Traceback" not in err
    assert not out.exists()


def test_every_bad_line_is_reported():
    with pytest.raises(GoldFormatError) as caught:
        parse_gold_lines([GOOD_LINE, "nope", json.dumps({**GOLD[0], "id": "b", "match": 1})], "g.jsonl")
    assert [e.split(":")[0] for e in caught.value.errors] == ["g.jsonl line 2", "g.jsonl line 3"]


def test_gold_parsing_keeps_unicode_and_options():
    items = parse_gold_lines([json.dumps({**GOLD[1], "notes": "extra keys are fine"}, ensure_ascii=False),
                              json.dumps(GOLD[3])])
    assert items[0].answers == ("4,3 milliards",) and items[0].match == "any" and items[0].line == 1
    assert items[1].unanswerable and items[1].sources == ()


def test_missing_gold_file_and_usage_errors(tmp_path, capsys):
    assert cli.main(["--gold", str(tmp_path / "none.jsonl")]) == 2
    assert "gold file not found" in capsys.readouterr().err
    assert cli.main([]) == 2  # --gold is required
    gold = _write_gold(tmp_path / "g.jsonl", GOLD)
    assert cli.main(["--gold", str(gold), "--tolerance", "-1"]) == 2
    assert cli.main(["--help"]) == 0
