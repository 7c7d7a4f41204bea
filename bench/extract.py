"""Article extraction: quality beside plain trafilatura on real pages, speed, and the whole re-check path.

.venv/bin/python bench/extract.py [--split dev|held-out|both] [--pages 300] [--no-recheck]

Quality is measured on trafilatura's own evaluation set (../shared/corpora/extraction-dev: 990 real pages,
each with snippets that must be in the main text and snippets that must not): recall is the share of
must-have snippets found, precision the share of must-not-have snippets absent, and the combined score
their harmonic mean (F1). Both texts and snippets are compared after the same normalisation (entities,
NFC, white space folded), so only content counts, not typography or paragraph breaks.

The pages are split once, before any tuning, by the SHA-256 of the page's file name: first byte < 192
is the dev split (about 3/4, the only one to tune on), the rest is held out. The project's golden pages
(tests/golden/pages) are scored by word overlap with their expected text.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import logging
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.feedserver import FeedServer  # noqa: E402
from monitor.core.extract import extract_article  # noqa: E402
from monitor.core.normalize import normalize_text  # noqa: E402
from monitor.errors import ParseError  # noqa: E402
from tests.fixtures.pages import mt_article  # noqa: E402
from tests.fixtures.seeds import mt_seed  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "extraction-dev"
GOLDEN = ROOT / "tests" / "golden" / "pages"
GOLDEN_URLS = {
    "moscow-times-article.html": "https://www.themoscowtimes.com/2024/10/18/x-a86740",
    "kyiv-post-article.html": "https://www.kyivpost.example/post/40291",
}

Extractor = Callable[[bytes, str], str]


def split_of(file_name: str) -> str:
    """The split a page belongs to, fixed before tuning: SHA-256 of its file name, first byte < 192 = dev."""
    return "dev" if hashlib.sha256(file_name.encode()).digest()[0] < 192 else "held-out"


def ours(html: bytes, url: str) -> str:
    """The project's extractor, as the page checks call it (no text when it finds no article)."""
    try:
        return extract_article(html, url).text
    except ParseError:
        return ""


def plain_trafilatura(html: bytes, url: str) -> str:
    """`trafilatura.extract` with its defaults: the floor to beat."""
    import trafilatura

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trafilatura.extract(html, url=url) or ""


EXTRACTORS: dict[str, Extractor] = {"plain trafilatura": plain_trafilatura, "ours": ours}


@dataclass
class Tally:
    """Snippet counts of one extractor on one split, and the time it took."""

    found: int = 0  # must-have snippets found
    wanted: int = 0
    avoided: int = 0  # must-not-have snippets absent
    unwanted: int = 0
    pages: int = 0
    empty: int = 0
    crashed: int = 0  # raised something other than ParseError: a bug
    seconds: float = 0.0

    @property
    def recall(self) -> float:
        return self.found / self.wanted if self.wanted else 1.0

    @property
    def precision(self) -> float:
        return self.avoided / self.unwanted if self.unwanted else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Page:
    url: str
    file: str
    must: tuple[str, ...]
    must_not: tuple[str, ...]


def corpus_pages(corpus: Path) -> list[Page]:
    data = json.loads((corpus / "evaldata.json").read_text(encoding="utf-8"))
    return [
        Page(url, item["file"], tuple(item["with"]), tuple(item["without"]))
        for url, item in sorted(data.items(), key=lambda kv: kv[1]["file"])
    ]


def score(text: str, page: Page, tally: Tally) -> None:
    got = normalize_text(text)
    tally.pages += 1
    tally.empty += not got
    tally.wanted += len(page.must)
    tally.found += sum(normalize_text(s) in got for s in page.must)
    tally.unwanted += len(page.must_not)
    tally.avoided += sum(normalize_text(s) not in got for s in page.must_not)


def bench_quality(corpus: Path, splits: Iterable[str], limit: int | None) -> dict[str, dict[str, Tally]]:
    pages = [p for p in corpus_pages(corpus) if split_of(p.file) in splits][:limit]
    tallies = {split: {name: Tally() for name in EXTRACTORS} for split in splits}
    for page in pages:
        html = gzip.decompress((corpus / "pages" / (page.file + ".gz")).read_bytes())
        for name, extract in EXTRACTORS.items():
            tally = tallies[split_of(page.file)][name]
            started = time.perf_counter()
            try:
                text = extract(html, page.url)
            except Exception:
                text = ""
                tally.crashed += 1
            tally.seconds += time.perf_counter() - started
            score(text, page, tally)
    return tallies


def bench_golden() -> dict[str, Tally]:
    """Word-level scores on the golden pages, as counts so that the pages add up."""
    tallies = {name: Tally() for name in EXTRACTORS}
    for name, url in GOLDEN_URLS.items():
        html = (GOLDEN / name).read_bytes()
        expected = json.loads((GOLDEN / (name + ".json")).read_text(encoding="utf-8"))["text"]
        want = Counter(normalize_text(expected).split())
        for extractor, extract in EXTRACTORS.items():
            have = Counter(normalize_text(extract(html, url)).split())
            common = sum((want & have).values())
            tally = tallies[extractor]
            tally.pages += 1
            tally.found += common
            tally.wanted += sum(want.values())
            tally.avoided += common
            tally.unwanted += sum(have.values())
    return tallies


def print_quality(title: str, tallies: dict[str, Tally], timed: bool = True) -> None:
    print(f"\n{title}")
    header = (
        f"{'extractor':<20} {'pages':>6} {'empty':>6} {'recall':>7} {'precision':>9} {'F1':>7} {'crashed':>7}"
    )
    print(header + (f" {'pages/s':>8}" if timed else ""))
    for name, t in tallies.items():
        row = f"{name:<20} {t.pages:>6} {t.empty:>6} {t.recall:>7.4f} {t.precision:>9.4f} {t.f1:>7.4f} {t.crashed:>7}"
        print(row + (f" {t.pages / t.seconds if t.seconds else 0:>8.1f}" if timed else ""))


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
    from monitor.runtime import make_service
    from monitor.store.db import make_engine, upgrade
    from monitor.store.store import Store
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
        service = make_service(settings, store, parse_workers=workers)
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
    parser.add_argument("--split", choices=("dev", "held-out", "both"), default="both")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="default: %(default)s")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pages of the split")
    parser.add_argument("--pages", type=int, default=300, help="pages for the speed and re-check runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-recheck", action="store_true", help="skip the speed and re-check runs")
    args = parser.parse_args()
    splits = ("dev", "held-out") if args.split == "both" else (args.split,)
    if (args.corpus / "evaldata.json").exists():
        for split, tallies in bench_quality(args.corpus, splits, args.limit).items():
            print_quality(f"extraction-dev, {split} split (snippets)", tallies)
    else:
        print(f"{args.corpus}: no evaldata.json, quality on real pages skipped")
    print_quality("golden pages (words)", bench_golden(), timed=False)
    if args.no_recheck:
        return
    print(f"\n{'extraction (one process)':<32} {'pages/s':>9} {'page bytes':>11}")
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
