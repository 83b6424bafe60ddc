"""The netguard plugin blocks non-loopback connections (without sending anything) and lets loopback through."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import netguard
from tests.netguard import NetworkAccessError, expect_blocked

ROOT = Path(__file__).resolve().parent.parent
BLACKHOLE = ("10.255.255.1", 80)  # non-routable: a real connect would hang, so reaching it would show


def test_plugin_is_active() -> None:
    assert socket.socket.connect is netguard._connect
    assert socket.create_connection is netguard._create_connection


def test_connect_to_private_address_raises() -> None:
    with expect_blocked() as attempts, socket.socket() as s:
        with pytest.raises(NetworkAccessError, match=r"test tried to reach the network: 10\.255\.255\.1:80"):
            s.connect(BLACKHOLE)
        with pytest.raises(NetworkAccessError):
            s.connect_ex(BLACKHOLE)
    assert attempts == ["10.255.255.1:80", "10.255.255.1:80"]


def test_create_connection_and_dns_are_blocked() -> None:
    with expect_blocked() as attempts:
        with pytest.raises(NetworkAccessError):
            socket.create_connection(BLACKHOLE, timeout=0.1)
        with pytest.raises(NetworkAccessError):
            socket.create_connection(("example.com", 443), timeout=0.1)
        with pytest.raises(NetworkAccessError, match="DNS lookup"):
            socket.getaddrinfo("example.com", 443)
        with socket.socket(socket.AF_INET6) as s6, pytest.raises(NetworkAccessError):
            s6.connect(("2001:db8::1", 80, 0, 0))
    assert attempts[0] == "10.255.255.1:80" and len(attempts) == 4


def test_loopback_works() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, port), timeout=2) as c:
                conn, _ = server.accept()
                with conn:
                    c.sendall(b"ping")
                    assert conn.recv(4) == b"ping"
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) == 0
            server.accept()[0].close()
    assert socket.getaddrinfo("localhost", 80)


def test_unix_sockets_allowed() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        a.sendall(b"x")
        assert b.recv(1) == b"x"


def test_is_loopback() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1", "localhost", "LOCALHOST",
                 "app.localhost", "0.0.0.0", "", None):
        assert netguard.is_loopback(host), host
    for host in ("10.255.255.1", "8.8.8.8", "2001:db8::1", "example.com", "localhost.example.com"):
        assert not netguard.is_loopback(host), host


def test_swallowed_attempt_is_still_charged_to_the_test(tmp_path: Path) -> None:
    """An attempt caught by the code under test (or made in a thread) still fails that test.
    Runs a separate pytest process so the inner run can't disturb this session's guard."""
    (tmp_path / "test_inner.py").write_text(textwrap.dedent("""
        import socket, threading

        def test_swallowed():
            try:
                socket.create_connection(("10.255.255.1", 80), timeout=0.1)
            except Exception:
                pass

        def test_in_thread():
            t = threading.Thread(target=lambda: socket.socket().connect_ex(("192.0.2.1", 443)))
            t.start(); t.join()

        def test_raised():
            socket.socket().connect(("10.255.255.1", 80))

        def test_ok():
            pass
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.netguard", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "3 failed, 1 passed" in out, out
    assert "test_swallowed - test tried to reach the network: 10.255.255.1:80" in out or \
        "[netguard] test tried to reach the network: 10.255.255.1:80" in out, out
    assert "test tried to reach the network: 192.0.2.1:443" in out, out
    assert "netguard: network access attempts" in out, out
