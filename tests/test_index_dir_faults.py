"""An index dir that is a file, a damaged index, a read-only index: one line each, nothing written
(issue 19: D3, D4). The real `rag` script in subprocesses, on copies of the seeded index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SEEDS, rag_script

RAG = rag_script()
SQLITE = Path("chroma") / "chroma.sqlite3"
ONE_SEED = SEEDS / "002_4568a86cd45dc480.txt"


def run(args: list[str], env: dict[str, str], prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, RAG, *args], env=env, capture_output=True, text=True, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert result.stdout == ""


def fingerprint(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file's size, mtime and bytes."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in cli_env.items() if k != "RAG_HOME"}


@pytest.mark.parametrize("command", [["ingest", str(ONE_SEED)], ["stats"], ["ask", "What was launched?"]])
def test_an_index_dir_that_is_a_file_is_one_line(tmp_path, env, command):
    a_file = tmp_path / "afile.txt"
    a_file.write_text("not a folder\n", encoding="utf-8")
    result = run([*command, "--index-dir", str(a_file)], env)
    assert_one_line_error(result, f"the index dir {a_file} is a file, not a folder")
    assert a_file.read_text(encoding="utf-8") == "not a folder\n"


def test_an_index_dir_below_a_file_is_one_line(tmp_path, env):
    a_file = tmp_path / "afile.txt"
    a_file.write_text("x", encoding="utf-8")
    result = run(["ingest", str(ONE_SEED), "--index-dir", str(a_file / "index")], env)
    assert_one_line_error(result, "cannot be created", "is a file")


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _truncated(path: Path) -> None:
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size // 3)


def _pages_overwritten(path: Path) -> None:
    """A whole header, damaged pages inside: SQLite itself finds it ("malformed") once opened."""
    size = path.stat().st_size
    with open(path, "r+b") as file:
        for page in range(2, size // 4096, 3):
            file.seek(page * 4096)
            file.write(os.urandom(4096))


@pytest.mark.parametrize("damage", [_garbage, _truncated, _pages_overwritten], ids=["garbage", "truncated", "pages"])
def test_a_damaged_index_is_named_with_what_to_do_and_never_written(tmp_path, env, seeded_home, damage):
    index = tmp_path / "index"
    shutil.copytree(seeded_home, index)
    damage(index / SQLITE)
    before = fingerprint(index / "chroma")
    for command in (["ask", "What was launched?"], ["stats"], ["ingest", str(ONE_SEED)]):
        result = run([*command, "--index-dir", str(index)], env)
        assert_one_line_error(result, f"the index at {index} is damaged", "new --index-dir")
        if damage is not _pages_overwritten:  # found before Chroma opens the file
            assert "nothing was written to it" in result.stderr
            assert fingerprint(index / "chroma") == before, command
    assert (index / SQLITE).read_bytes() == before[str(Path("chroma.sqlite3"))][2]


def _unprivileged() -> tuple[str, ...] | None:
    """A command prefix that runs as a user without write permission on root's files: none when the
    tests do not run as root; as root (which ignores file modes), root without the capabilities that
    bypass them (setpriv; the user nobody cannot reach an interpreter under /root). None if neither."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search")
    works = subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0
    return prefix if works else None


def test_a_read_only_index_answers_and_ingest_says_it_cannot_write(tmp_path, env, seeded_home):
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("root without setpriv: no way to run as a user without write permission")
    index = tmp_path / "read-only"
    shutil.copytree(seeded_home, index)
    question = ["ask", "--json", "Which company announced an investment?", "--index-dir", str(index)]
    writable = run(question, env)
    assert writable.returncode == 0 and json.loads(writable.stdout)["citations"], writable.stderr
    for path in sorted(index.rglob("*"), reverse=True) + [index]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        assert subprocess.run([*prefix, "touch", str(index / "probe")], capture_output=True).returncode != 0, \
            "the prefix can still write into a read-only folder"
        before = fingerprint(index)

        stats = run(["stats", "--json", "--index-dir", str(index)], env, prefix)
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["documents"] == 5
        read_only = run(question, env, prefix)
        assert read_only.returncode == 0, read_only.stderr
        same = ("answer", "abstained", "citations")
        assert {k: json.loads(read_only.stdout)[k] for k in same} == {k: json.loads(writable.stdout)[k] for k in same}

        ingest = run(["ingest", str(ONE_SEED), "--index-dir", str(index)], env, prefix)
        assert_one_line_error(ingest, f"cannot write to the index at {index}", "--index-dir")
        assert fingerprint(index) == before
    finally:
        for path in [index, *index.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_reader_of_a_private_copy_follows_later_ingests_and_never_writes_into_the_copy(tmp_path, monkeypatch):
    """What a reader that may not write the index (or whose disk is full) does, in one process: it
    reads a copy, copies again once the index has changed, and refuses to write into a copy."""
    from rag.index import embedded
    from rag.errors import IndexNotWritableError
    from rag.pipeline import Pipeline
    from rag.index.store import Store
    from tests.conftest import make_settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The blue kite hangs above the barn door.\n", encoding="utf-8")
    writer = Pipeline(make_settings(tmp_path / "index"))
    writer.ingest([docs])
    reader = Store(make_settings(tmp_path / "index"), writer.embedder.model_id, create=False)
    reader._open(copy=True)
    assert reader._reads_copy and len(reader.documents()) == 1
    with pytest.raises(IndexNotWritableError, match="private copy"):
        reader.end_writes()

    (docs / "b.txt").write_text("The red canoe rests under the old bridge.\n", encoding="utf-8")
    writer.ingest([docs])
    monkeypatch.setattr(embedded.PrivateCopies, "REFRESH_S", 0.0)
    reader.state()
    assert len(reader.documents()) == 2
    assert not reader._reads_copy  # this process may write the index: it reads it itself again
