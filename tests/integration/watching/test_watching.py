"""Watches and stories end to end on SQLite and Postgres: one story from two outlets, flagged once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from monitor.config import Settings, parse_settings
from monitor.store.store import Store
from monitor.store.tables import alerts, matches, stories, story_watches
from tests.fixtures.cli import run_cli
from tests.fixtures.feeds import labelled_items, mt_item, mt_rss, other_outlet_atom
from tests.fixtures.runtime import poll_watching
from tests.fixtures.server import LoopbackServer, Route


def settings(server: LoopbackServer, watches: list[dict[str, Any]]) -> Settings:
    data = {
        "defaults": {"timeout": "5s", "per_host": 4, "max_age": "none"},
        "sources": [
            {"name": "moscow-times", "feed": server.url("/rss/news")},
            {"name": "kyiv-post", "feed": server.url("/feed.atom")},
        ],
        "watches": watches,
        "channels": [
            {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"},
            {"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/ops"},
        ],
    }
    return parse_settings(yaml.safe_dump(data), "test.yaml", env={})


def rows(store: Store, table: sa.Table) -> list[Any]:
    with store.read() as conn:
        return list(conn.execute(sa.select(table).order_by(table.c.id)))


def serve_seeds(server: LoopbackServer) -> None:
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item(), *labelled_items(7)]))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")


def test_two_outlets_one_story_one_alert_per_channel(store: Store, server: LoopbackServer) -> None:
    serve_seeds(server)
    config = settings(
        server, [{"name": "nk-troops", "query": '"North Korea" AND troop*', "channels": ["hook", "ops"]}]
    )
    poll_watching(config, store, "moscow-times")
    poll_watching(config, store, "kyiv-post")
    found = rows(store, matches)
    assert len(found) == 2 and [m.flagged for m in found] == [True, False]
    assert found[0].story_id == found[1].story_id
    (story,) = [s for s in rows(store, stories) if s.id == found[0].story_id]
    assert story.article_count == 2
    assert [(f.story_id, f.watch) for f in rows(store, story_watches)] == [(story.id, "nk-troops")]
    queued = rows(store, alerts)
    assert sorted(a.channel for a in queued) == ["hook", "ops"]
    assert {a.event for a in queued} == {"new_story"} and {a.status for a in queued} == {"pending"}
    # Polling again changes nothing: no second match, flag or alert.
    poll_watching(config, store)
    assert len(rows(store, matches)) == 2 and len(rows(store, alerts)) == 2


def test_unrelated_articles_make_their_own_stories(store: Store, server: LoopbackServer) -> None:
    serve_seeds(server)
    poll_watching(settings(server, []), store)
    with store.read() as conn:
        members = conn.execute(
            sa.text("SELECT story_id, count(*) FROM articles GROUP BY story_id ORDER BY 2 DESC")
        ).all()
    assert members[0][1] == 2  # the two seed reports
    assert all(count == 1 for _, count in members[1:])
    assert sum(count for _, count in members) == 9


def test_an_edit_that_adds_the_watched_words_alerts(store: Store, server: LoopbackServer) -> None:
    item = mt_item()
    plain = item.__class__(
        item.title.replace("Troop Deployments", "Deployments"),
        item.link,
        "Seoul's spy agency spoke on Friday.",
        item.published,
        guid=item.guid,
    )
    server.routes["/rss/news"] = Route.feed(mt_rss([plain]))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")
    config = settings(
        server, [{"name": "troops", "query": "troop*", "channels": ["hook"], "sources": ["moscow-times"]}]
    )
    poll_watching(config, store, "moscow-times")
    assert rows(store, matches) == []
    server.routes["/rss/news"] = Route.feed(mt_rss([item]))  # the edit adds "troops"
    poll_watching(config, store, "moscow-times")
    (match,) = rows(store, matches)
    assert match.flagged and "troop" in [t.lower() for t in match.terms]
    (alert,) = rows(store, alerts)
    assert alert.event == "new_version"
    # An unrelated edit to the already-matching article does not match again.
    server.routes["/rss/news"] = Route.feed(
        mt_rss(
            [
                item.__class__(
                    item.title, item.link, item.description + " Updated.", item.published, guid=item.guid
                )
            ]
        )
    )
    poll_watching(config, store, "moscow-times")
    assert len(rows(store, matches)) == 1


def test_matches_and_stories_commands(db_url: str, server: LoopbackServer, tmp_path: Path) -> None:
    serve_seeds(server)
    config_file = tmp_path / "feeds.yaml"
    data = {
        "defaults": {"timeout": "5s", "max_age": "none"},
        "sources": [
            {"name": "moscow-times", "feed": server.url("/rss/news")},
            {"name": "kyiv-post", "feed": server.url("/feed.atom")},
        ],
        "watches": [{"name": "nk", "query": '"north korea" NEAR/10 troop*'}],
    }
    config_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert run_cli(["poll", "moscow-times"], config_file, db_url).returncode == 0
    assert run_cli(["poll", "kyiv-post"], config_file, db_url).returncode == 0
    import json

    listed = json.loads(run_cli(["matches", "--watch", "nk", "--format", "json"], config_file, db_url).stdout)
    assert [m["source"] for m in listed] == ["kyiv-post", "moscow-times"]
    flagged = json.loads(
        run_cli(["stories", "--watch", "nk", "--format", "json"], config_file, db_url).stdout
    )
    assert len(flagged) == 1 and flagged[0]["outlets"] == ["moscow-times", "kyiv-post"]
    assert flagged[0]["first_seen"].endswith("+00:00")  # JSON times: ISO 8601 with their offset

    everything = json.loads(run_cli(["stories", "--format", "json"], config_file, db_url).stdout)
    firsts = [s["first_seen"] for s in everything]
    assert len(everything) > 1 and firsts == sorted(firsts, reverse=True)  # newest first
    page = json.loads(
        run_cli(["stories", "--format", "json", "--limit", "1", "--offset", "1"], config_file, db_url).stdout
    )
    assert [s["id"] for s in page] == [everything[1]["id"]]
    kyiv = json.loads(
        run_cli(["stories", "--source", "kyiv-post", "--format", "json"], config_file, db_url).stdout
    )
    assert kyiv and all("kyiv-post" in s["outlets"] for s in kyiv)

    import csv
    import io

    done = run_cli(["stories", "--watch", "nk", "--format", "csv"], config_file, db_url)
    (row,) = list(csv.DictReader(io.StringIO(done.stdout)))
    assert row["size"] == "2" and row["outlets_in_order"] == "moscow-times > kyiv-post"
    assert row["watches"] == "nk" and all(row.values()), row

    for args, named in [
        (["search", "korea", "--source", "nosuch"], "no source named 'nosuch'"),
        (["matches", "--watch", "nosuch"], "no watch named 'nosuch'"),
        (["alerts", "--watch", "nosuch"], "no watch named 'nosuch'"),
        (["stories", "--watch", "nk", "--source", "nosuch"], "no source named 'nosuch'"),
        (
            ["stories", "--watch", "nope", "--source", "nosuch"],
            "no source named 'nosuch'; no watch named 'nope'",
        ),
    ]:
        refused = run_cli(args, config_file, db_url)
        assert refused.returncode == 3 and refused.stderr.strip() == f"monitor: {named}", args

    env = {"TZ": "Asia/Tokyo"}
    local = run_cli(["stories", "--watch", "nk"], config_file, db_url, env=env)
    assert local.returncode == 0 and " JST" in local.stdout, local.stdout
    forced = run_cli(["--utc", "stories", "--watch", "nk"], config_file, db_url, env=env)
    assert " UTC" in forced.stdout and " JST" not in forced.stdout


def test_the_story_index_loads_only_when_a_poll_has_something_to_store(
    store: Store, server: LoopbackServer
) -> None:
    """A start sends its requests at once: a cycle that finds every feed unchanged never reads the index;
    one that parses new entries loads it (the stored terms) before its first write."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from monitor.watching import WatchStep, attach
    from tests.fixtures.runtime import service_for

    serve_seeds(server)
    config = settings(server, [{"name": "nk-troops", "query": '"North Korea" AND troop*'}])
    poll_watching(config, store)
    indexed = len(rows(store, stories))

    async def poll_again() -> WatchStep:
        service = service_for(config, store)
        try:
            step = await attach(service)
            await service.sync_sources()
            await service.poll_sources()
            return step
        finally:
            await service.fetcher.aclose()
            service.close()

    with ThreadPoolExecutor(1) as pool:
        step = pool.submit(asyncio.run, poll_again()).result()
    assert len(step.index) == 0  # every feed unchanged: nothing read
    step.warm()
    step._ready.wait(10)
    assert len(step.index) == len(rows(store, matches)) + 7 == indexed + 1  # the seed story has two
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item(), *labelled_items(6)]), validators=False)
    with ThreadPoolExecutor(1) as pool:
        step = pool.submit(asyncio.run, poll_again()).result()
    assert len(step.index) == indexed + 1  # a changed body was parsed: the index loaded
