"""A poll can never be left without a next check: hostile server values and failing writes (both databases)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.models import StoredVersion
from monitor.store.store import Store
from monitor.store.tables import sources
from tests.fixtures.runtime import service_for, settings_for
from tests.fixtures.server import LoopbackServer, Route


def rss(items: list[tuple[str, str]], ttl: str | None = None) -> bytes:
    parts = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>']
    if ttl is not None:
        parts.append(f"<ttl>{ttl}</ttl>")
    for title, link in items:
        parts.append(
            f"<item><title>{title}</title><link>{link}</link><description>d {title}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


GOOD = ("Good entry", "https://example.org/good")


def poll_ticking(store: Store, server: LoopbackServer, ticks: int = 15) -> tuple[int, list[str]]:
    """Poll as the daemon does, once a second for `ticks` simulated seconds; return fetches and errors."""
    settings = settings_for([{"name": "hostile", "feed": server.url("/feed")}])
    start = datetime.now().astimezone()
    clock = {"now": start}
    errors: list[str] = []

    async def go() -> None:
        service = service_for(settings, store, clock=lambda: clock["now"])
        try:
            await service.sync_sources()
            for tick in range(ticks):
                clock["now"] = start + timedelta(seconds=tick)
                for state in await service.claim_due(10):
                    summary = await service.poll(state)
                    if summary.error:
                        errors.append(summary.error)
        finally:
            await service.fetcher.aclose()
            service.close()

    asyncio.run(go())
    return len(server.requests_for("/feed")), errors


def source_row(store: Store) -> sa.Row[tuple[object, ...]]:
    with store.read() as conn:
        return conn.execute(sa.select(sources).where(sources.c.name == "hostile")).one()


def article_titles(store: Store) -> list[str]:
    with store.read() as conn:
        return sorted(conn.execute(sa.text("SELECT title FROM articles")).scalars())


@pytest.mark.parametrize(
    ("route", "expect_error"),
    [
        (Route(body=rss([GOOD], ttl="99999999999999999999")), False),
        (Route(body=rss([GOOD]), headers={"Cache-Control": "max-age=99999999999999999999999"}), False),
        (Route(body=rss([GOOD]), headers={"Cache-Control": "max-age=1e20"}), False),
        (Route(body=b"busy", status=503, headers={"Retry-After": "1e20"}), True),
        (Route(body=b"busy", status=429, headers={"Retry-After": "99999999999999999999"}), True),
    ],
)
def test_server_values_are_clamped_and_never_cause_a_hot_loop(
    store: Store, server: LoopbackServer, route: Route, expect_error: bool
) -> None:
    server.routes["/feed"] = route
    fetches, errors = poll_ticking(store, server)
    assert fetches == 1
    assert bool(errors) == expect_error and not any("internal error" in e for e in errors)
    row = source_row(store)
    assert row.lease_until is None and row.next_check_at is not None
    if not expect_error:
        assert article_titles(store) == ["Good entry"]


def test_nul_in_a_title_and_a_huge_url_key_are_stored(store: Store, server: LoopbackServer) -> None:
    long_link = "https://example.org/" + "a" * 7700
    server.routes["/feed"] = Route(
        body=rss([("Title with &#0; NUL", "https://example.org/nul"), ("Long", long_link), GOOD]).replace(
            b"&#0;", b"\x00"
        )
    )
    fetches, errors = poll_ticking(store, server)
    assert fetches == 1 and errors == []
    titles = article_titles(store)
    assert "Good entry" in titles and "Long" in titles
    with store.read() as conn:
        keys = list(conn.execute(sa.text("SELECT key FROM articles")).scalars())
    assert all(len(k) <= 1000 for k in keys) and not any("\x00" in t for t in titles)


def test_a_failing_write_stores_the_other_entries_and_backs_off(store: Store, server: LoopbackServer) -> None:
    server.routes["/feed"] = Route(body=rss([("Poison", "https://example.org/poison"), GOOD]))
    settings = settings_for([{"name": "hostile", "feed": server.url("/feed")}])
    start = datetime.now().astimezone()
    clock = {"now": start}

    class Poison:
        """A step inside the write transaction that fails for one article."""

        def __call__(
            self, conn: Connection, stored: Sequence[StoredVersion], now: datetime, prepared: object = None
        ) -> None:
            if any(v.key.endswith("/poison") for v in stored):
                raise RuntimeError("a step inside the write failed")

        def finish(self, conn: Connection) -> None:
            pass

        def discard(self) -> None:
            pass

        def committed(self) -> None:
            pass

    poison = Poison()

    async def go() -> list[str]:
        service = service_for(settings, store, clock=lambda: clock["now"])
        service.after_store.append(poison)
        errors: list[str] = []
        try:
            await service.sync_sources()
            for tick in range(15):
                clock["now"] = start + timedelta(seconds=tick)
                for state in await service.claim_due(10):
                    summary = await service.poll(state)
                    errors.append(summary.error or "")
        finally:
            await service.fetcher.aclose()
            service.close()
        return errors

    errors = asyncio.run(go())
    assert errors == ["cannot store 1 of 2 entries: RuntimeError: a step inside the write failed"]
    assert len(server.requests_for("/feed")) == 1
    assert article_titles(store) == ["Good entry"]
    row = source_row(store)
    assert row.consecutive_errors == 1 and row.last_error == errors[0]
    assert row.lease_until is None and row.next_check_at > start + timedelta(minutes=5)
