"""The daemon under systemd's notify protocol: a real Unix datagram socket stands in for systemd's."""

from __future__ import annotations

import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.systemd import Notifier
from tests.fixtures.cli import start_daemon, write_config
from tests.fixtures.feeds import mt_news_feed
from tests.fixtures.server import LoopbackServer, Route


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    with tempfile.TemporaryDirectory(prefix="nm-") as directory:  # short: a socket path has ~100 bytes
        path = str(Path(directory) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(30)
        try:
            yield sock, path
        finally:
            sock.close()


def messages_until(sock: socket.socket, last: str, limit: float = 60) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        got.append(sock.recv(4096).decode())
        if got[-1].startswith(last):
            return got
    raise AssertionError(f"no {last} in {got}")


def test_ready_watchdog_and_stopping(
    db_url: str, server: LoopbackServer, tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    server.routes["/rss/news"] = Route.feed(mt_news_feed(extra=2))
    config = write_config(
        tmp_path / "feeds.yaml", [{"name": "moscow-times", "feed": server.url("/rss/news")}]
    )
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}
    daemon = start_daemon(config, db_url, tmp_path / "daemon.log", env=env)
    try:
        started = messages_until(sock, "READY=1")
        assert started == ["READY=1\nSTATUS=1 sources"]  # nothing before READY
        pings = messages_until(sock, "WATCHDOG=1") + messages_until(sock, "WATCHDOG=1")
        assert pings == ["WATCHDOG=1", "WATCHDOG=1"]  # the tick keeps pinging
        daemon.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in messages_until(sock, "STOPPING=1")
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()


def test_without_a_socket_nothing_is_sent_and_an_abstract_address_is_understood() -> None:
    quiet = Notifier({})
    assert quiet.notify("READY=1") is False and quiet.watchdog_seconds is None
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"nm-test-{time.monotonic_ns()}"
    abstract.bind("\0" + name)
    abstract.settimeout(5)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"})
        assert notifier.watchdog_seconds is None  # the watchdog is for another process
        assert notifier.notify("STATUS=hello") and abstract.recv(100) == b"STATUS=hello"
    finally:
        abstract.close()
