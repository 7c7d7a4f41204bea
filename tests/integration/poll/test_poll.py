"""Polling real loopback feeds into a real database (SQLite and Postgres)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from monitor import service as service_module
from monitor.models import PollSummary
from monitor.service import Service
from monitor.store.store import Store
from monitor.store.tables import sources
from tests.fixtures.feeds import mt_news_feed, other_outlet_atom
from tests.fixtures.runtime import service_for, settings_for
from tests.fixtures.server import LoopbackServer, Route


def poll(service: Service, *names: str) -> dict[str, PollSummary]:
    async def go() -> list[PollSummary]:
        try:
            await service.sync_sources()
            return await service.poll_sources(list(names) or None)
        finally:
            await service.fetcher.aclose()

    try:
        return {s.source: s for s in asyncio.run(go())}
    finally:
        service.close()


def source_row(store: Store, name: str) -> sa.Row[object]:
    with store.read() as conn:
        return conn.execute(sa.select(sources).where(sources.c.name == name)).one()


def test_two_outlets_then_a_304(store: Store, server: LoopbackServer) -> None:
    server.routes["/rss/news"] = Route.feed(mt_news_feed(extra=29))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")
    settings = settings_for(
        [
            {"name": "moscow-times", "feed": server.url("/rss/news")},
            {"name": "kyiv-post", "feed": server.url("/feed.atom")},
        ]
    )
    first = poll(service_for(settings, store))
    assert (first["moscow-times"].status, first["moscow-times"].new) == (200, 30)
    assert (first["kyiv-post"].status, first["kyiv-post"].new) == (200, 1)
    second = poll(service_for(settings, store))
    assert second["moscow-times"].status == 304 and second["moscow-times"].new == 0
    assert second["kyiv-post"].status == 304
    assert (
        server.hits_for("/rss/news")[-1].headers["if-none-match"] == Route.feed(mt_news_feed(extra=29)).etag
    )
    assert store.counts() == {"sources": 2, "articles": 31, "versions": 31, "fetches": 4}
    health = {h.name: h for h in store.source_health()}
    assert health["moscow-times"].articles == 30 and health["moscow-times"].last_status == 304


def test_server_ignoring_validators_skips_parse_by_body_hash(store: Store, server: LoopbackServer) -> None:
    server.routes["/rss"] = Route(body=mt_news_feed(extra=3))
    settings = settings_for([{"name": "mt", "feed": server.url("/rss")}])
    poll(service_for(settings, store))
    second = poll(service_for(settings, store))
    assert second["mt"].status == 200 and "unchanged body" in second["mt"].notes
    assert store.counts()["versions"] == 4


def test_an_edit_makes_one_new_version(store: Store, server: LoopbackServer) -> None:
    body = mt_news_feed(extra=3)
    server.routes["/rss"] = Route.feed(body)
    settings = settings_for([{"name": "mt", "feed": server.url("/rss")}])
    poll(service_for(settings, store))
    server.routes["/rss"] = Route.feed(body.replace(b"1,500 special forces", b"3,000 special forces"))
    result = poll(service_for(settings, store))
    assert (result["mt"].new, result["mt"].changed) == (0, 1)
    assert store.counts()["versions"] == 5


def test_permanent_redirect_moves_the_url_temporary_does_not(store: Store, server: LoopbackServer) -> None:
    server.routes["/old"] = Route(status=301, headers={"Location": "/new"})
    server.routes["/new"] = Route.feed(mt_news_feed(extra=1))
    server.routes["/tmp"] = Route(status=302, headers={"Location": "/new"})
    settings = settings_for(
        [{"name": "moved", "feed": server.url("/old")}, {"name": "temp", "feed": server.url("/tmp")}]
    )
    result = poll(service_for(settings, store))
    assert result["moved"].status == 200 and any("moved to" in n for n in result["moved"].notes)
    assert source_row(store, "moved").url == server.url("/new")
    assert source_row(store, "temp").url == server.url("/tmp")


def test_gone_disables_the_source(store: Store, server: LoopbackServer) -> None:
    server.routes["/rss"] = Route(status=410, body=b"gone", content_type="text/plain")
    settings = settings_for([{"name": "mt", "feed": server.url("/rss")}])
    poll(service_for(settings, store))
    row = source_row(store, "mt")
    assert row.disabled_reason.startswith("HTTP 410 gone")
    assert store.claim_due(datetime(2100, 1, 1, tzinfo=UTC), 10, timedelta(minutes=1)) == []


def test_failures_back_off_and_a_bad_feed_does_not_stop_the_others(
    store: Store, server: LoopbackServer
) -> None:
    server.routes["/500"] = Route(status=500, body=b"oops", content_type="text/plain")
    server.routes["/html"] = Route(body=b"<html><body>maintenance</body></html>", content_type="text/html")
    server.routes["/slow"] = Route.feed(mt_news_feed(extra=1), delay=3)
    server.routes["/429"] = Route(status=429, headers={"Retry-After": "7200"}, content_type="text/plain")
    server.routes["/ok"] = Route.feed(mt_news_feed(extra=2))
    settings = settings_for(
        [
            {"name": "five-hundred", "feed": server.url("/500")},
            {"name": "not-a-feed", "feed": server.url("/html")},
            {"name": "slow", "feed": server.url("/slow"), "timeout": "1s"},
            {"name": "limited", "feed": server.url("/429")},
            {"name": "dead", "feed": "http://127.0.0.1:9/rss"},
            {"name": "ok", "feed": server.url("/ok")},
        ]
    )
    result = poll(service_for(settings, store))
    assert result["ok"].new == 3 and result["ok"].error is None
    assert result["five-hundred"].error == "HTTP 500 server error"
    assert result["not-a-feed"].error is not None and result["not-a-feed"].error.startswith(
        "parse error: not an RSS or Atom feed"
    )
    assert result["slow"].error == "timed out after 1s"
    assert result["dead"].error == "connection refused by 127.0.0.1:9"
    rows = {name: source_row(store, name) for name in result}
    limited = rows["limited"]
    assert (limited.next_check_at - limited.last_polled_at).total_seconds() >= 7200
    for name in ("five-hundred", "not-a-feed", "slow", "dead"):
        assert rows[name].consecutive_errors == 1 and rows[name].last_error
    again = poll(service_for(settings, store), "five-hundred")
    assert again["five-hundred"].error
    assert source_row(store, "five-hundred").consecutive_errors == 2
    with store.read() as conn:
        errors = conn.execute(sa.text("SELECT count(*) FROM fetches WHERE error IS NOT NULL")).scalar_one()
    assert errors == 6


def test_too_large_and_gzip(store: Store, server: LoopbackServer) -> None:
    server.routes["/gz"] = Route.feed(mt_news_feed(extra=4), gzip=True)
    settings = settings_for(
        [{"name": "big", "feed": server.url("/big")}, {"name": "gz", "feed": server.url("/gz")}],
        max_bytes="40KB",
    )
    server.routes["/big"] = Route(body=b"x" * 50_000)
    result = poll(service_for(settings, store))
    assert result["big"].error == "response larger than 40000 bytes"
    assert result["gz"].new == 5 and server.hits_for("/gz")[0].headers["accept-encoding"].startswith("gzip")


def test_robots_txt_is_obeyed_for_pages_when_asked(store: Store, server: LoopbackServer) -> None:
    server.routes["/robots.txt"] = Route(
        body=b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"
    )
    server.routes["/private/rss"] = Route.feed(mt_news_feed(extra=0))
    server.routes["/public/rss"] = Route.feed(mt_news_feed(extra=0))
    settings = settings_for(
        [
            {"name": "blocked", "feed": server.url("/private/rss"), "robots": True},
            {"name": "allowed", "feed": server.url("/public/rss"), "robots": True},
            {"name": "feeds-ignore-robots", "feed": server.url("/private/rss")},
        ]
    )
    result = poll(service_for(settings, store))
    assert result["blocked"].error == f"blocked by robots.txt for {server.url('/private/rss')}"
    assert result["allowed"].new == 1 and result["feeds-ignore-robots"].new == 1
    assert len(server.hits_for("/robots.txt")) == 1  # cached per origin


def test_per_host_limit_holds(store: Store, server: LoopbackServer) -> None:
    gate = threading.Event()
    in_flight: list[int] = []
    peak = [0]
    lock = threading.Lock()

    def slow(_headers: dict[str, str]) -> Route:
        with lock:
            in_flight.append(1)
            peak[0] = max(peak[0], len(in_flight))
        gate.wait(0.3)
        with lock:
            in_flight.pop()
        return Route.feed(mt_news_feed(extra=0))

    for i in range(6):
        server.routes[f"/f{i}"] = slow
    settings = settings_for([{"name": f"f{i}", "feed": server.url(f"/f{i}")} for i in range(6)], per_host=2)
    poll(service_for(settings, store))
    assert peak[0] == 2


def test_parsed_results_wait_for_the_writer_within_the_bound(
    store: Store, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However slow the writer, no more polls than the bound hold a parsed result it has not committed."""
    held = [0]
    peak = [0]
    parse = service_module.parse_body

    async def counted_parse(*args: Any) -> Any:
        held[0] += 1
        peak[0] = max(peak[0], held[0])
        return await parse(*args)

    monkeypatch.setattr(service_module, "parse_body", counted_parse)
    for i in range(12):
        server.routes[f"/f{i}"] = Route.feed(mt_news_feed(extra=i % 3))
    settings = settings_for(
        [{"name": f"f{i}", "feed": server.url(f"/f{i}")} for i in range(12)], concurrency=12, per_host=12
    )
    service = service_for(settings, store, unwritten=3)
    submit = service.writer.submit

    async def slow_submit(unit: Any) -> Any:
        await asyncio.sleep(0.05)  # a busy writer: the parsed result waits
        try:
            return await submit(unit)
        finally:
            held[0] -= 1

    monkeypatch.setattr(service.writer, "submit", slow_submit)
    result = poll(service)
    assert all(s.status == 200 and s.new > 0 for s in result.values())
    assert held[0] == 0
    assert peak[0] == 3  # all 12 would parse at once and wait without it
