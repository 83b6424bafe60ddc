"""`python -m bench --quick` runs end to end and writes a well-formed results.json (and the plot).

About 45 s on a quiet 2-core machine (the seeds are embedded for real once,
the tiny corpus uses cached vectors); much longer when the CPU is shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_benchmark_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
         "--work-dir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=880,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert (tmp_path / "results.png").stat().st_size > 1000

    assert results["meta"]["quick"] is True
    assert set(results["sizes"]) == {"seeds", "tiny"}
    for size in results["sizes"].values():
        assert "error" not in size, size.get("error")
        assert size["chunks"] > 0
        assert size["ingest"]["seconds"]["median"] > 0
        assert set(size["ingest"]["timings_s"]) >= {"embed", "store", "lexical"}
        assert size["reingest"]["runs"][0]["chunks_added"] == 0  # unchanged corpus: nothing re-done
        assert size["add_one_file"]["runs"][0]["chunks_added"] > 0
        assert size["query"]["ask_ms"]["all"]["median"] > 0
        assert size["query"]["retrieve_ms"]["all"]["n"] == size["query"]["questions"]
        assert size["disk"]["total_bytes"] > 0
        assert size["cold_start"]["seconds"]["n"] == 1 and not size["cold_start"]["failures"]
        assert size["peak_rss_mb"] > 50
    seeds = results["sizes"]["seeds"]
    assert seeds["embeddings"] == "real" and seeds["model"]["chunks_and_sentences"]["tokens_per_s"] > 0
    assert seeds["derived"]["ingest_to_model"] > 0
    assert results["sizes"]["tiny"]["embeddings"] == "approx"

    assert "error" not in results["reference"]
    comparison = results["comparison"]
    langs = {row["lang"] for row in comparison["by_lang"]}
    assert "all" in langs and len(langs) >= 2
    for row in comparison["by_lang"]:
        assert 0 <= row["product_hit@5"] <= 1 and 0 <= row["reference_hit@5"] <= 1
    assert "remote" not in results and "server" not in results  # no server parts in --quick

    statuses = {t["status"] for t in results["targets"]}
    assert statuses <= {"met", "not met", "not run", "n/a"}
    assert any(t["target"].startswith("peak RSS") and t["status"] == "not run" for t in results["targets"])
