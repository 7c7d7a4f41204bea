"""Every entry of the 189 real captured feeds is archived once, on SQLite and Postgres.

The feeds of ../shared/corpora/real-feeds are served from a loopback server and polled as the daemon
polls them (no link following: their links point at the internet). The expected count per feed comes from
feedparser alone, the reference parser: every entry it reads that carries anything to know it by (guid,
link, title, or a date with a summary) is one article, and entries listed twice in one feed are one. A
second poll of the same entries in a changed document stores nothing new.
"""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.core.feeds import parse_feed_drafts
from monitor.runtime import make_fetcher
from monitor.service import Service, ServiceOptions
from monitor.store.store import Store
from monitor.store.tables import articles, sources
from tests.fixtures.runtime import settings_for
from tests.fixtures.server import LoopbackServer, Route

REAL = Path(__file__).resolve().parents[4] / "shared" / "corpora" / "real-feeds"
FILES = sorted(REAL.glob("*.xml.gz")) if REAL.is_dir() else []

pytestmark = pytest.mark.skipif(len(FILES) != 189, reason="../shared/corpora/real-feeds is not here")


def reference_counts(bodies: dict[str, bytes]) -> dict[str, int]:
    """Distinct entries per feed as feedparser alone reads them."""
    counts = {}
    for name, body in bodies.items():
        _, drafts = parse_feed_drafts(body, {}, "https://example.invalid/feed", parser="feedparser")
        counts[name] = len({d.key for d in drafts})
    return counts


def poll_all(settings: object, store: Store) -> None:
    async def go() -> None:
        service = Service(settings, store, make_fetcher(settings), ServiceOptions(parse_workers=1))  # type: ignore[arg-type]
        try:
            await service.sync_sources()
            await service.poll_sources(None)
        finally:
            await service.fetcher.aclose()
            service.close()

    asyncio.run(go())


def stored_counts(store: Store) -> dict[str, int]:
    query = (
        sa.select(sources.c.name, sa.func.count(articles.c.id))
        .select_from(sources.outerjoin(articles, articles.c.source_id == sources.c.id))
        .group_by(sources.c.name)
    )
    with store.engine.connect() as conn:
        return {name: count for name, count in conn.execute(query)}


def test_every_entry_of_the_real_feeds_is_archived_once(store: Store, server: LoopbackServer) -> None:
    bodies = {f.name.removesuffix(".xml.gz"): gzip.decompress(f.read_bytes()) for f in FILES}
    expected = reference_counts(bodies)
    assert expected["cc314ce5dfbb3adc"] == 1046  # neither guid nor link: kept by title and date
    for name, body in bodies.items():
        server.routes[f"/{name}.xml"] = Route.feed(body, validators=False)
    settings = settings_for(
        [{"name": name, "feed": server.url(f"/{name}.xml")} for name in bodies],
        per_host=8,
    )

    poll_all(settings, store)
    first = stored_counts(store)
    assert {n: c for n, c in first.items() if c != expected[n]} == {}
    assert sum(first.values()) == sum(expected.values()) > 6_000

    for name, body in bodies.items():  # the same entries in a changed document: parsed again, kept once
        server.routes[f"/{name}.xml"] = Route.feed(body + b"\n<!-- again -->\n", validators=False)
    poll_all(settings, store)
    assert stored_counts(store) == first
