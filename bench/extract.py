"""Article extraction and the whole page re-check path (fetch, extract, compare, store) on loopback.

.venv/bin/python bench/extract.py [--pages 300]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.feedserver import FeedServer  # noqa: E402
from monitor.core.pages import extract_article  # noqa: E402
from tests.fixtures.pages import mt_article  # noqa: E402
from tests.fixtures.seeds import mt_seed  # noqa: E402


def heavy_page(i: int) -> bytes:
    """The article plus heavy boilerplate (menus, 150 teasers, scripts, footer): about 57 KB."""
    seed = mt_seed()
    paragraphs = [f"{p} (update {i})" if n == 2 else p for n, p in enumerate(seed.paragraphs)]
    page = mt_article(paragraphs=paragraphs).decode()
    teasers = "".join(
        f'<li><a href="/2024/10/{d % 28 + 1:02d}/teaser-story-number-{d}-about-events-a{80000 + d}">Teaser {d}</a>'
        f"<p>{'Short teaser text about another story. ' * 3}</p></li>"
        for d in range(150)
    )
    scripts = "<script>" + "var x = 1;" * 2000 + "</script>"
    return page.replace(
        "</main>", f'</main><aside><ul class="teasers">{teasers}</ul></aside>{scripts}'
    ).encode()


def bench_extract(n: int) -> list[tuple[str, float, int]]:
    rows = []
    for name, pages in (
        ("fixture article page", [mt_article()] * n),
        ("heavy page (teasers, scripts)", [heavy_page(i) for i in range(n)]),
    ):
        started = time.perf_counter()
        for page in pages:
            extract_article(page, "https://www.themoscowtimes.com/2024/10/18/x-a86740")
        rows.append((name, n / (time.perf_counter() - started), len(pages[0])))
    return rows


def bench_recheck(n: int, workers: int) -> tuple[float, float, dict[str, int]]:
    import yaml

    from monitor.config import parse_settings
    from monitor.service import Service, ServiceOptions, make_fetcher
    from monitor.store.db import make_engine, upgrade
    from monitor.store.repo import Store
    from monitor.store.tracking import ensure_article, tracked_articles

    bodies = {f"/2024/10/18/story-number-{i}-a{90000 + i}": heavy_page(i) for i in range(n)}
    server = FeedServer(bodies)
    tmp = tempfile.mkdtemp(prefix="bench-extract-")
    engine = make_engine(f"sqlite:///{tmp}/bench.db")
    upgrade(engine)
    store = Store(engine)
    config = {
        "defaults": {"concurrency": 32, "per_host": 32, "timeout": "60s"},
        "sources": [{"name": "site", "feed": server.base + "/rss", "follow_links": True, "robots": False}],
    }
    settings = parse_settings(yaml.safe_dump(config), "bench", env={})
    logging.disable(logging.INFO)
    now = datetime.now(UTC)
    results: list[float] = []

    async def main() -> None:
        service = Service(settings, store, make_fetcher(settings), ServiceOptions(parse_workers=workers))
        await service.sync_sources()
        source_id = 1
        with store.write() as conn:
            for path in bodies:
                ensure_article(conn, source_id, server.base + path, server.base + path, now)
            conn.exec_driver_sql("UPDATE articles SET next_check_at = first_seen")
        assert len(tracked_articles(store, None)) == n
        try:
            for _ in range(2):  # the first run stores version 1 of each page, the second finds no change
                started = time.perf_counter()
                checks = await service.check_articles()
                results.append(n / (time.perf_counter() - started))
                assert not [c.error for c in checks if c.error], checks[0]
        finally:
            await service.fetcher.aclose()
            service.close()
            server.stop()

    asyncio.run(main())
    counts = store.counts()
    engine.dispose()
    return results[0], results[1], counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"{'extraction (one process)':<32} {'pages/s':>9} {'page bytes':>11}")
    for name, rate, size in bench_extract(args.pages):
        print(f"{name:<32} {rate:>9.1f} {size:>11,}")
    first, second, counts = bench_recheck(args.pages, args.workers)
    print(
        f"\nre-check path: fetch + extract ({args.workers} workers) + compare + store, {args.pages} heavy pages, SQLite"
    )
    print(f"{'first check (stores v1)':<32} {first:>9.1f} pages/s")
    print(f"{'re-check, unchanged':<32} {second:>9.1f} pages/s")
    print(
        f"stored: {counts['articles']} articles, {counts['versions']} versions, {counts['fetches']} fetches"
    )


if __name__ == "__main__":
    main()
