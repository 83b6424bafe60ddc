"""One writer per index: an exclusive, non-blocking file lock held during ingest."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from rag.errors import IndexBusyError
from rag.index.indexdir import make_index_dir, os_error


class IngestLock:
    """``with IngestLock(home):`` - refuses at once if another ingest holds the index.

    An OS lock (flock) is released by the kernel when its holder dies, so a
    killed ingest never leaves the index locked.
    """

    def __init__(self, home: Path) -> None:
        self._path = home / "ingest.lock"
        self._fd: int | None = None

    def __enter__(self) -> "IngestLock":
        make_index_dir(self._path.parent)
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only index dir or file system, a full disk
            raise os_error(self._path.parent, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise IndexBusyError(
                f"another `rag ingest` is writing to {self._path.parent}; wait for it to finish and run again"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError as exc:
            os.close(fd)
            raise os_error(self._path.parent, exc) from None
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
