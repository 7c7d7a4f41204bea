"""Polling throughput: the project's full and unchanged cycles against a bare httpx + feedparser pass.

N synthetic news feeds (30-50 items of 100-400 words) are served from a separate loopback server process.
Each measurement runs in its own process so peak RSS is its own:
  bare       concurrent httpx GETs + feedparser.parse in the event loop (no storage)
  full       the project's Service polling every source into a fresh SQLite database (everything stored)
  unchanged  the same Service polling again: conditional GETs answered 304
Figures: feeds/s, CPU seconds (process + children), peak RSS (process tree).

    .venv/bin/python bench/poll.py --feeds 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.feedserver import FeedServer  # noqa: E402
from tests.fixtures.feeds import _WORDS, filler_items, mt_rss  # noqa: E402

CONCURRENCY = 32
WATCHES = int(os.environ.get("BENCH_WATCHES", "100"))  # -1: no watch step at all (the issue-2 figures)


def bench_watches(n: int) -> list[str]:
    """Watch queries shaped like users': names and places the feeds never mention (most watches match
    nothing most of the time), and two-word phrases of the feeds' words (each in about 0.5% of items)."""
    rng = random.Random(7)
    words = sorted(set(_WORDS))
    names = [
        "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(n)
    ]
    shapes = [
        lambda i: names[i],
        lambda i: f'"{names[i]} {rng.choice(words)}"',
        lambda i: f"{names[i]} AND {rng.choice(words)}",
        lambda i: f"{names[i]} OR {names[(i + 1) % n]}*",
        lambda i: f'"{rng.choice(words)} {rng.choice(words)}"',
    ]
    return [shapes[i % len(shapes)](i) for i in range(max(0, n))]


def build_feeds(n: int) -> dict[str, bytes]:
    rng = random.Random(7)
    return {
        f"/feeds/{i}.xml": mt_rss(
            filler_items(rng.randint(30, 50), seed=i, base=f"https://outlet{i}.example")
        )
        for i in range(n)
    }


class Meter:
    """Wall time, CPU seconds of this process and its children, and peak RSS of the tree (sampled)."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._child_cpu: dict[int, float] = {}

    def _tree_cpu(self) -> float:
        total = sum(self.proc.cpu_times()[:2])
        for child in self.proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                self._child_cpu[child.pid] = sum(child.cpu_times()[:2])
        return total + sum(self._child_cpu.values())

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = self.proc.memory_info().rss
            for child in self.proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss += child.memory_info().rss
            self.peak = max(self.peak, rss)
            self._tree_cpu()
            self._stop.wait(0.05)

    def __enter__(self) -> Meter:
        self._child_cpu.clear()
        self.cpu0 = self._tree_cpu()
        self._child_cpu_start = dict(self._child_cpu)
        self.t0 = time.perf_counter()
        self.peak = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = self._tree_cpu() - self.cpu0
        self._stop.set()
        self._thread.join()


def result(name: str, n: int, meter: Meter, **extra: Any) -> dict[str, Any]:
    return {
        "mode": name,
        "feeds": n,
        "wall_s": meter.wall,
        "feeds_per_s": n / meter.wall,
        "cpu_s": meter.cpu,
        "peak_rss_mb": meter.peak / 2**20,
        **extra,
    }


def run_bare(base: str, paths: list[str]) -> dict[str, Any]:
    import feedparser
    import httpx

    async def main() -> int:
        entries = 0
        limit = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as client:

            async def one(path: str) -> None:
                nonlocal entries
                async with limit:
                    response = await client.get(base + path)
                entries += len(feedparser.parse(response.content).entries)

            await asyncio.gather(*(one(p) for p in paths))
        return entries

    with Meter() as meter:
        entries = asyncio.run(main())
    return result("bare httpx+feedparser", len(paths), meter, entries=entries)


def run_project(base: str, paths: list[str], workers: int) -> list[dict[str, Any]]:
    import yaml

    from monitor.config import parse_settings
    from monitor.service import Service, ServiceOptions, make_fetcher
    from monitor.store.db import make_engine, upgrade
    from monitor.store.repo import Store
    from monitor.watching import WatchStep, install

    tmp = tempfile.mkdtemp(prefix="bench-poll-")
    engine = make_engine(f"sqlite:///{tmp}/bench.db")
    upgrade(engine)
    store = Store(engine)
    config = {
        "defaults": {"concurrency": CONCURRENCY, "per_host": CONCURRENCY, "timeout": "60s"},
        "sources": [{"name": f"feed-{i}", "feed": base + p} for i, p in enumerate(paths)],
        "watches": [{"name": f"w{i}", "query": q} for i, q in enumerate(bench_watches(WATCHES))],
    }
    settings = parse_settings(yaml.safe_dump(config), "bench", env={})
    out = []

    async def cycle(service: Service) -> list[Any]:
        return await service.poll_sources()

    import logging

    logging.disable(logging.INFO)

    async def main() -> None:
        service = Service(settings, store, make_fetcher(settings), ServiceOptions(parse_workers=workers))
        if WATCHES >= 0:  # as the daemon runs: stories, watches and alerts in every store transaction
            step = WatchStep(settings)
            step.load(store, datetime.now(UTC))
            install(service, step)
        await service.sync_sources()
        # Warm the parse workers (process start-up is not polling cost).
        loop = asyncio.get_running_loop()
        from monitor.core.feeds import parse_feed_drafts

        await asyncio.gather(
            *(
                loop.run_in_executor(service._parse, parse_feed_drafts, b"<rss/>", {}, "http://x")
                for _ in range(workers)
            )
        )
        try:
            for name in ("full cycle (store all)", "unchanged cycle (304)"):
                with Meter() as meter:
                    summaries = await cycle(service)
                errors = [s.error for s in summaries if s.error]
                out.append(
                    result(
                        name,
                        len(paths),
                        meter,
                        new=sum(s.new for s in summaries),
                        statuses=sorted({s.status for s in summaries if s.status}),
                        errors=len(errors),
                        first_error=errors[0] if errors else None,
                    )
                )
        finally:
            await service.fetcher.aclose()
            service.close()

    asyncio.run(main())
    out.append({"mode": "stored", **store.counts()})
    engine.dispose()
    return out


def child(mode: str, base: str, n: int, workers: int) -> None:
    paths = [f"/feeds/{i}.xml" for i in range(n)]
    data = [run_bare(base, paths)] if mode == "bare" else run_project(base, paths, workers)
    print(json.dumps(data))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=int(os.environ.get("BENCH_FEEDS", "1000")))
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="parse processes for the project"
    )
    parser.add_argument("--child", choices=["bare", "project"], help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.base, args.feeds, args.workers)
        return
    print(f"building {args.feeds} feeds ...", flush=True)
    bodies = build_feeds(args.feeds)
    size = sum(len(b) for b in bodies.values())
    print(f"serving {args.feeds} feeds, {size / 2**20:.1f} MiB, from a loopback server process", flush=True)
    server = FeedServer(bodies)
    rows: list[dict[str, Any]] = []
    try:
        for mode in ("bare", "project"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--base",
                server.base,
                "--feeds",
                str(args.feeds),
                "--workers",
                str(args.workers),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"{mode} run failed:\n{done.stderr}")
            rows.extend(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        server.stop()
    print(f"\n{'mode':<26} {'feeds/s':>9} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13}")
    for row in rows:
        if "feeds_per_s" in row:
            print(
                f"{row['mode']:<26} {row['feeds_per_s']:>9.1f} {row['wall_s']:>8.2f} {row['cpu_s']:>8.2f} {row['peak_rss_mb']:>13.0f}"
            )
    bare, full, unchanged = (r for r in rows if "feeds_per_s" in r)
    stored = rows[-1]
    print(
        f"\nstored: {stored['articles']} articles, {stored['versions']} versions, {stored['fetches']} fetches;"
        f" full-cycle errors: {full['errors']} {full.get('first_error') or ''}"
    )
    print(f"full / bare feeds/s:      {full['feeds_per_s'] / bare['feeds_per_s']:.2f}x (target >= 0.8x)")
    print(f"unchanged / full feeds/s: {unchanged['feeds_per_s'] / full['feeds_per_s']:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
