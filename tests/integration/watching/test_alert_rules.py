"""What a watch alerts on, on SQLite and Postgres: max_age against backlog floods, alert_on edits and
outlets, and two writers racing on one event (one story, one alert)."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import pytest
import sqlalchemy as sa
import yaml

from monitor import watch_alerts
from monitor.config import NO_MAX_AGE, Settings, parse_settings
from monitor.core.extract import EXTRACTOR_VERSION
from monitor.core.versions import content_fingerprint
from monitor.core.watch_rules import is_backlog
from monitor.store.alerts import Claimed, alert_context
from monitor.store.store import Store
from monitor.store.tables import alerts, articles, matches, stories, story_members, versions
from monitor.watching import attach
from tests.fixtures.feeds import STORIES, Item, atom, mt_item, mt_rss, other_item, other_outlet_atom
from tests.fixtures.pages import mt_article
from tests.fixtures.runtime import poll_watching, service_for
from tests.fixtures.seeds import MT_PATH, mt_seed
from tests.fixtures.server import LoopbackServer, Route

NK = '"North Korea" AND troop*'


def settings(server: LoopbackServer, watches: list[dict[str, Any]], **defaults: Any) -> Settings:
    data = {
        "defaults": {"timeout": "5s", "per_host": 4, **defaults},
        "sources": [
            {"name": "moscow-times", "feed": server.url("/rss/news")},
            {"name": "kyiv-post", "feed": server.url("/feed.atom")},
        ],
        "watches": [{"channels": ["hook"], **w} for w in watches],
        "channels": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"}],
    }
    return parse_settings(yaml.safe_dump(data), "test.yaml", env={})


def rows(store: Store, table: sa.Table) -> list[Any]:
    with store.read() as conn:
        return list(conn.execute(sa.select(table).order_by(table.c.id)))


def undated_rss(items: list[Item]) -> bytes:
    """RSS whose items carry no date at all."""
    body = "".join(
        f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
        f"<description>{escape(i.description)}</description><guid>{escape(i.link)}</guid></item>"
        for i in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


def nk_item(n: int, published: datetime | None) -> Item:
    seed = mt_item()
    link = f"https://www.themoscowtimes.com/2024/10/18/nk-{n}"
    return Item(f"{seed.title} ({n})", link, seed.description, published or seed.published, guid=link)


def test_backlog_rule_is_pure() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert not is_backlog(now - timedelta(hours=1), now, False, timedelta(days=2))
    assert is_backlog(now - timedelta(days=3), now, False, timedelta(days=2))
    assert not is_backlog(now - timedelta(days=3000), now, True, NO_MAX_AGE)
    assert is_backlog(None, now, True, timedelta(days=2)) and not is_backlog(
        None, now, False, timedelta(days=2)
    )


def test_default_max_age_on_live_dates(store: Store, server: LoopbackServer) -> None:
    """With the default 2d, judged by the real clock: today's report alerts, last week's does not."""
    now = datetime.now(UTC)
    fresh = replace(mt_item(), published=now - timedelta(hours=3))
    stale = replace(other_item(), published=now - timedelta(days=7))
    server.routes["/rss/news"] = Route.feed(mt_rss([fresh]))
    server.routes["/feed.atom"] = Route.feed(atom([stale]), content_type="application/atom+xml")
    config = settings(
        server, [{"name": "nk", "query": NK}, {"name": "nk-all", "query": NK, "max_age": "none"}]
    )
    poll_watching(config, store, "kyiv-post")
    found = rows(store, matches)
    assert sorted(m.watch for m in found) == ["nk", "nk-all"]  # matched and recorded either way
    assert [(a.watch, a.event) for a in rows(store, alerts)] == [("nk-all", "new_story")]
    assert len(rows(store, stories)) == 1
    poll_watching(config, store, "moscow-times")
    queued = rows(store, alerts)
    assert sorted((a.watch, a.event) for a in queued) == [
        ("nk", "new_story"),
        ("nk-all", "new_story"),
        ("nk-all", "new_story"),
    ]


def test_undated_entries_of_a_first_poll_alert_nobody(store: Store, server: LoopbackServer) -> None:
    server.routes["/rss/news"] = Route.feed(undated_rss([nk_item(1, None), nk_item(2, None)]))
    config = settings(server, [{"name": "nk", "query": NK}])
    poll_watching(config, store, "moscow-times")
    assert len(rows(store, matches)) == 2 and rows(store, alerts) == []
    # Undated entries found later are news.
    server.routes["/rss/news"] = Route.feed(
        undated_rss([nk_item(1, None), nk_item(2, None), nk_item(3, None)])
    )
    poll_watching(config, store, "moscow-times")
    assert len(rows(store, matches)) == 3
    assert [a.event for a in rows(store, alerts)] == ["new_story"]


def test_alert_on_edits_carries_the_word_diff(store: Store, server: LoopbackServer) -> None:
    item = mt_item()
    server.routes["/rss/news"] = Route.feed(mt_rss([item]))
    config = settings(
        server,
        [{"name": "nk", "query": NK, "alert_on": ["story", "edits"]}, {"name": "plain", "query": NK}],
        max_age="none",
    )
    poll_watching(config, store, "moscow-times")
    assert sorted(a.watch for a in rows(store, alerts)) == ["nk", "plain"]
    edited = replace(item, title=item.title.replace("Seoul Says", "Seoul Confirms"))
    server.routes["/rss/news"] = Route.feed(mt_rss([edited]))
    poll_watching(config, store, "moscow-times")
    poll_watching(config, store, "moscow-times")  # nothing new: no second edit alert
    queued = rows(store, alerts)
    (edit,) = [a for a in queued if a.event == "article_edit"]
    assert edit.watch == "nk" and edit.event_key == f"edit:{edit.version_id}" and len(queued) == 3
    ctx = alert_context(
        store,
        Claimed(
            edit.id, edit.delivery_id, "hook", "nk", edit.event, 0, edit.story_id, edit.match_id,
            edit.created_at, edit.version_id,
        )
    )  # fmt: skip
    assert ctx.article.version == 2 and ctx.changes is not None
    assert ctx.changes.diff is not None and ctx.changes.diff.startswith("Headline:")
    assert "Confirms" in ctx.changes.added and "Says" in ctx.changes.removed


def test_alert_on_outlets_once_per_outlet(store: Store, server: LoopbackServer) -> None:
    second = replace(other_item(), link="https://www.kyivpost.example/post/40300", guid="kp-40300")
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item()]))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")
    config = settings(
        server,
        [{"name": "nk", "query": NK, "alert_on": ["story", "outlets"]}, {"name": "plain", "query": NK}],
        max_age="none",
    )
    poll_watching(config, store, "moscow-times")
    poll_watching(config, store, "kyiv-post")
    server.routes["/feed.atom"] = Route.feed(
        atom([other_item(), second]), content_type="application/atom+xml"
    )
    poll_watching(config, store, "kyiv-post")
    assert len({m.story_id for m in rows(store, matches)}) == 1
    queued = rows(store, alerts)
    assert sorted((a.watch, a.event) for a in queued) == [
        ("nk", "also_reported"),
        ("nk", "new_story"),
        ("plain", "new_story"),
    ]
    (outlet,) = [a for a in queued if a.event == "also_reported"]
    ctx = alert_context(
        store,
        Claimed(
            outlet.id, outlet.delivery_id, "hook", "nk", outlet.event, 0, outlet.story_id, outlet.match_id,
            outlet.created_at, outlet.version_id,
        )
    )  # fmt: skip
    assert ctx.article.source == "kyiv-post" and [o.source for o in ctx.story.other_outlets][:1] == [
        "moscow-times"
    ]


def test_two_writers_racing_on_one_event_make_one_story(store: Store, server: LoopbackServer) -> None:
    """Two processes (each its own story index, loaded before either wrote) store two reports of one event
    at once: assignment is serialised and each catches up first, so one story and one alert."""
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item()]))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")
    config = settings(server, [{"name": "nk", "query": NK}], max_age="none")

    async def race() -> None:
        first, second = service_for(config, store), service_for(config, store)
        try:
            await attach(first)
            await attach(second)
            await first.sync_sources()
            await asyncio.gather(first.poll_sources(["moscow-times"]), second.poll_sources(["kyiv-post"]))
        finally:
            for service in (first, second):
                await service.fetcher.aclose()
                service.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, race()).result()
    found = rows(store, matches)
    assert len(found) == 2 and len({m.story_id for m in found}) == 1
    assert len(rows(store, stories)) == 1 and len(rows(store, story_members)) == 2
    assert [a.event for a in rows(store, alerts)] == ["new_story"]


def test_a_start_loads_the_index_from_stored_memberships(store: Store, server: LoopbackServer) -> None:
    """A later process (a restart) puts a new report of a stored event into the stored story."""
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item()]))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")
    config = settings(server, [{"name": "nk", "query": NK}], max_age="none")
    poll_watching(config, store, "moscow-times")
    poll_watching(config, store, "kyiv-post")
    assert len(rows(store, stories)) == 1
    assert [m.story_id for m in rows(store, story_members)] == [rows(store, stories)[0].id] * 2


def test_when_in_doubt_a_match_in_a_flagged_story_alerts_on_its_own(
    store: Store, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed reports are one story; were the second not confidently the same event as the flagging
    one, it would alert as a new story rather than stay silent."""
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item()]))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")
    config = settings(server, [{"name": "nk", "query": NK}], max_age="none")
    monkeypatch.setattr(watch_alerts, "CONFIDENT_SAME_EVENT", 1.01)
    poll_watching(config, store, "moscow-times")
    poll_watching(config, store, "kyiv-post")
    found = rows(store, matches)
    assert len({m.story_id for m in found}) == 1 and [m.flagged for m in found] == [True, True]
    keys = [a.event_key for a in rows(store, alerts)]
    assert keys == [f"story:{found[0].story_id}", f"article:{found[1].article_id}"]


def ru_item(n: int, title: str, body: str) -> Item:
    link = f"https://meduza.example/news/{n}"
    return Item(title, link, body, mt_item().published + timedelta(hours=n), guid=link)


COURT = next(
    json.loads(line)
    for line in STORIES.read_text(encoding="utf-8").splitlines()
    if json.loads(line)["title"].startswith("Moscow court sentences journalist")
)
RU_TROOPS = ru_item(
    1,
    "КНДР направила войска в Россию для участия в войне против Украины",
    "Северная Корея отправила около 1500 военнослужащих сил специального назначения в Россию, сообщила "
    "южнокорейская разведка. По данным Сеула, войска КНДР прибыли во Владивосток на российских кораблях.",
)
RU_MISSILE = ru_item(
    2,
    "КНДР запустила баллистическую ракету в сторону Японского моря",
    "Северная Корея в пятницу утром произвела пуск баллистической ракеты, сообщил Объединённый комитет "
    "начальников штабов Южной Кореи. Ракета пролетела около 800 километров и упала в Японское море.",
)


def test_seeds_alert_once_while_the_court_and_missile_reports_alert_on_their_own(
    store: Store, server: LoopbackServer
) -> None:
    """The issue's done-when on the fixtures: one story, one alert per watch and channel for the two seed
    reports; a Moscow court report and a Russian-language missile launch each alert on their own."""
    court = Item(COURT["title"], "https://meduza.example/news/court", COURT["body"], mt_item().published)
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item()]))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")
    server.routes["/meduza"] = Route.feed(mt_rss([RU_TROOPS, court, RU_MISSILE]))
    data = {
        "defaults": {"timeout": "5s", "per_host": 4, "max_age": "none"},
        "sources": [
            {"name": "moscow-times", "feed": server.url("/rss/news")},
            {"name": "kyiv-post", "feed": server.url("/feed.atom")},
            {"name": "meduza", "feed": server.url("/meduza")},
        ],
        "watches": [
            {"name": "nk", "query": NK, "channels": ["hook", "ops"]},
            {
                "name": "courts",
                "query": "(court OR sentenced) AND journalist*",
                "channels": ["hook"],
                "stem": "en",
            },
            {"name": "kndr", "query": 'КНДР OR "Северная Корея"', "channels": ["hook"], "stem": "ru"},
        ],
        "channels": [
            {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"},
            {"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/ops"},
        ],
    }
    config = parse_settings(yaml.safe_dump(data), "test.yaml", env={})
    for source in ("moscow-times", "kyiv-post", "meduza"):
        poll_watching(config, store, source)
    with store.read() as conn:
        titles = dict(conn.execute(sa.select(articles.c.id, articles.c.title)).all())
    queued = [
        (a.watch, a.channel, titles[m.article_id])
        for a in rows(store, alerts)
        for m in rows(store, matches)
        if m.id == a.match_id
    ]
    nk = [t for w, _, t in queued if w == "nk"]
    assert sorted(c for w, c, _ in queued if w == "nk") == ["hook", "ops"] and len(set(nk)) == 1
    assert [t for w, _, t in queued if w == "courts"] == [court.title]
    assert sorted(t for w, _, t in queued if w == "kndr") == sorted([RU_TROOPS.title, RU_MISSILE.title])


class _FailTwice:
    """A step whose first two transactions (the poll's, then its salvage's) fail after the watch step
    finished: both roll back."""

    def __init__(self) -> None:
        self.failures = 0

    def add(self, conn: Any, stored: Any, now: Any, prepared: Any = None, texts: Any = None) -> None:
        pass

    def finish(self, conn: Any) -> None:
        if self.failures < 2:
            self.failures += 1
            raise RuntimeError("the disk is full")

    def discard(self) -> None:
        pass

    def committed(self) -> None:
        pass


def test_a_rolled_back_transaction_leaves_no_story_in_the_index(store: Store, server: LoopbackServer) -> None:
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item()]))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")
    config = settings(server, [{"name": "nk", "query": NK}], max_age="none")

    async def go() -> list[Any]:
        service = service_for(config, store)
        try:
            step = await attach(service)
            service.batch_steps.append(_FailTwice())
            await service.sync_sources()
            failed = await service.poll_sources(["moscow-times"])
            assert failed[0].error and "the disk is full" in failed[0].error
            assert len(step.index) == 0 and rows(store, stories) == []
            await service.poll_sources(["moscow-times"])
            await service.poll_sources(["kyiv-post"])
            return rows(store, matches)
        finally:
            await service.fetcher.aclose()
            service.close()

    with ThreadPoolExecutor(1) as pool:
        found = pool.submit(asyncio.run, go()).result()
    assert len(found) == 2 and len({m.story_id for m in found}) == 1
    assert [a.event for a in rows(store, alerts)] == ["new_story"]


def check_pages_watching(config: Settings, store: Store) -> list[Any]:
    """Re-check every tracked page once with the watch step attached (as `poll --articles` does)."""

    async def go() -> list[Any]:
        service = service_for(config, store)
        try:
            await attach(service)
            await service.sync_sources()
            return list(await service.check_articles())
        finally:
            await service.fetcher.aclose()
            service.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def test_a_newer_extractor_on_an_unchanged_page_alerts_nobody(store: Store, server: LoopbackServer) -> None:
    seed = mt_seed()
    link = server.url(MT_PATH)
    server.routes["/rss/news"] = Route.feed(
        mt_rss([Item(seed.title, link, seed.excerpt, seed.published, guid=link)])
    )
    server.routes[MT_PATH] = Route(body=mt_article(), content_type="text/html; charset=utf-8")
    data = {
        "defaults": {"timeout": "5s", "per_host": 4, "max_age": "none"},
        "sources": [{"name": "moscow-times", "feed": server.url("/rss/news"), "follow_links": True}],
        "watches": [{"name": "nk", "query": NK, "alert_on": ["story", "edits"], "channels": ["hook"]}],
        "channels": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"}],
    }
    config = parse_settings(yaml.safe_dump(data), "test.yaml", env={})
    poll_watching(config, store)
    (checked,) = check_pages_watching(config, store)
    assert checked.version == "enriched"
    assert [a.event for a in rows(store, alerts)] == ["new_story"]

    # As if an older extractor had read this page: other text, an older version, the same page.
    (version,) = rows(store, versions)
    older = version.body + "\nShare this article. Follow us on Telegram."
    older_hash = content_fingerprint(version.title, older)
    with store.write() as conn:
        conn.execute(versions.update().values(body=older, content_hash=older_hash))
        conn.execute(articles.update().values(content_hash=older_hash, extractor_version=0))
    (checked,) = check_pages_watching(config, store)
    assert checked.version is None and checked.error is None
    assert [a.event for a in rows(store, alerts)] == ["new_story"]
    (rebased,) = rows(store, versions)
    (article,) = rows(store, articles)
    assert rebased.body == version.body and rebased.content_hash == version.content_hash
    assert article.content_hash == version.content_hash and article.extractor_version == EXTRACTOR_VERSION

    edited = [p.replace("1,500", "2,000") for p in seed.paragraphs]
    server.routes[MT_PATH] = Route(
        body=mt_article(paragraphs=edited), content_type="text/html; charset=utf-8"
    )
    (checked,) = check_pages_watching(config, store)
    assert checked.version == "edit"
    assert [a.event for a in rows(store, alerts)] == ["new_story", "article_edit"]
