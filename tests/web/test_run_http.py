"""`monitor run --http`: the daemon serves the API and /healthz reports its scheduler alive."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import httpx

from tests.cli import run_cli, start_daemon, write_config
from tests.fixtures.feeds import mt_news_feed
from tests.fixtures.server import LoopbackServer, Route
from tests.web import free_port


def wait_for_health(url: str, timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200 and (response.json().get("scheduler") or {}).get("alive"):
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not report a live scheduler")


def test_run_serves_http_beside_the_daemon(db_url: str, server: LoopbackServer, tmp_path: Path) -> None:
    server.routes["/rss/news"] = Route.feed(mt_news_feed(extra=2))
    config = write_config(
        tmp_path / "feeds.yaml", [{"name": "moscow-times", "feed": server.url("/rss/news")}]
    )
    port = free_port()
    daemon = start_daemon(config, db_url, tmp_path / "daemon.log", "--http", f"127.0.0.1:{port}")
    try:
        health = wait_for_health(f"http://127.0.0.1:{port}/healthz").json()
        assert health["status"] == "ok" and health["database"] is True
        sources = httpx.get(f"http://127.0.0.1:{port}/api/v1/sources", timeout=5).json()
        assert [s["name"] for s in sources] == ["moscow-times"]
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    assert "serving http://127.0.0.1:" in (tmp_path / "daemon.log").read_text()


def test_bad_or_taken_addresses_are_one_clear_line(db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "feeds.yaml", [])
    bad = run_cli(["run", "--http", "localhost"], config, db_url)
    assert bad.returncode == 2 and "'localhost' is not HOST:PORT" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = run_cli(["run", "--http", f"127.0.0.1:{port}"], config, db_url)
    assert busy.returncode == 1
    assert (
        busy.stderr.strip()
        .splitlines()[-1]
        .endswith(f"cannot listen on 127.0.0.1:{port}: Address already in use")
    )
