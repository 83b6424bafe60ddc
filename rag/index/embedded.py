"""The embedded Chroma folder (``<index>/chroma``): opening it safely, and what its failures mean.

``rag.index.store`` opens the index through :func:`open_client` and passes every failure of an embedded
Chroma call through :func:`failure`, so a damaged, read-only or full index is one line, wherever
it shows (opening, the first query, a write):

* **damaged** (``chroma.sqlite3`` is not a SQLite file, or shorter than its own header says): found
  by reading 100 bytes before Chroma opens the file, because opening it writes (Chroma inserts a
  row into its ``acquire_write`` table on every open); nothing is written into a damaged index.
* **read-only** (this user may not write the folder or the file): Chroma cannot open a database it
  cannot write (that same insert), so a reader opens a private copy in the temp folder
  (:func:`snapshot`): ``rag ask``/``rag stats`` work on an index they may only read.
* **full** (no space left): SQLite's "disk is full", or Chroma's "Failed to apply logs" while
  the file system is nearly full. Writers check the space before each batch (``rag.index.store``), so an
  ingest stops before Chroma is left with logs it cannot apply; if another program filled the disk
  anyway, a reader reads a private copy, where Chroma has room to apply them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from rag.offline import apply_offline_env
from rag.errors import DiskFullError, IndexDamagedError, IndexNotWritableError, RagError
from rag.index.indexdir import free_mb, no_space, not_writable, writable

SQLITE_NAME = "chroma.sqlite3"
_SQLITE_MAGIC = b"SQLite format 3\x00"

# Substrings of Chroma / SQLite error messages (chromadb 1.5: "error returned from database: (code: N) ...").
_DAMAGED = ("file is not a database", "database disk image is malformed", "(code: 26)", "(code: 11)",
            "error loading hnsw index")
_FULL = ("database or disk is full", "no space left on device", "os error 28", "(code: 13)")
_READ_ONLY = ("attempt to write a readonly database", "(code: 8)", "read-only file system", "os error 30",
              "permission denied", "os error 13")
# Chroma applies its log to the segments at every write and before every read; on a full disk this
# fails without naming the cause ("Error in compaction: Failed to apply logs to the metadata segment").
_APPLY = ("failed to apply logs", "error in compaction", "backfill")
# Below this much free space a failure to apply the logs is taken for a full disk: one batch of an
# ingest needs about 2 MB (rag.index.store), the rest of what Chroma writes at once far less.
LOW_SPACE_MB = 64.0


def check_sqlite_file(home: Path) -> None:
    """Refuse an index whose SQLite file is not one, or is cut short, without opening it."""
    path = home / "chroma" / SQLITE_NAME
    try:
        size = path.stat().st_size
        with open(path, "rb") as file:
            header = file.read(100)
    except OSError:
        return  # missing (a new index) or unreadable: opening it says which
    if size == 0:
        return  # SQLite's empty database
    if not header.startswith(_SQLITE_MAGIC):
        raise damaged(home, f"chroma/{SQLITE_NAME} is not a SQLite database")
    if len(header) < 100:
        raise damaged(home, f"chroma/{SQLITE_NAME} is truncated ({size} bytes)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_size_valid = header[92:96] == header[24:28]  # SQLite's rule for trusting the page count
    # A crashed writer's journal may still hold the pages that SQLite will put back on the next open.
    journal = any(path.with_name(path.name + suffix).exists() for suffix in ("-journal", "-wal"))
    if header_size_valid and not journal and size < pages * page_size:
        raise damaged(home, f"chroma/{SQLITE_NAME} is truncated ({size} of {pages * page_size} bytes)")


def damaged(home: Path, detail: str, opened: bool = False) -> IndexDamagedError:
    """``opened``: found by Chroma after it opened the file (else before: nothing was written to it)."""
    untouched = "" if opened else "; nothing was written to it"
    return IndexDamagedError(
        f"the index at {home} is damaged ({detail}){untouched}: ingest your files again into a new "
        "--index-dir (and delete the damaged one once the new one answers)"
    )


def failure(home: Path, exc: BaseException) -> RagError | None:
    """The one-line error an embedded Chroma failure means, or None if it is none of these."""
    message = str(exc).lower()
    if any(marker in message for marker in _DAMAGED):
        return damaged(home, " ".join(str(exc).split())[:160], opened=True)
    if any(marker in message for marker in _FULL):
        return no_space(home)
    if any(marker in message for marker in _APPLY) and free_mb(home) < LOW_SPACE_MB:
        return no_space(home)
    if any(marker in message for marker in _READ_ONLY):
        return not_writable(home, "permission denied")
    return None


def may_write(home: Path) -> bool:
    """Can this process open the index's Chroma folder as Chroma does (read and write)?"""
    chroma = home / "chroma"
    if not chroma.exists():  # a new index: Chroma creates the folders
        existing = chroma
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        return writable(existing)
    sqlite_file = chroma / SQLITE_NAME
    return writable(chroma) and (not sqlite_file.exists() or writable(sqlite_file))


def persistent_client(path: Path) -> Any:
    apply_offline_env()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    try:
        return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    except Exception:
        _forget_system(path)
        raise


def _forget_system(path: Path) -> None:
    """chromadb keeps one system per path, cached before it starts: one that failed to start would
    fail every later open of that path in this process (the UI, a retry)."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_system.pop(str(path), None)
    except Exception:  # noqa: BLE001 - a chromadb without this cache: nothing to forget
        pass


class PrivateCopies:
    """The private copies one reader made of an index (:func:`snapshot`). A long-lived reader (the
    UI) copies again when the index has changed, at most every ``REFRESH_S``; the last two copies
    are kept (a question may still be reading the previous one), older ones deleted, all at exit."""

    KEEP = 2
    REFRESH_S = 5.0

    def __init__(self, home: Path) -> None:
        self.home = home
        self._folders: list[Path] = []
        self._stamp = (0, 0)
        self._made_at = 0.0

    def make(self) -> Path:
        stamp = source_stamp(self.home)  # taken first: a change during the copy is seen next time
        folder = snapshot(self.home)
        self._folders.append(folder)
        self._stamp, self._made_at = stamp, time.monotonic()
        while len(self._folders) > self.KEEP:
            old = self._folders.pop(0)
            _forget_system(old)
            shutil.rmtree(old.parent, ignore_errors=True)
        return folder

    def stale(self) -> bool:
        return time.monotonic() - self._made_at >= self.REFRESH_S and source_stamp(self.home) != self._stamp


def source_stamp(home: Path) -> tuple[int, int]:
    """What changes when the index's SQLite file is written (a private copy is then out of date)."""
    try:
        stat = (home / "chroma" / SQLITE_NAME).stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


def snapshot(home: Path) -> Path:
    """A private copy of the index's Chroma folder, in the temp folder, removed at exit: the SQLite
    file through SQLite's backup (a consistent copy even if a writer is active), the vector files as
    they are. It costs a copy of the index per process; only an index this process cannot write
    to, or whose disk is full, is read this way."""
    source = home / "chroma"
    target = Path(tempfile.mkdtemp(prefix="rag-readonly-")) / "chroma"
    atexit.register(shutil.rmtree, target.parent, True)
    try:
        _copy_files(source, target, skip=SQLITE_NAME)
        reader = sqlite3.connect((source / SQLITE_NAME).resolve().as_uri() + "?mode=ro", uri=True)
        try:
            with sqlite3.connect(target / SQLITE_NAME) as copy:
                reader.backup(copy)
        finally:
            reader.close()
    except sqlite3.DatabaseError as exc:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise _unreadable(home, exc) from None
    except OSError as exc:
        shutil.rmtree(target.parent, ignore_errors=True)
        if exc.errno == 28:
            raise DiskFullError(f"cannot read the index at {home}: it must be copied to the temp folder first "
                                f"(it cannot be written, or its disk is full), and {target.parent.parent} has "
                                f"no space left ({free_mb(target.parent.parent):.1f} MB free); set TMPDIR "
                                "to a folder with space") from None
        raise _unreadable(home, exc) from None
    return target


def _copy_files(source: Path, target: Path, skip: str) -> None:
    """Copy a folder's files, not their modes: the copy of a read-only index must be writable."""
    for root, _, files in os.walk(source):
        folder = target / Path(root).relative_to(source)
        folder.mkdir(parents=True, exist_ok=True)
        for name in files:
            if not name.startswith(skip):
                shutil.copyfile(Path(root) / name, folder / name)


def _unreadable(home: Path, exc: BaseException) -> RagError:
    detail = " ".join(str(getattr(exc, "strerror", None) or exc).split())[:160]
    if "malformed" in detail or "not a database" in detail:
        return damaged(home, detail, opened=True)
    return IndexNotWritableError(f"cannot read the index at {home} read-only ({detail}): run the command as a "
                                 "user who may write it, or copy the index to a folder you can write to")
