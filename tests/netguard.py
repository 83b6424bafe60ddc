"""pytest plugin: tests may talk to loopback only.

Load with ``-p tests.netguard`` (pyproject's addopts does) or ``pytest_plugins = ["tests.netguard"]``.

While pytest runs, ``socket.socket.connect``/``connect_ex``, ``socket.create_connection`` and
``socket.getaddrinfo`` refuse any destination other than loopback (127.0.0.0/8, ::1, ::ffff:127.x,
``localhost``/``*.localhost``), the unspecified address (0.0.0.0 / ::, which Linux routes to the
local host) and non-IP families (AF_UNIX, ...). A refused attempt raises :class:`NetworkAccessError`
("test tried to reach the network: host:port") *before* any packet leaves, and is recorded:

* the test during which it happened fails with that message even if the code under test swallowed
  the exception (e.g. an HTTP client wrapping it in its own connection error and retrying);
* attempts outside any test (collection, background threads after a test) fail the session.

Tests that deliberately provoke an attempt wrap it in ``with expect_blocked() as attempts:``.
"""
from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["NetworkAccessError", "expect_blocked", "is_loopback", "violations", "install", "uninstall"]

_ORIG = {"connect": socket.socket.connect, "connect_ex": socket.socket.connect_ex,
         "create_connection": socket.create_connection, "getaddrinfo": socket.getaddrinfo}
_lock = threading.Lock()
_violations: list[tuple[str | None, str]] = []  # (test nodeid or None, "host:port")
_reported = 0  # how many of _violations have been charged to a test report
_current_test: str | None = None
_expected: list[list[str]] = []  # open expect_blocked() blocks: attempts raise but are not charged
_installed = False


class NetworkAccessError(RuntimeError):
    """Raised instead of connecting to (or resolving) a non-loopback destination."""


def is_loopback(host: Any) -> bool:
    """True for hosts that stay on this machine (never resolves names through DNS)."""
    if host is None or host == "":
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").split("%", 1)[0].lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a DNS name: resolving it is already network traffic
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _refuse(target: str) -> NetworkAccessError:
    with _lock:
        if _expected:
            _expected[-1].append(target)
        else:
            _violations.append((_current_test, target))
    return NetworkAccessError(f"test tried to reach the network: {target}")


def _check_address(family: int, address: Any) -> None:
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address:
        if not is_loopback(address[0]):
            port = address[1] if len(address) > 1 else "?"
            raise _refuse(f"{address[0]}:{port}")


def _connect(self: socket.socket, address: Any) -> None:
    _check_address(self.family, address)
    return _ORIG["connect"](self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self.family, address)
    return _ORIG["connect_ex"](self, address)


def _create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
    if not is_loopback(address[0]):
        raise _refuse(f"{address[0]}:{address[1]}")
    return _ORIG["create_connection"](address, *args, **kwargs)


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if not is_loopback(host) and host != socket.gethostname():  # own hostname: /etc/hosts, not DNS
        raise _refuse(f"{host}:{port} (DNS lookup)")
    return _ORIG["getaddrinfo"](host, port, *args, **kwargs)


def install() -> None:
    """Patch the socket module (idempotent)."""
    global _installed
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.create_connection = _create_connection  # type: ignore[assignment]
    socket.getaddrinfo = _getaddrinfo  # type: ignore[assignment]
    _installed = True


def uninstall() -> None:
    """Restore the original socket functions."""
    global _installed
    socket.socket.connect = _ORIG["connect"]  # type: ignore[method-assign]
    socket.socket.connect_ex = _ORIG["connect_ex"]  # type: ignore[method-assign]
    socket.create_connection = _ORIG["create_connection"]  # type: ignore[assignment]
    socket.getaddrinfo = _ORIG["getaddrinfo"]
    _installed = False


@contextlib.contextmanager
def expect_blocked() -> Iterator[list[str]]:
    """Within the block, refused attempts still raise but don't fail the test (from any thread);
    yields the list of refused targets ("host:port") seen in the block, for assertions."""
    seen: list[str] = []
    with _lock:
        _expected.append(seen)
    try:
        yield seen
    finally:
        with _lock:
            del _expected[next(i for i, lst in enumerate(_expected) if lst is seen)]


def violations() -> list[tuple[str | None, str]]:
    """All charged attempts so far: (test nodeid or None, "host:port")."""
    with _lock:
        return list(_violations)


# -- pytest hooks ------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    install()  # from configure on, so imports at collection time are guarded too


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall()


@pytest.fixture(autouse=True, scope="session")
def netguard() -> Iterator[None]:
    """Session-wide guard (re-installs the patches should anything have restored them)."""
    install()
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    global _current_test
    _current_test = item.nodeid
    try:
        return (yield)
    finally:
        _current_test = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    global _reported
    report: pytest.TestReport = yield
    with _lock:
        new = [t for _, t in _violations[_reported:]]
        _reported = len(_violations)
    if new:
        message = "test tried to reach the network: " + ", ".join(new)
        if report.passed:
            report.outcome = "failed"
            report.longrepr = f"[netguard] {message}"
        else:
            report.sections.append(("netguard", message))
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    with _lock:
        stray = [t for _, t in _violations[_reported:]]
    if stray and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    found = violations()
    if found:
        terminalreporter.section("netguard: network access attempts", red=True)
        for nodeid, target in found:
            terminalreporter.write_line(f"{nodeid or '<outside any test>'}: {target}")
