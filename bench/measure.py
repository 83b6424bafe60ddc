"""Measuring: timers, summary statistics, peak RSS, disk usage, child processes.

Every size (and every side measure) runs in its own ``python -m bench --child``
process, so its peak RSS (``ru_maxrss``) is its own and one run's caches
cannot warm the next. A child writes its result as JSON to a file the parent
names; the parent adds the child's wall time and exit status.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from eval.scoring import percentile


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used so far, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    """``with timer() as t: ...`` then ``t["s"]`` holds the wall seconds, ``t["cpu_s"]`` the CPU seconds."""
    box = {"s": 0.0, "cpu_s": 0.0}
    started, cpu = time.perf_counter(), cpu_seconds()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - started
        box["cpu_s"] = cpu_seconds() - cpu


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def summary(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Median, p95, min, max and count of some samples (None everywhere for no samples)."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return {"median": None, "p95": None, "min": None, "max": None, "n": 0}

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, digits)

    return {
        "median": r(percentile(values, 50)),
        "p95": r(percentile(values, 95)),
        "min": r(min(values)),
        "max": r(max(values)),
        "n": len(values),
    }


def median(values: Sequence[float]) -> float | None:
    return summary(values)["median"]


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def dir_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (allocated size is not used: sparse files would mislead)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                pass
    return total


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for benchmark children: none of the user's RAG_*/OPENAI_* settings leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env["RAG_PROGRESS"] = "0"
    env.update(extra or {})
    return env


def run_child(job: str, config: dict[str, Any], echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run ``python -m bench --child JOB`` and return its JSON result (with wall_s added).

    The child's stderr (its progress lines) is passed to ``echo`` as it comes.
    A child that fails returns ``{"error": ...}`` with the tail of its stderr,
    so one broken part does not lose the rest of the run.
    """
    with tempfile.TemporaryDirectory(prefix="rag-bench-child-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "bench", "--child", job, "--child-config", json.dumps(config),
               "--child-out", str(out)]
        started = time.perf_counter()
        tail: deque[str] = deque(maxlen=20)
        with subprocess.Popen(cmd, env=child_env(config.get("env")), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, errors="replace") as proc:
            assert proc.stderr is not None
            for line in proc.stderr:
                tail.append(line.rstrip())
                if echo:
                    echo(line.rstrip())
            rc = proc.wait()
        wall = time.perf_counter() - started
        if rc == 0 and out.exists():
            result = json.loads(out.read_text(encoding="utf-8"))
        else:
            result = {"error": f"child {job!r} failed (exit {rc}): " + " | ".join(list(tail)[-6:])}
    result["wall_s"] = round(wall, 2)
    return result
