"""The index folder on disk: is it a folder, may we write there, how much space is left.

Every OS failure met while creating or writing the index folder (outside Chroma) becomes one
:class:`RagError` line here, so the lock, the pipeline and the store say the same thing.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from rag.errors import DiskFullError, IndexNotWritableError, InputError, RagError


def check_is_folder(home: Path) -> None:
    """Refuse an index dir that exists and is not a folder (a file given as --index-dir)."""
    if home.exists() and not home.is_dir():
        raise InputError(f"the index dir {home} is a file, not a folder: pass --index-dir a folder "
                         "(it is created if missing)")


def make_index_dir(home: Path) -> None:
    """Create the index folder (and its parents) for a writer."""
    check_is_folder(home)
    try:
        home.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        # A parent is a file ("a.txt/index"), or home became one meanwhile.
        raise InputError(f"the index dir {home} cannot be created: a part of its path is a file, "
                         "not a folder") from None
    except OSError as exc:
        raise os_error(home, exc) from None


def writable(path: Path) -> bool:
    """May this process write the file ``path``, or create and change files in the folder ``path``?"""
    mode = os.W_OK | os.X_OK if path.is_dir() else os.W_OK
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def free_mb(path: Path) -> float:
    """Free space, in MB, on the file system holding ``path`` (or its nearest existing parent)."""
    probe = Path(os.path.abspath(path))
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free / 2**20
    except OSError:
        return 0.0


def no_space(home: Path, needed_mb: float | None = None) -> DiskFullError:
    need = f"; the next write needs about {needed_mb:.1f} MB" if needed_mb is not None else ""
    return DiskFullError(
        f"no space left on {home} ({free_mb(home):.1f} MB free{need}): free some space and run `rag ingest` "
        "again (what was committed before is kept, and still answers)"
    )


def not_writable(home: Path, reason: str) -> IndexNotWritableError:
    return IndexNotWritableError(
        f"cannot write to the index at {home} ({reason}): `rag ask` and `rag stats` still read it; "
        "to ingest, use an index dir you can write to (--index-dir) or get write access"
    )


def os_error(home: Path, exc: OSError) -> RagError:
    """One line for an OS error met while writing in the index folder."""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return no_space(home)
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return not_writable(home, "read-only file system" if exc.errno == errno.EROFS else "permission denied")
    return IndexNotWritableError(f"cannot write to the index at {home}: {exc.strerror or exc}")
