"""The benchmark's plan for the xquad-dev comparison and the scale-out measure (no benchmark is run here),
and the xquad-dev scoring on real gold items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import build_parser, main, plan
from bench.xquad import document_languages, groups_of, job_xquad, score

ROOT = Path(__file__).resolve().parent.parent
XQUAD = ROOT.parent / "shared" / "data" / "xquad-dev"


def planned(*argv: str) -> dict:
    args = build_parser().parse_args(list(argv))
    args.argv = list(argv)
    return plan(args)


def test_default_run_includes_xquad_and_scale_out() -> None:
    steps = planned()
    assert steps["xquad"] is not None and steps["xquad"]["ingest_repeats"] == 1
    assert [s["size"] for s in steps["sizes"]] == ["seeds", "1k", "10k"]
    assert steps["remote"]["servers"] == [1, 2]


def test_quick_stays_quick() -> None:
    steps = planned("--quick")
    assert steps["xquad"] is None and steps["remote"] is None
    assert [s["size"] for s in steps["sizes"]] == ["seeds", "tiny"]


def test_xquad_alone_and_only_remote() -> None:
    steps = planned("--sizes", "xquad-dev")
    assert steps["xquad"] is not None and not steps["sizes"]
    assert steps["reference"] is None and steps["remote"] is None and steps["server"] is None
    steps = planned("--only", "remote", "--embed-servers", "1,3", "--remote-configs", "128x4,32X1")
    assert steps["remote"]["servers"] == [1, 3] and steps["xquad"] is None and not steps["sizes"]
    assert steps["remote"]["configs"] == [[128, 4], [32, 1]]
    assert steps["reference"] is None and steps["server"] is None
    assert planned("--skip", "xquad")["xquad"] is None


@pytest.mark.parametrize("argv", [["--only", "nothing"], ["--embed-servers", "0"], ["--embed-servers", "a"],
                                  ["--remote-configs", "128"], ["--remote-configs", "0x4"]])
def test_bad_flags_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


def test_missing_corpus_is_skipped_with_a_line(tmp_path: Path) -> None:
    result = job_xquad({"data_dir": str(tmp_path / "absent"), "cache_dir": str(tmp_path / "cache")})
    assert result["skipped"].startswith("xquad-dev skipped:") and str(tmp_path / "absent") in result["skipped"]


@pytest.mark.skipif(not (XQUAD / "gold.jsonl").exists(), reason="../shared/data/xquad-dev is not here")
def test_groups_and_scores_on_the_real_gold() -> None:
    from eval.gold_format import load_gold

    items = load_gold(XQUAD / "gold.jsonl")
    langs = document_languages(XQUAD / "gold.jsonl")
    answerable = [i for i in items if not i.unanswerable]
    groups = [groups_of(i, langs) for i in answerable]
    assert all(g[0] == "all" and len(g) == 3 for g in groups)
    cross = sum("cross" in g for g in groups)
    raw = [json.loads(line) for line in (XQUAD / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    assert cross == sum(1 for o in raw if o.get("doc_lang") and o["doc_lang"] != o["lang"])
    scored = score({"all": [1, 2, None, 6], "cross": [3]})
    assert scored["all"] == {"questions": 4, "hit@1": 0.25, "hit@5": 0.5, "mrr@5": 0.375}
    assert scored["cross"]["mrr@5"] == round(1 / 3, 4)
