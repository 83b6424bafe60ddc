"""Uploads: what the UI accepts, where it puts it, and how it undoes a failed one.

Files a browser sends are copied into ``<index dir>/uploads/`` under a cleaned
name (basename only, no leading dots, a short allow-list of extensions, a size
limit), then handed to ``Pipeline.ingest`` like any other path. A file the
library skips (broken PDF, empty text...) is taken out again and an earlier
file of the same name is put back, so a bad upload never loses a good one.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from rag.errors import InputError
from rag.ingest.loading import SUPPORTED_SUFFIXES
from rag.pipeline import UPLOADS_DIR

# The library's own list of readable types: one source of truth.
ALLOWED_SUFFIXES = tuple(sorted(SUPPORTED_SUFFIXES))
MAX_NAME_CHARS = 120

_UNSAFE = re.compile(r"[^\w.\- ()\[\]+,@&=]+", re.UNICODE)


def uploads_dir(home: Path) -> Path:
    return Path(home) / UPLOADS_DIR


def sanitize_name(name: str) -> str:
    """A safe file name from whatever the browser sent: basename only, no leading dots, allowed suffix.

    Raises :class:`InputError` (a message for the user) when nothing usable is left or the type is refused.
    """
    raw = unicodedata.normalize("NFC", str(name or ""))
    base = re.split(r"[\\/]", raw)[-1]  # a Windows or POSIX path: keep the last part only
    base = "".join(ch for ch in base if ch.isprintable())
    base = _UNSAFE.sub("_", base).strip(" .")
    base = base.lstrip(".-_ ")  # no hidden files, nothing that looks like an option
    suffix = Path(base).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        shown = Path(raw.replace("\\", "/")).suffix or "(none)"
        raise InputError(f"unsupported file type {shown}: upload {', '.join(ALLOWED_SUFFIXES)}")
    stem = base[: -len(suffix)].strip(" .") if suffix else base
    if not stem:
        raise InputError("the file name is empty once cleaned: rename the file")
    stem = stem[: MAX_NAME_CHARS - len(suffix)]
    return stem + suffix


def check_size(path: Path, max_mb: int) -> int:
    size = path.stat().st_size
    if size > max_mb * 1024 * 1024:
        raise InputError(f"the file is {size / 1048576:.1f} MB; the limit is {max_mb} MB (RAG_UI_MAX_UPLOAD_MB)")
    return size


@dataclass
class Staged:
    """One upload copied into the uploads folder (and what it replaced there, to undo)."""

    name: str
    path: Path
    backup: Path | None = None


@dataclass
class Refused:
    name: str
    reason: str


@dataclass
class StageResult:
    staged: list[Staged] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def stage_uploads(files: Iterable[str | Path], home: Path, max_mb: int) -> StageResult:
    """Copy accepted uploads into ``<home>/uploads/``; refuse the others with a reason."""
    target_dir = uploads_dir(home)
    result = StageResult()
    seen: set[str] = set()
    for item in files:
        source = Path(item)
        shown = source.name or str(item)
        try:
            name = sanitize_name(source.name)
            if not source.is_file():
                raise InputError("the upload did not arrive: try again")
            check_size(source, max_mb)
            if name.lower() in seen:
                raise InputError(f"another file in this upload is also called {name}")
        except InputError as exc:
            result.refused.append(Refused(shown, str(exc)))
            continue
        seen.add(name.lower())
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / name
        # Belt and braces: the cleaned name cannot leave the folder.
        if target.resolve().parent != target_dir.resolve():
            result.refused.append(Refused(shown, "unsafe file name"))
            continue
        backup = None
        if target.exists():
            backup = target_dir / f".{name}.previous"
            shutil.copy2(target, backup)
        tmp = target_dir / f".{name}.partial"
        shutil.copyfile(source, tmp)
        tmp.replace(target)
        result.staged.append(Staged(name, target, backup))
    return result


def settle(staged: Staged, kept: bool) -> None:
    """After ingest: drop the backup of a kept upload, or undo an upload the library skipped."""
    if kept:
        if staged.backup is not None:
            staged.backup.unlink(missing_ok=True)
        return
    if staged.backup is not None:
        staged.backup.replace(staged.path)
    else:
        staged.path.unlink(missing_ok=True)
