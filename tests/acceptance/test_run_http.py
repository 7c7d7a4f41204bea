"""`monitor run --http`: the daemon serves the API and /healthz reports its scheduler alive."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from monitor.web.server import is_loopback
from tests.fixtures.cli import run_cli, start_daemon, write_config
from tests.fixtures.feeds import mt_news_feed
from tests.fixtures.server import LoopbackServer, Route, free_port


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
    text = (tmp_path / "daemon.log").read_text()
    assert "serving http://127.0.0.1:" in text and "WITHOUT A TOKEN" not in text


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


def scrape(url: str, **kwargs: Any) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """/metrics parsed by prometheus_client's own parser: sample name -> labels -> value."""
    response = httpx.get(url, timeout=5, **kwargs)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_metrics_and_the_open_address_warning(db_url: str, server: LoopbackServer, tmp_path: Path) -> None:
    server.routes["/rss/news"] = Route.feed(mt_news_feed(extra=2))
    config = write_config(
        tmp_path / "feeds.yaml",
        [
            {"name": "moscow-times", "feed": server.url("/rss/news")},
            {"name": "down", "feed": "http://127.0.0.1:9/rss"},
        ],
    )
    port = free_port()
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, db_url, log, "--http", f"0.0.0.0:{port}", env={"MONITOR_API_TOKEN": ""})
    try:
        wait_for_health(f"http://127.0.0.1:{port}/healthz")
        base = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 30
        while (m := scrape(base)).get("monitor_polls_total", {}).get((("status", "200"),), 0) < 1:
            assert time.monotonic() < deadline, m.get("monitor_polls_total")
            time.sleep(0.2)
        assert m["monitor_new_articles_total"][()] == 3
        assert m["monitor_fetch_duration_seconds_count"][()] >= 1
        assert m["monitor_fetch_bytes_sum"][()] > 1000
        assert m["monitor_process_role"] == {(("role", r),): 1 for r in ("poll", "deliver", "http")}
        assert m["monitor_outbox_pending"][()] == 0
        assert m["monitor_outbox_oldest_pending_age_seconds"][()] == 0
        assert m["monitor_story_index_articles"][()] == 3 and 1 <= m["monitor_stories"][()] <= 3
        deadline = time.monotonic() + 30
        while scrape(base)["monitor_polls_total"].get((("status", "error"),), 0) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        states = scrape(base)["monitor_sources"]
        assert states[(("state", "ok"),)] == 1 and states[(("state", "failing"),)] == 1
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    warnings = [line for line in log.read_text().splitlines() if "WITHOUT A TOKEN" in line]
    assert len(warnings) == 1 and f"0.0.0.0:{port}" in warnings[0] and "MONITOR_API_TOKEN" in warnings[0]


def test_no_warning_on_loopback_or_with_a_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.0.2.1")
