"""The daemon as a real process: clean stop on SIGTERM, and SIGKILL mid-poll loses and duplicates nothing."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from monitor.store.search import SearchQuery, search
from monitor.store.search_index import index_lag
from monitor.store.store import Store
from monitor.store.tables import articles, fetches, sources, versions
from tests.fixtures.cli import start_daemon, write_config
from tests.fixtures.feeds import mt_news_feed, other_outlet_atom
from tests.fixtures.runtime import wait_for
from tests.fixtures.server import LoopbackServer, Route


def count(store: Store, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def test_sigterm_stops_cleanly(db_url: str, store: Store, server: LoopbackServer, tmp_path: Path) -> None:
    server.routes["/rss/news"] = Route.feed(mt_news_feed(extra=9))
    config = write_config(
        tmp_path / "feeds.yaml",
        [
            {"name": "moscow-times", "feed": server.url("/rss/news")},
            {"name": "down", "feed": "http://127.0.0.1:9/rss"},
        ],
    )
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, db_url, log)
    try:
        wait_for(lambda: count(store, fetches) >= 2, what="both sources polled")
        time.sleep(0.5)
        assert daemon.poll() is None, "a dead source must not stop the daemon"
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    text = log.read_text()
    assert "moscow-times: status=200 new=10 changed=0" in text
    assert "down: connection refused by 127.0.0.1:9" in text
    assert "daemon stopped" in text
    assert count(store, articles) == 10


def test_sigkill_mid_poll_then_restart_loses_and_duplicates_nothing(
    db_url: str, store: Store, server: LoopbackServer, tmp_path: Path
) -> None:
    hold = threading.Event()
    server.routes["/rss/news"] = Route.feed(mt_news_feed(extra=29))
    server.routes["/feed.atom"] = Route.feed(
        other_outlet_atom(), content_type="application/atom+xml", hold=hold
    )
    config = write_config(
        tmp_path / "feeds.yaml",
        [
            {"name": "moscow-times", "feed": server.url("/rss/news")},
            # held until the kill: a long timeout so a slow machine cannot end the poll first
            {"name": "kyiv-post", "feed": server.url("/feed.atom"), "timeout": "300s"},
        ],
    )
    log = tmp_path / "daemon.log"
    first = start_daemon(config, db_url, log)
    try:
        wait_for(lambda: count(store, articles) == 30, what="the Moscow Times feed stored")
        wait_for(lambda: len(server.requests_for("/feed.atom")) == 1, what="the second feed requested")
        first.send_signal(signal.SIGKILL)  # while the second poll waits on its response
        first.wait(timeout=10)
        hold.set()
        with store.read() as conn:
            rows = {r.name: r for r in conn.execute(sa.select(sources))}
        assert rows["kyiv-post"].lease_owner is not None, rows  # the dead process still holds it...
        second = start_daemon(config, db_url, log)
        try:
            # ...and the restart frees it at once, instead of waiting for the lease to run out.
            wait_for(lambda: count(store, articles) == 31, what="the held feed stored after restart")
            # What the killed process stored but had not indexed for search is indexed by the restart.
            wait_for(
                lambda: index_lag(store, datetime.now(UTC)).pending == 0, what="every version searchable"
            )
            assert search(store, SearchQuery("korea")).total >= 1
            time.sleep(1.0)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=20) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert count(store, articles) == 31
    assert count(store, versions) == 31
    # The restart resumed the schedule: the source polled before the kill was not polled again.
    assert len(server.hits_for("/rss/news")) == 1
    assert "resumed 1 sources left leased by a process that is gone" in log.read_text()
