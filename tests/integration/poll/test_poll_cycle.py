"""One `monitor poll` is one whole cycle, on SQLite and Postgres, against real loopback servers.

Entry identity without guid or link, salvage of feeds with bad characters, first page checks in the
one-shot command, the re-check tail after the ladder with its budget, and conditional GETs on pages.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from monitor.poll_report import CycleReport
from monitor.runtime import make_fetcher
from monitor.service import Service, ServiceOptions
from monitor.store.store import Store
from monitor.store.tables import articles, sources
from monitor.store.tracking import claim_due_articles
from tests.fixtures.cli import run_cli, write_config
from tests.fixtures.feeds import Item, mt_rss
from tests.fixtures.notify import Receiver
from tests.fixtures.pages import mt_article
from tests.fixtures.runtime import settings_for
from tests.fixtures.seeds import MT_PATH, mt_seed
from tests.fixtures.server import LoopbackServer, Route

SEED = mt_seed()
BODY_ONLY = "satellite images"  # in the article's body, not in its title or the feed's excerpt


def cycle(service: Service, *names: str, pages: bool = True, articles_only: bool = False) -> CycleReport:
    async def go() -> CycleReport:
        try:
            await service.sync_sources()
            if articles_only:
                return CycleReport([], await service.check_articles(list(names) or None))
            return await service.poll_cycle(list(names) or None, pages=pages)
        finally:
            await service.fetcher.aclose()

    try:
        return asyncio.run(go())
    finally:
        service.close()


def service_at(settings: Any, store: Store, now: datetime | None = None) -> Service:
    options = ServiceOptions(parse_workers=1)
    if now is not None:
        options.clock = lambda: now
    return Service(settings, store, make_fetcher(settings), options)


def rss(items: str, *, head: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Notes</title>'
        f"<link>https://notes.example/</link><description>d</description>{head}{items}</channel></rss>"
    ).encode()


def bare_item(title: str, day: int | None, summary: str = "A summary.") -> str:
    date = (
        f"<pubDate>{format_datetime(datetime(2026, 2, day, 9, 0, tzinfo=UTC))}</pubDate>"
        if day is not None
        else ""
    )
    return f"<item><title>{title}</title>{date}<description>{summary}</description></item>"


def article_rows(store: Store) -> list[Any]:
    with store.read() as conn:
        return list(conn.execute(sa.select(articles).order_by(articles.c.id)))


def source_problem(store: Store, name: str) -> str | None:
    with store.read() as conn:
        problem: str | None = conn.execute(
            sa.select(sources.c.last_problem).where(sources.c.name == name)
        ).scalar_one()
        return problem


# --- every entry has an identity -----------------------------------------------------------------


def test_entries_without_guid_or_link_are_kept_once_and_stay_the_same_articles(
    store: Store, server: LoopbackServer
) -> None:
    items = [bare_item(f"Note {i}", day=1 + i % 20) for i in range(30)]
    items += [bare_item("Undated A", None, "first"), bare_item("Undated A", None, "second")]
    items.append(bare_item("Note 0", day=1))  # the same entry twice in one feed
    server.routes["/notes.xml"] = Route.feed(rss("".join(items)), validators=False)
    settings = settings_for([{"name": "notes", "feed": server.url("/notes.xml"), "follow_links": True}])

    first = cycle(service_at(settings, store))
    assert first.polls[0].new == 32 and first.checks == []  # no link: no page to follow
    rows = article_rows(store)
    assert len(rows) == 32 and all(r.key.startswith("entry:") for r in rows)
    assert {r.url for r in rows} == {"https://notes.example/"} and all(r.next_check_at is None for r in rows)

    # The feed moves (a permanent redirect) and is served again: the same identities, nothing twice.
    server.routes["/moved.xml"] = Route.feed(rss("".join(reversed(items))), validators=False)
    server.routes["/notes.xml"] = Route(status=301, headers={"Location": server.url("/moved.xml")})
    second = cycle(service_at(settings, store))
    assert second.polls[0].status == 200 and second.polls[0].new == 0
    assert [r.key for r in article_rows(store)] == [r.key for r in rows]


def test_an_entry_with_nothing_at_all_is_dropped_and_the_source_says_so(
    store: Store, server: LoopbackServer
) -> None:
    body = rss(bare_item("Kept", 3) + "<item><description></description></item>")
    server.routes["/notes.xml"] = Route.feed(body)
    settings = settings_for([{"name": "notes", "feed": server.url("/notes.xml")}])
    (polled,) = cycle(service_at(settings, store)).polls
    assert polled.new == 1
    assert source_problem(store, "notes") == "1 entry with no title, date, summary or content dropped"


# --- salvage, don't drop -------------------------------------------------------------------------


def test_a_feed_with_a_lone_surrogate_and_a_nul_is_salvaged(store: Store, server: LoopbackServer) -> None:
    items = [bare_item(f"Story {i}", day=1 + i) for i in range(5)]
    items[2] = bare_item("Broken &#xD800; title", day=9)
    items[3] = bare_item("Nul \x00 inside", day=10)
    server.routes["/notes.xml"] = Route.feed(rss("".join(items)))
    settings = settings_for([{"name": "notes", "feed": server.url("/notes.xml")}])

    (polled,) = cycle(service_at(settings, store)).polls
    assert polled.error is None and polled.new == 5
    titles = sorted(r.title for r in article_rows(store))
    assert titles == ["Broken title", "Nul inside", "Story 0", "Story 1", "Story 4"]
    problem = source_problem(store, "notes")
    assert problem is not None
    assert "removed 1 character reference XML forbids and 1 control or surrogate character" in problem
    assert any("feed problem: removed" in n for n in polled.notes)

    health = {h.name: h for h in store.source_health()}
    assert health["notes"].last_problem == problem


# --- one poll is one whole cycle -----------------------------------------------------------------


def follow_feed(server: LoopbackServer) -> None:
    link = server.url(MT_PATH)
    server.routes["/rss/news"] = Route.feed(
        mt_rss([Item(SEED.title, link, SEED.excerpt, SEED.published, guid=link)])
    )
    server.routes[MT_PATH] = Route.feed(mt_article(), content_type="text/html; charset=utf-8")


def test_poll_cycle_makes_the_first_page_checks_and_no_pages_skips_them(
    store: Store, server: LoopbackServer
) -> None:
    follow_feed(server)
    settings = settings_for([{"name": "mt", "feed": server.url("/rss/news"), "follow_links": True}])
    skipped = cycle(service_at(settings, store), pages=False)
    assert skipped.polls[0].new == 1 and skipped.checks == [] and server.hits_for(MT_PATH) == []
    assert skipped.indexed == 1  # the cycle ends with what it stored searchable

    report = cycle(service_at(settings, store))
    assert [c.version for c in report.checks] == ["enriched"]
    assert report.new_articles == 0 and report.versions == 0  # v1 filled in: not a version of its own
    assert "1 sources (0 failed)" in report.line() and "1 page checks" in report.line()
    assert report.indexed == 1 and "1 indexed for search in" in report.line()  # v1's new text

    again = cycle(service_at(settings, store))
    assert again.checks == []  # the next rung is 10 minutes away


def test_poll_cycle_with_named_sources_checks_only_their_pages(store: Store, server: LoopbackServer) -> None:
    follow_feed(server)
    server.routes["/other.xml"] = Route.feed(
        mt_rss([Item("Other", server.url("/other/1"), "x", SEED.published)], path="/other.xml")
    )
    server.routes["/other/1"] = Route(body=mt_article(title="Other"), content_type="text/html")
    settings = settings_for(
        [
            {"name": "mt", "feed": server.url("/rss/news"), "follow_links": True},
            {"name": "other", "feed": server.url("/other.xml"), "follow_links": True},
        ]
    )
    cycle(service_at(settings, store), "other", pages=False)
    report = cycle(service_at(settings, store), "mt")
    assert [p.source for p in report.polls] == ["mt"]
    assert [c.source for c in report.checks] == ["mt"]
    assert server.hits_for("/other/1") == []


# --- after the ladder: the tail, its budget, and conditional GETs ---------------------------------


def test_tail_rechecks_after_the_ladder_until_the_limit(store: Store, server: LoopbackServer) -> None:
    follow_feed(server)
    start = datetime.now(UTC)
    settings = settings_for(
        [
            {
                "name": "mt",
                "feed": server.url("/rss/news"),
                "follow_links": True,
                "recheck": ["10m"],
                "recheck_tail": "7d",
                "recheck_until": "20d",
            }
        ]
    )
    cycle(service_at(settings, store, start))  # the first check
    (row,) = article_rows(store)
    assert row.next_check_at == start + timedelta(minutes=10) and not row.in_tail

    day4 = start + timedelta(days=4)
    (check,) = cycle(service_at(settings, store, day4)).checks
    (row,) = article_rows(store)
    assert row.in_tail and row.next_check_at == day4 + timedelta(days=7)

    # A stealth edit on day 11 is caught by the tail.
    edited = [p.replace("1,500 special forces", "2,000 special forces") for p in SEED.paragraphs]
    server.routes[MT_PATH] = Route.feed(mt_article(paragraphs=edited), content_type="text/html")
    day11 = day4 + timedelta(days=7)
    (check,) = cycle(service_at(settings, store, day11)).checks
    assert check.version == "edit"
    (row,) = article_rows(store)
    assert row.in_tail and row.next_check_at == day11 + timedelta(days=7)  # day 18 is within 20 days
    day18 = day11 + timedelta(days=7)
    (check,) = cycle(service_at(settings, store, day18)).checks
    (row,) = article_rows(store)
    assert row.next_check_at is None and not row.in_tail  # day 25 is not: the tail has ended
    assert cycle(service_at(settings, store, day18 + timedelta(days=30))).checks == []
    # ... and `poll --articles` still looks at it, ended or not.
    (again,) = cycle(service_at(settings, store, day18 + timedelta(days=30)), articles_only=True).checks
    assert again.status == 304  # validators kept from the last check


def test_a_tail_set_to_none_stops_with_the_ladder(store: Store, server: LoopbackServer) -> None:
    follow_feed(server)
    start = datetime.now(UTC)
    settings = settings_for(
        [
            {
                "name": "mt",
                "feed": server.url("/rss/news"),
                "follow_links": True,
                "recheck": ["10m"],
                "recheck_tail": "none",
            }
        ]
    )
    cycle(service_at(settings, store, start))
    cycle(service_at(settings, store, start + timedelta(hours=1)))
    (row,) = article_rows(store)
    assert row.next_check_at is None and not row.in_tail


def test_page_rechecks_are_conditional_gets(store: Store, server: LoopbackServer) -> None:
    follow_feed(server)
    start = datetime.now(UTC)
    settings = settings_for([{"name": "mt", "feed": server.url("/rss/news"), "follow_links": True}])
    cycle(service_at(settings, store, start))
    (check,) = cycle(service_at(settings, store, start + timedelta(minutes=11))).checks
    assert check.status == 304 and check.version is None and check.error is None
    hits = server.hits_for(MT_PATH)
    assert [h.status for h in hits] == [200, 304]
    assert hits[1].headers["if-none-match"] == Route.feed(mt_article()).etag
    (row,) = article_rows(store)
    assert row.check_errors == 0 and row.next_check_at == start + timedelta(minutes=30)


def test_the_tail_budget_takes_the_newest_first(store: Store, server: LoopbackServer) -> None:
    items = [
        Item(f"Story {i}", server.url(f"/a/{i}"), "x", SEED.published + timedelta(hours=i)) for i in range(5)
    ]
    server.routes["/rss/news"] = Route.feed(mt_rss(items))
    settings = settings_for(
        [
            {
                "name": "mt",
                "feed": server.url("/rss/news"),
                "follow_links": True,
                "recheck": ["10m"],
                "recheck_budget": 2,
            }
        ]
    )
    start = datetime.now(UTC)
    cycle(service_at(settings, store, start), pages=False)
    with store.write() as conn:  # first seen an hour apart, all past their ladder and in the tail
        for row in article_rows(store):
            index = int(row.url.rsplit("/", 1)[1])
            conn.execute(
                articles.update()
                .where(articles.c.id == row.id)
                .values(first_seen=start + timedelta(hours=index), in_tail=True, next_check_at=start)
            )
    due = claim_due_articles(
        store, start + timedelta(days=1), None, timedelta(minutes=5), tail_budget={"mt": 2}
    )
    assert [a.url.rsplit("/", 1)[1] for a in due] == ["4", "3"]
    due = claim_due_articles(store, start + timedelta(days=1), 1, timedelta(minutes=5), tail_budget={"mt": 2})
    assert [a.url.rsplit("/", 1)[1] for a in due] == ["2"]


# --- acceptance: the real CLI ----------------------------------------------------------------------


def test_cli_poll_then_an_edit_then_poll_articles_and_a_body_only_watch(
    db_url: str, server: LoopbackServer, tmp_path: Path
) -> None:
    receiver = Receiver()
    try:
        follow_feed(server)
        config = write_config(
            tmp_path / "feeds.yaml",
            [{"name": "mt", "feed": server.url("/rss/news"), "follow_links": True}],
            watches=[{"name": "images", "query": f'"{BODY_ONLY}"', "channels": ["hook"], "max_age": "none"}],
            channels=[{"name": "hook", "type": "webhook", "url": receiver.url()}],
        )
        assert BODY_ONLY not in SEED.title.lower() and BODY_ONLY not in SEED.excerpt.lower()

        done = run_cli(["poll", "--format", "json"], config, db_url)
        assert done.returncode == 0, done.stderr
        (polled,) = json.loads(done.stdout)
        assert polled["new"] == 1
        assert "cycle: 1 sources (0 failed), 1 new articles, 1 versions, 1 page checks, 1 alerts sent" in (
            done.stderr
        )
        (alert,) = [r.json() for r in receiver.requests]
        assert alert["watch"] == "images" and alert["event"] == "new_story"

        edited = [p.replace("1,500 special forces", "2,000 special forces") for p in SEED.paragraphs]
        server.routes[MT_PATH] = Route.feed(mt_article(paragraphs=edited), content_type="text/html")
        done = run_cli(["poll", "--articles", "--format", "json"], config, db_url)
        assert done.returncode == 0, done.stderr
        (checked,) = json.loads(done.stdout)
        assert checked["version"] == "edit"
        shown = json.loads(
            run_cli(["show", str(checked["article"]), "--format", "json"], config, db_url).stdout
        )
        assert [v["n"] for v in shown["versions"]] == [1, 2]
        diff = run_cli(["diff", str(checked["article"])], config, db_url)
        assert "version 1 -> 2" in diff.stdout and "[-1,500-] {+2,000+} special forces" in diff.stdout
    finally:
        receiver.stop()


def test_cli_poll_of_many_sources_parses_on_every_core_and_keeps_every_entry(
    db_url: str, server: LoopbackServer, tmp_path: Path
) -> None:
    """20 sources or more: `monitor poll` parses in a process pool; nothing is lost or stored twice."""
    feeds = []
    for i in range(20):
        items = "".join(bare_item(f"Feed {i} note {j}", day=1 + j) for j in range(3))
        server.routes[f"/f{i}.xml"] = Route.feed(rss(items), validators=False)
        feeds.append({"name": f"f{i}", "feed": server.url(f"/f{i}.xml")})
    config = write_config(tmp_path / "feeds.yaml", feeds)
    first = run_cli(["poll", "--format", "json"], config, db_url)
    assert first.returncode == 0, first.stderr
    assert sorted((p["source"], p["new"]) for p in json.loads(first.stdout)) == sorted(
        (f"f{i}", 3) for i in range(20)
    )
    for i in range(20):  # the same entries in a changed document: every feed is parsed again
        items = "".join(bare_item(f"Feed {i} note {j}", day=1 + j) for j in reversed(range(3)))
        server.routes[f"/f{i}.xml"] = Route.feed(
            rss(items, head="<generator>x</generator>"), validators=False
        )
    second = run_cli(["poll", "--format", "json"], config, db_url)
    assert second.returncode == 0, second.stderr
    assert [p["new"] for p in json.loads(second.stdout)] == [0] * 20
    assert "20 sources (0 failed), 0 new articles" in second.stderr
