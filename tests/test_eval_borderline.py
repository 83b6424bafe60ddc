"""eval.borderline and the gate's borderline step: a flip that a nudged query undoes is listed and
gated on the baseline's side; a flip no nudge undoes still fails. The nudges themselves: seeded,
antithetic, small, and the same on every run."""

import json

import numpy as np

from eval.borderline import NOISE, PAIRS, NudgedQueries, nudges
from eval.gate import Baseline, gate_rows
from eval.scoring import aggregate, score_row
from tests.test_eval_gate import GOOD, FakePipeline, gated  # noqa: F401  (the fixture)


def _row(qid: str, reply: str, abstained: bool, unanswerable: bool = False):
    return score_row(id=qid, lang="en", question=qid, answers=[] if unanswerable else ["Joe Tsai"], match="any",
                     sources=[] if unanswerable else ["001"], unanswerable=unanswerable, reply=reply,
                     abstained=abstained, cited=[] if abstained else [("001_x.txt", "c1")], ranking=[],
                     latency_ms=1.0, first_passage=reply)


def test_nudges_are_seeded_antithetic_and_small():
    first, again = nudges(384), nudges(384)
    assert len(first) == 2 * PAIRS and all(np.array_equal(a, b) for a, b in zip(first, again))
    assert all(np.allclose(first[i], -first[i + 1]) for i in range(0, len(first), 2))
    assert all(abs(float(np.linalg.norm(n)) - NOISE) < 1e-9 for n in first)


def test_a_nudged_query_keeps_its_length_and_moves_cosines_by_about_noise_over_sqrt_dim():
    rng = np.random.default_rng(0)
    query = rng.standard_normal(384).astype(np.float32)
    query /= np.linalg.norm(query)
    passages = rng.standard_normal((2000, 384))
    passages /= np.linalg.norm(passages, axis=1, keepdims=True)

    class Inner:
        dim, model_id = 384, "inner"

        def embed_query(self, text):
            return query

    moved = NudgedQueries(Inner(), nudges(384)[0])
    vector = moved.embed_query("q")
    assert moved.model_id == "inner" and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    shifts = passages @ vector - passages @ query
    assert 0.2 * NOISE / np.sqrt(384) < float(np.std(shifts)) < 2 * NOISE / np.sqrt(384)


def test_a_flip_a_nudge_undoes_is_borderline_and_gated_on_the_baselines_side():
    rows = [_row("q1", "Joe Tsai. [1]", False), _row("u1", "Jack Ma. [1]", False, unanswerable=True)]
    baseline = Baseline(aggregate([rows[0], _row("u1", "", True, unanswerable=True)]), {"q1": True, "u1": True})
    asked = []

    def reask(qid, nudge):  # the second nudge restores the baseline's abstention
        asked.append((qid, nudge))
        return _row("u1", "", True, unanswerable=True) if nudge == 1 else rows[1]

    plain = gate_rows(baseline, rows)
    assert plain.newly_failing == ["u1"] and "abstention_accuracy" in plain.metric_drops and not plain.passed
    settled = gate_rows(baseline, rows, reask=reask)
    assert settled.passed and settled.borderline == ["u1"] and settled.newly_failing == []
    assert settled.metric_drops == [] and asked == [("u1", 0), ("u1", 1)]


def test_a_flip_no_nudge_undoes_still_fails():
    rows = [_row("q1", "Jack Ma. [1]", False)]
    baseline = Baseline(aggregate([_row("q1", "Joe Tsai. [1]", False)]), {"q1": True})
    result = gate_rows(baseline, rows, reask=lambda qid, nudge: rows[0])
    assert result.newly_failing == ["q1"] and result.borderline == [] and not result.passed


class EdgePipeline(FakePipeline):
    """The fake, with an embedder that has a size: "Who?" answers right only with a nudged query
    (a question at the edge of a threshold); the others as scripted."""

    def __init__(self, settings):
        super().__init__(settings)
        self.embedder = type("E", (), {"model_id": "fake-embedder", "dim": 8,
                                        "embed_query": lambda self, text: np.ones(8, dtype=np.float32)})()

    def ask(self, question, k=None, **kwargs):
        if question == "Who?" and isinstance(self.embedder, NudgedQueries):
            return FakePipeline.ask(self, question, k, **kwargs)
        if question == "Who?":
            saved = dict(self.script)
            self.script["Who?"] = ("Jack Ma. [1]", False, "001_x.txt")
            try:
                return FakePipeline.ask(self, question, k, **kwargs)
            finally:
                self.script.clear()
                self.script.update(saved)
        return FakePipeline.ask(self, question, k, **kwargs)


def test_cli_lists_a_borderline_question_and_passes(gated, capsys, monkeypatch):  # noqa: F811
    run, baseline = gated
    assert run(GOOD, "--update-baseline") == 0  # the plain fake: "Who?" right
    capsys.readouterr()
    monkeypatch.setattr("rag.pipeline.Pipeline", EdgePipeline)
    assert run(GOOD) == 0
    out = capsys.readouterr().out
    assert "newly failing: none" in out and "q1: Who?" in out.split("borderline (")[1]
    report = json.loads((baseline.parent / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["gate"]["borderline"] == ["q1"] and report["gate"]["passed"] is True
    assert "Borderline" in (baseline.parent / "out" / "report.md").read_text(encoding="utf-8")


def test_the_census_names_the_questions_a_nudge_moves(tmp_path):
    from eval.borderline import census
    from eval.gold_format import load_gold
    from tests.test_eval_gate import GOLD

    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(g) for g in GOLD) + "\n", encoding="utf-8")
    EdgePipeline.script = dict(GOOD)
    assert census(EdgePipeline(None), load_gold(gold), 5) == ["q1"]
    FakePipeline.script = dict(GOOD)
    assert census(FakePipeline(None), load_gold(gold), 5) == []  # no embedder size: nothing to nudge
