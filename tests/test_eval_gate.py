"""eval.gate: the regression gate's diff and exit codes, as a unit and through eval.cli.main.

The CLI tests swap the pipeline for a scripted fake (no model, no index), so
they run in milliseconds; tests/test_eval_cli.py runs the real pipeline.
"""

import json
import os
from pathlib import Path

import pytest

from eval import cli
from eval.gate import Baseline, compare, load_baseline, make_baseline, parse_baseline
from rag.errors import InputError
from rag.types import Answer, Chunk, Citation, Hit, Stats

HEADLINE = {"answer_accuracy": 0.8, "abstention_accuracy": 0.5, "citation_precision": 0.9,
            "citation_recall": 1.0, "hit@5": 0.9, "mrr": 0.7}


# --- compare() -------------------------------------------------------------------


def test_a_question_newly_failing_fails_the_gate_and_is_listed():
    baseline = Baseline(dict(HEADLINE), {"q1": True, "q2": True, "q3": False})
    result = compare(baseline, dict(HEADLINE), {"q1": True, "q2": False, "q3": False})
    assert result.newly_failing == ["q2"] and result.newly_passing == []
    assert not result.passed and result.exit_code == 1


def test_newly_passing_is_listed_and_passes():
    baseline = Baseline(dict(HEADLINE), {"q1": True, "q2": False})
    result = compare(baseline, dict(HEADLINE), {"q1": True, "q2": True})
    assert result.newly_passing == ["q2"] and result.newly_failing == []
    assert result.passed and result.exit_code == 0


def test_metric_drop_within_tolerance_passes_beyond_fails():
    baseline = Baseline(dict(HEADLINE), {"q1": True})
    current = {**HEADLINE, "answer_accuracy": 0.75, "hit@5": 0.8}
    within = compare(baseline, current, {"q1": True}, tolerance=0.1)  # 0.9 - 0.8 is 0.1000...2 in floats
    assert within.passed and within.exit_code == 0 and within.metric_drops == []
    assert within.metrics["answer_accuracy"]["delta"] == pytest.approx(-0.05)
    beyond = compare(baseline, current, {"q1": True}, tolerance=0.06)
    assert beyond.metric_drops == ["hit@5"] and beyond.exit_code == 1
    strict = compare(baseline, current, {"q1": True})  # default tolerance 0: any drop fails
    assert strict.metric_drops == ["answer_accuracy", "hit@5"]


def test_only_headline_metrics_gate_and_rises_never_fail():
    baseline = Baseline(dict(HEADLINE), {"q1": True})
    current = {**HEADLINE, "mrr": 0.1, "latency_ms_p95": 99999.0, "citation_recall": None, "answer_accuracy": 0.95}
    result = compare(baseline, current, {"q1": True})
    assert result.passed
    assert result.metrics["citation_recall"] == {"baseline": 1.0, "current": None, "delta": None}


def test_new_and_removed_questions_are_listed_but_do_not_fail():
    baseline = Baseline(dict(HEADLINE), {"old": True, "kept": True})
    result = compare(baseline, dict(HEADLINE), {"kept": True, "new": False})
    assert result.passed
    assert result.new_questions == ["new"] and result.missing_questions == ["old"]


def test_baseline_round_trip_and_report_json_as_baseline(tmp_path):
    report = {"run": {"mode": "extractive"}, "metrics": dict(HEADLINE),
              "rows": [{"id": "q1", "correct": True}, {"id": "q2", "correct": False}]}
    doc = make_baseline(report)
    assert doc["correct"] == {"q1": True, "q2": False} and doc["metrics"] == HEADLINE
    assert parse_baseline(doc).correct == parse_baseline(report).correct == {"q1": True, "q2": False}
    with pytest.raises(InputError, match="--update-baseline"):
        load_baseline(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match="not a rag eval baseline"):
        load_baseline(tmp_path / "bad.json")


# --- through eval.cli.main with a scripted pipeline ---------------------------------


class FakePipeline:
    """Answers from ``FakePipeline.script``: question -> (reply, abstained, cited file or None)."""

    script: dict[str, tuple[str, bool, str | None]] = {}

    def __init__(self, settings):
        self.settings = settings
        self.embedder = type("E", (), {"model_id": "fake-embedder"})()

    def _hits(self, question):
        reply, _, source = self.script[question]
        chunk = Chunk(f"c-{source}", "d", source or "001_x.txt", 0, 0, len(reply), reply, "en", "t")
        return [Hit(chunk, 0.9)]

    def ask(self, question, k=None, **_):
        reply, abstained, source = self.script[question]
        citations = [Citation(1, source, f"c-{source}", 0, len(reply), reply, 0.9)] if source else []
        answer = Answer(question, reply, abstained, "extractive", citations)
        answer.hits = self._hits(question)
        answer.timings_ms = {"retrieve": 1.0, "answer": 1.0, "total": 2.0}
        return answer

    def retrieve(self, question, k=None, filters=None):
        return self._hits(question)

    def stats(self):
        return Stats(1, 1, {"en": 1}, ["001_x.txt"], "fake-embedder", "-", 1)


GOLD = [
    {"id": "q1", "lang": "en", "question": "Who?", "answers": ["Joe Tsai"], "match": "any", "sources": ["001"]},
    {"id": "q2", "lang": "en", "question": "When?", "answers": ["2017"], "match": "any", "sources": ["001"]},
    {"id": "u1", "lang": "en", "question": "Net worth?", "answers": [], "match": "any", "sources": [],
     "unanswerable": True},
]
GOOD = {"Who?": ("Joe Tsai chairs it. [1]", False, "001_x.txt"),
        "When?": ("In 2016. [1]", False, "001_x.txt"),
        "Net worth?": ("Not in the documents.", True, None)}


@pytest.fixture
def gated(tmp_path, monkeypatch):
    """(run(script, *extra_args) -> exit code, baseline path); the pipeline is the fake."""
    for key in list(os.environ):
        if key.startswith(("RAG_", "OPENAI_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RAG_PROGRESS", "0")
    monkeypatch.setattr("rag.pipeline.Pipeline", FakePipeline)
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(g) for g in GOLD) + "\n", encoding="utf-8")
    baseline = tmp_path / "baseline.json"

    def run(script, *extra: str) -> int:
        FakePipeline.script = dict(script)
        return cli.main(["--gold", str(gold), "--index-dir", str(tmp_path / "idx"), "--mode", "extractive",
                         "--out", str(tmp_path / "out"), "--baseline", str(baseline), *extra])

    return run, baseline


def test_cli_gate_exit_codes_and_listing(gated, capsys):
    run, baseline = gated
    assert run(GOOD) == 2  # no baseline yet
    assert "--update-baseline" in capsys.readouterr().err

    assert run(GOOD, "--update-baseline") == 0
    saved = json.loads(baseline.read_text(encoding="utf-8"))
    assert saved["correct"] == {"q1": True, "q2": False, "u1": True}
    assert saved["metrics"]["answer_accuracy"] == 0.5
    capsys.readouterr()

    assert run(GOOD) == 0  # same run: passes
    out = capsys.readouterr().out
    assert "regression gate: PASSED" in out

    # q1 now fails (answer_accuracy drops too), q2 now passes (rises back): 1, both listed.
    swapped = {**GOOD, "Who?": ("Jack Ma. [1]", False, "001_x.txt"), "When?": ("In 2017. [1]", False, "001_x.txt")}
    assert run(swapped) == 1
    out = capsys.readouterr().out
    failing, passing = out.split("newly failing")[1].split("newly passing")
    assert "q1: Who?" in failing and "q2" not in failing
    assert "q2: When?" in passing
    assert "regression gate: FAILED" in out
    report = json.loads((baseline.parent / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["gate"]["newly_failing"] == ["q1"] and report["gate"]["newly_passing"] == ["q2"]
    assert report["gate"]["passed"] is False
    assert "Newly failing: q1" in (baseline.parent / "out" / "report.md").read_text(encoding="utf-8")


def test_cli_gate_metric_drop_within_tolerance_passes(gated, capsys):
    run, baseline = gated
    assert run(GOOD, "--update-baseline") == 0
    # The cited source of q1 changes: citation_precision/recall drop by 0.5, no question flips.
    wrong_source = {**GOOD, "Who?": ("Joe Tsai chairs it. [1]", False, "009_other.txt")}
    assert run(wrong_source, "--tolerance", "0.5") == 0
    capsys.readouterr()
    assert run(wrong_source, "--tolerance", "0.2") == 1
    out = capsys.readouterr().out
    assert "metric drop: citation_precision" in out and "newly failing: none" in out


def test_cli_gate_newly_passing_only_passes(gated, capsys):
    run, _ = gated
    assert run(GOOD, "--update-baseline") == 0
    capsys.readouterr()
    better = {**GOOD, "When?": ("In 2017. [1]", False, "001_x.txt")}
    assert run(better) == 0
    out = capsys.readouterr().out
    assert "newly passing (1):" in out and "q2: When?" in out and "newly failing: none" in out


def test_cli_update_baseline_default_path_is_eval_baseline_json(gated, tmp_path, monkeypatch):
    run, _ = gated
    FakePipeline.script = dict(GOOD)
    monkeypatch.chdir(tmp_path)
    gold = tmp_path / "gold.jsonl"
    code = cli.main(["--gold", str(gold), "--index-dir", "idx", "--mode", "extractive", "--out", "o",
                     "--update-baseline"])
    assert code == 0
    assert json.loads(Path("eval/baseline.json").read_text(encoding="utf-8"))["correct"]["q1"] is True
