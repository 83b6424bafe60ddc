"""A disk that fills up during an ingest (issue 19: D6): one line naming the folder and the space
left, what was committed keeps answering, and the ingest finishes once space is back. A real
tmpfs of a few MB (mounting needs root; skipped otherwise)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rag.pipeline import Pipeline
from tests.conftest import make_settings, rag_script

RAG = rag_script()
pytestmark = pytest.mark.slow

WORDS = ("amber basalt cobalt dune ember fjord garnet heron iris juniper kelp lichen marble nectar onyx "
         "pebble quartz reed sable tundra umber willow yarrow zinnia").split()


def _note(topic: str, seed: int, sentences: int) -> str:
    """Neutral synthetic text: one fact about ``topic`` first, then filler sentences."""
    lines = [f"The {topic} archive is kept in drawer number {seed * 7 + 3}."]
    for i in range(sentences):
        words = [WORDS[(seed * 31 + i * 7 + j * 3) % len(WORDS)] for j in range(9 + i % 5)]
        lines.append(" ".join(words).capitalize() + f" {seed}{i}.")
    return " ".join(lines) + "\n"


def _write_notes(folder: Path, topics: list[str], sentences: int) -> Path:
    folder.mkdir(parents=True)
    for n, topic in enumerate(topics):
        (folder / f"{topic}.txt").write_text(_note(topic, n + len(topic), sentences), encoding="utf-8")
    return folder


@pytest.fixture
def small_disk(tmp_path: Path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or mounted.returncode}): needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def _fill(disk: Path, leave_bytes: int) -> Path:
    filler = disk / "filler.bin"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as file:
        file.write(b"\0" * max(0, free - leave_bytes))
    return filler


def _ask(index: Path, question: str, env: dict[str, str]) -> dict:
    result = subprocess.run([RAG, "ask", "--json", question, "--index-dir", str(index)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def test_an_ingest_that_does_not_fit_says_so_in_one_line_and_keeps_what_was_committed(
        tmp_path, small_disk, cli_env):
    index = small_disk / "index"
    first = _write_notes(tmp_path / "first", ["lantern", "compass"], sentences=4)
    later = _write_notes(tmp_path / "later", ["harbor", "orchard", "glacier"], sentences=30)
    env = dict(cli_env, RAG_INGEST_BATCH_TEXTS="1")  # a commit per document
    ok = subprocess.run([RAG, "ingest", str(first), "--index-dir", str(index)], env=env, capture_output=True,
                        text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    filler = _fill(small_disk, leave_bytes=300_000)

    full = subprocess.run([RAG, "ingest", str(later), "--index-dir", str(index)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr
    assert full.stderr.strip().splitlines() == [full.stderr.strip()]
    assert f"no space left on {index} (0." in full.stderr and "MB free" in full.stderr

    answer = _ask(index, "Which drawer holds the lantern archive?", env)  # the disk is still full
    assert not answer["abstained"] and answer["citations"][0]["source"] == "lantern.txt"

    filler.unlink()
    again = subprocess.run([RAG, "ingest", str(first), str(later), "--index-dir", str(index)], env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    stats = json.loads(subprocess.run([RAG, "stats", "--json", "--index-dir", str(index)], env=env,
                                      capture_output=True, text=True, timeout=300).stdout)
    assert stats["sources"] == sorted(p.name for p in [*first.iterdir(), *later.iterdir()])
    assert _ask(index, "Which drawer holds the glacier archive?", env)["citations"][0]["source"] == "glacier.txt"


def test_a_disk_filled_under_chroma_mid_write_is_one_error_and_readers_still_answer(
        tmp_path, small_disk, cli_env, monkeypatch):
    """The space check before each batch switched off: Chroma itself runs out of space half-way
    through a write ("Error in compaction: Failed to apply logs ...") and leaves logs that every
    reader must apply first."""
    import rag.index.store
    from rag.errors import DiskFullError

    index = small_disk / "index"
    first = _write_notes(tmp_path / "first", ["lantern"], sentences=4)
    later = _write_notes(tmp_path / "later", ["harbor", "orchard", "glacier"], sentences=40)
    Pipeline(make_settings(index)).ingest([first])
    filler = _fill(small_disk, leave_bytes=200_000)
    for name in ("DISK_BYTES_PER_PAYLOAD_BYTE", "DISK_BYTES_PER_NEW_COLLECTION", "DISK_MARGIN_BYTES"):
        monkeypatch.setattr(rag.index.store, name, 0)
    with pytest.raises(DiskFullError, match=f"no space left on {index}"):
        Pipeline(make_settings(index)).ingest([later])

    answer = _ask(index, "Which drawer holds the lantern archive?", cli_env)  # a new process, disk still full
    assert not answer["abstained"] and answer["citations"][0]["source"] == "lantern.txt"

    filler.unlink()
    again = subprocess.run([RAG, "ingest", str(later), "--index-dir", str(index)], env=cli_env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert _ask(index, "Which drawer holds the orchard archive?", cli_env)["citations"][0]["source"] == "orchard.txt"
