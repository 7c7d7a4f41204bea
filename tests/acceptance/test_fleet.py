"""Three `monitor run` processes on one Postgres share the work and keep every promise: each source polled
once per interval, the seed story alerted once per watch and channel, nothing doubled, a SIGKILLed
process's sources taken over within seconds, and the per-host limit held across the fleet."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from monitor.store import leases
from monitor.store.db import make_engine
from monitor.store.store import Store
from monitor.store.tables import alerts, articles, fetches, sources, story_watches, versions
from tests.fixtures.cli import start_daemon, write_config
from tests.fixtures.feeds import filler_items, labelled_items, mt_item, mt_rss, other_outlet_atom
from tests.fixtures.notify import Receiver
from tests.fixtures.runtime import wait_for
from tests.fixtures.server import LoopbackServer, Route

pytestmark = pytest.mark.postgres

FEEDS = 200
FLEET = {"heartbeat": "1s", "dead_after": "20s", "lease": "10m"}


@pytest.fixture
def store(pg_url: str) -> Any:
    engine = make_engine(pg_url)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def receiver() -> Any:
    server = Receiver()
    yield server
    server.stop()


def count(store: Store, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def serve_outlets(
    server: LoopbackServer, hold: threading.Event | None, feeds: int = FEEDS
) -> list[dict[str, Any]]:
    """The fixture outlets (the seed story from two of them) plus `feeds` small loopback feeds."""
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item(), *labelled_items(5)]), hold=hold)
    server.routes["/feed.atom"] = Route.feed(
        other_outlet_atom(), content_type="application/atom+xml", hold=hold
    )
    configured = [
        {"name": "moscow-times", "feed": server.url("/rss/news")},
        {"name": "kyiv-post", "feed": server.url("/feed.atom")},
    ]
    for i in range(feeds):
        path = f"/feeds/{i}.xml"
        items = filler_items(3, seed=i, base=f"https://outlet{i}.example", words=(40, 80))
        server.routes[path] = Route.feed(mt_rss(items, path=path), hold=hold)
        configured.append({"name": f"feed-{i:03d}", "feed": server.url(path)})
    return configured


def fleet_config(tmp_path: Path, sources_: list[dict[str, Any]], receiver: Receiver, **defaults: Any) -> Path:
    path = write_config(
        tmp_path / "feeds.yaml",
        sources_,
        watches=[{"name": "nk-troops", "query": '"North Korea" AND troop*', "channels": ["hook", "ops"]}],
        channels=[
            {"name": "hook", "type": "webhook", "url": receiver.url("/hook")},
            {"name": "ops", "type": "webhook", "url": receiver.url("/ops")},
        ],
        fleet=FLEET,
    )
    data = yaml.safe_load(path.read_text())
    # max_age none: the seed story is dated 2024 and must still alert
    data["defaults"].update({"timeout": "60s", "interval": "1h", "jitter": 0, "max_age": "none", **defaults})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start_fleet(
    config: Path, db_url: str, tmp_path: Path, n: int = 3
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    started = []
    for i in range(n):
        log = tmp_path / f"daemon-{i}.log"
        started.append((start_daemon(config, db_url, log), log))
    return started


def stop_fleet(fleet: list[tuple[subprocess.Popen[bytes], Path]]) -> list[int | None]:
    for process, _ in fleet:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    codes = []
    for process, _ in fleet:
        try:
            codes.append(process.wait(timeout=90))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(None)
    return codes


def live_workers(store: Store) -> int:
    return len(leases.live_workers(store, datetime.now(UTC), timedelta(seconds=20)))


def polled_once_each(store: Store) -> dict[str, int]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(sources.c.name, sa.func.count(fetches.c.id))
            .outerjoin(fetches, sa.and_(fetches.c.source_id == sources.c.id, fetches.c.article_id.is_(None)))
            .group_by(sources.c.name)
        ).all()
    return {name: n for name, n in rows}


def test_three_daemons_share_the_work_and_keep_every_promise(
    pg_url: str, store: Store, server: LoopbackServer, receiver: Receiver, tmp_path: Path
) -> None:
    hold = threading.Event()  # every feed waits until all three have joined, so each gets a share
    configured = serve_outlets(server, hold)
    config = fleet_config(tmp_path, configured, receiver, concurrency=4, per_host=8)
    fleet = start_fleet(config, pg_url, tmp_path)
    try:
        wait_for(lambda: live_workers(store) == 3, timeout=120, what="three daemons joined")
        hold.set()
        wait_for(
            lambda: count(store, fetches, fetches.c.article_id.is_(None)) >= len(configured),
            timeout=240,
            what="every source polled",
        )
        wait_for(lambda: len(receiver.requests) >= 2, timeout=60, what="the seed story's alerts delivered")
        time.sleep(3)  # room for any poll or alert that should not happen
        assert all(p.poll() is None for p, _ in fleet), "no process may crash"
    finally:
        hold.set()
        codes = stop_fleet(fleet)
    assert codes == [0, 0, 0]
    logs = [log.read_text() for _, log in fleet]
    for text in logs:
        assert "daemon stopped" in text
        assert "Traceback" not in text and "UniqueViolation" not in text
        assert "status=200 new=" in text, "each process did part of the work"
    # Each source polled exactly once in the interval, by one process: in the database and at the server.
    assert set(polled_once_each(store).values()) == {1}
    assert all(len(server.hits_for(f"/feeds/{i}.xml")) == 1 for i in range(FEEDS))
    assert len(server.hits_for("/rss/news")) == 1 and len(server.hits_for("/feed.atom")) == 1
    # No duplicate article or version; the seed story flagged once, alerted once per watch and channel.
    expected_articles = 6 + 1 + FEEDS * 3
    assert count(store, articles) == expected_articles and count(store, versions) == expected_articles
    assert count(store, story_watches) == 1
    assert sorted(r.path for r in receiver.requests) == ["/hook", "/ops"]
    assert count(store, alerts) == 2 and count(store, alerts, alerts.c.status == "sent") == 2
    assert count(store, sources, sources.c.lease_owner.is_not(None)) == 0
    assert live_workers(store) == 0


def test_a_killed_daemons_sources_are_taken_over_within_seconds(
    pg_url: str, store: Store, server: LoopbackServer, receiver: Receiver, tmp_path: Path
) -> None:
    hold = threading.Event()
    configured = serve_outlets(server, hold, feeds=60)
    config = fleet_config(tmp_path, configured, receiver, concurrency=4, per_host=16)
    fleet = start_fleet(config, pg_url, tmp_path)
    try:
        wait_for(lambda: live_workers(store) == 3, timeout=120, what="three daemons joined")
        victim = fleet[0][0]
        owner = f"{socket.gethostname()}:{victim.pid}"
        wait_for(
            lambda: count(store, sources, sources.c.lease_owner == owner) > 0,
            timeout=60,
            what="the victim leased sources",
        )
        victim.send_signal(signal.SIGKILL)  # mid-cycle: its polls wait on held responses
        victim.wait(timeout=10)
        killed_at = time.monotonic()
        hold.set()
        wait_for(
            lambda: count(store, sources, sources.c.lease_owner == owner) == 0,
            timeout=60,
            what="the victim's leases freed",
        )
        wait_for(
            lambda: min(polled_once_each(store).values()) >= 1,
            timeout=120,
            what="every source polled",
        )
        taken_over_in = time.monotonic() - killed_at
        wait_for(lambda: len(receiver.requests) >= 2, timeout=60, what="the seed story's alerts delivered")
        time.sleep(2)
    finally:
        hold.set()
        codes = stop_fleet(fleet[1:])
        if fleet[0][0].poll() is None:
            fleet[0][0].kill()
    assert codes == [0, 0]
    # Within seconds, not the ten-minute lease (a generous bound for a loaded machine).
    assert taken_over_in < 120
    expected_articles = 6 + 1 + 60 * 3
    assert count(store, articles) == expected_articles and count(store, versions) == expected_articles
    assert sorted(r.path for r in receiver.requests) == ["/hook", "/ops"]
    assert count(store, sources, sources.c.lease_owner.is_not(None)) == 0
    survivors = "".join(log.read_text() for _, log in fleet[1:])
    assert "sources left leased by a process that is gone" in survivors


def test_the_per_host_limit_holds_across_the_fleet(
    pg_url: str, store: Store, receiver: Receiver, tmp_path: Path
) -> None:
    hold = threading.Event()
    with LoopbackServer() as server:
        configured = []
        for i in range(36):
            path = f"/slow/{i}.xml"
            items = filler_items(2, seed=500 + i, base=f"https://slow{i}.example", words=(20, 40))
            server.routes[path] = Route.feed(mt_rss(items, path=path), delay=0.4, hold=hold)
            configured.append({"name": f"slow-{i:02d}", "feed": server.url(path)})
        config = fleet_config(tmp_path, configured, receiver, concurrency=8, per_host=2)
        fleet = start_fleet(config, pg_url, tmp_path)
        try:
            wait_for(lambda: live_workers(store) == 3, timeout=120, what="three daemons joined")
            hold.set()
            wait_for(
                lambda: count(store, fetches) >= len(configured), timeout=240, what="every slow feed polled"
            )
        finally:
            hold.set()
            codes = stop_fleet(fleet)
        assert codes == [0, 0, 0]
        # Three processes, each allowed 2 per host on its own: together never more than 2 at the host.
        assert server.max_in_flight == 2
        busy = [log.read_text().count("status=200") for _, log in fleet]
        assert sum(busy) == 36 and sum(1 for b in busy if b) >= 2, busy
