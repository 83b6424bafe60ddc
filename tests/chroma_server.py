"""A real `chroma run` server on 127.0.0.1 for tests (the benchmark's loopback server helper)."""

from __future__ import annotations

from pathlib import Path

from bench.servers import LoopbackServer, _executable, free_port

__all__ = ["ChromaServer", "free_port"]


class ChromaServer(LoopbackServer):
    """``with ChromaServer(path) as server: server.url``; pass ``port`` to restart on the same one."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        port = port or free_port()
        command = [_executable("chroma"), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
        super().__init__(command, port, "/api/v2/heartbeat")
        self.path = path

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: the server flushes and closes nothing."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
