"""A real daemon reloads its config on SIGHUP and when the file changes; a bad config is refused and kept."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from monitor.store.store import Store
from monitor.store.tables import fetches, matches, sources
from tests.fixtures.cli import run_cli, start_daemon
from tests.fixtures.feeds import mt_news_feed, other_outlet_atom
from tests.fixtures.runtime import wait_for
from tests.fixtures.server import LoopbackServer, Route


def polls(store: Store, name: str) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(fetches.join(sources, sources.c.id == fetches.c.source_id))
                .where(sources.c.name == name)
            ).scalar_one()
        )


def watch_matches(store: Store, watch: str) -> int:
    with store.read() as conn:
        query = sa.select(sa.func.count()).select_from(matches).where(matches.c.watch == watch)
        return int(conn.execute(query).scalar_one())


def write(path: Path, sources_: list[dict[str, Any]], **extra: Any) -> None:
    data = {"defaults": {"timeout": "5s", "interval": "1s", "jitter": 0}, "sources": sources_, **extra}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_sighup_and_a_changed_file_reload_and_a_bad_config_is_refused(
    db_url: str, store: Store, server: LoopbackServer, tmp_path: Path
) -> None:
    server.routes["/rss/news"] = Route.feed(mt_news_feed(extra=2))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")
    moscow = {"name": "moscow-times", "feed": server.url("/rss/news")}
    kyiv = {"name": "kyiv-post", "feed": server.url("/feed.atom")}
    watch = {"name": "nk", "query": '"north korea" NEAR/10 troop*'}
    config = tmp_path / "feeds.yaml"
    write(config, [moscow])
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, db_url, log)
    try:
        wait_for(lambda: polls(store, "moscow-times") >= 1, what="the first source polled")
        assert polls(store, "kyiv-post") == 0

        # A changed file: the new source is polled, the new watch is compiled and matches.
        write(config, [moscow, kyiv], watches=[watch])
        wait_for(lambda: polls(store, "kyiv-post") >= 1, what="the added source polled")
        wait_for(lambda: watch_matches(store, "nk") >= 1, what="the added watch matching")
        assert "config reloaded (the file changed): 2 sources, 1 watches" in log.read_text()

        # SIGHUP reloads even an unchanged file, and does not kill the daemon.
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reloaded (SIGHUP)" in log.read_text(), what="the SIGHUP reload")
        assert daemon.poll() is None

        # A bad config is refused with monitor check's own lines; the running config keeps polling.
        config.write_text(config.read_text().replace("sources:", "sourcez:"), encoding="utf-8")
        checked = run_cli(["check"], config, db_url)
        assert checked.returncode == 2
        problems = [line.removeprefix("monitor: ") for line in checked.stderr.splitlines()]
        wait_for(lambda: "refused, keeping the running config" in log.read_text(), what="the refusal")
        text = log.read_text()
        assert all(problem in text for problem in problems), (problems, text)
        before = polls(store, "kyiv-post")
        wait_for(lambda: polls(store, "kyiv-post") > before, what="polls going on under the old config")

        # Removing a source stops its polls.
        write(config, [kyiv], watches=[watch])
        wait_for(lambda: "config reloaded (the file changed): 1 sources" in log.read_text(), what="reload")
        stopped = polls(store, "moscow-times")
        after = polls(store, "kyiv-post")
        wait_for(lambda: polls(store, "kyiv-post") >= after + 2, what="two more polls of the kept source")
        assert polls(store, "moscow-times") <= stopped + 1  # at most one that was already in flight

        # `monitor sources add` edits the file; the running daemon polls the new source.
        added = run_cli(
            ["sources", "add", "moscow-again", server.url("/rss/news") + "?again"], config, db_url
        )
        assert added.returncode == 0, added.stderr
        wait_for(lambda: polls(store, "moscow-again") >= 1, what="the source added from the CLI polled")
        listed = run_cli(["sources", "--format", "json"], config, db_url)
        assert {s["name"] for s in json.loads(listed.stdout)} == {"kyiv-post", "moscow-again"}
        assert daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    assert "leaked semaphore" not in log.read_text()
