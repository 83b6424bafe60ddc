"""What a run needs to be reproduced: product version, git commit, settings, digests.

The corpus digest is sha256 over the sorted relative paths and the bytes of every file under the
corpus (path, NUL, bytes, NUL per file), so a renamed, edited, added or removed file changes it and
nothing else does (not mtimes, not the folder's location). The gold digest is sha256 of the gold
file's bytes. Secrets (fields that Settings keeps out of its repr) are never recorded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from pathlib import Path
from typing import Any

_READ_BLOCK = 1 << 20


def _hash_file(digest: Any, path: Path) -> None:
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_READ_BLOCK), b""):
            digest.update(block)


def corpus_digest(corpus: str | Path) -> str:
    """sha256 over sorted relative paths + bytes (a single file: its name + bytes)."""
    root = Path(corpus)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        relative = path.name if path == root else path.relative_to(root).as_posix()
        digest.update(relative.encode("utf-8") + b"\0")
        _hash_file(digest, path)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def gold_digest(gold: str | Path) -> str:
    digest = hashlib.sha256()
    _hash_file(digest, Path(gold))
    return "sha256:" + digest.hexdigest()


def git_commit(where: Path | None = None) -> str | None:
    """HEAD of the checkout holding the code (None when not a git checkout or no git)."""
    where = where or Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def git_dirty(where: Path | None = None) -> bool | None:
    """Whether tracked files differ from HEAD (None when unknown): a commit alone does not reproduce it."""
    where = where or Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                              capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(done.stdout.strip()) if done.returncode == 0 else None


def product_version() -> str:
    import rag

    return str(getattr(rag, "__version__", "unknown"))


def settings_snapshot(settings: Any) -> dict[str, Any]:
    """The Settings fields as JSON values, without the secret ones (repr=False) and without home
    (a temporary folder for --corpus runs)."""
    snapshot: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        if not f.repr or f.name == "home":
            continue
        value = getattr(settings, f.name)
        snapshot[f.name] = list(value) if isinstance(value, tuple) else value if isinstance(
            value, (int, float, str, bool)) or value is None else str(value)
    return snapshot


def reproducibility(settings: Any, gold: str | Path, corpus: str | None, model_id: str) -> dict[str, Any]:
    commit = git_commit()
    return {
        "version": product_version(),
        "git_commit": commit,
        "git_dirty": git_dirty() if commit else None,
        "embedding_model": model_id,
        "settings": settings_snapshot(settings),
        "corpus_digest": corpus_digest(corpus) if corpus else None,
        "gold_digest": gold_digest(gold),
    }
