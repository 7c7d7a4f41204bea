"""Polling throughput: the project's full and unchanged cycles against bare httpx (+ feedparser) passes.

N synthetic news feeds (30-50 items of 100-400 words) are served from a separate loopback server process.
Each measurement runs in its own process so peak RSS is its own:
  bare              one process, an httpx AsyncClient with 50 connections, feedparser.parse on the bytes,
                    nothing stored
  bare fetch only   the same client fetching every body and parsing nothing: the ceiling of any full cycle
                    that fetches with httpx (issue 13 asks for 3x the bare pass; this shows whether that
                    is above what fetching alone allows on the machine)
  bare conditional  the same client sending the ETags of a first pass: 304s, nothing parsed
  full (feedparser) `monitor poll` (defaults.parser: feedparser) timed as a whole process, from spawn to
                    exit (interpreter start, imports, migrations, story index, the cycle, delivery),
                    into a fresh SQLite database: everything stored, with the watch step (100 watches,
                    stories, alerts); the real command (monitor.cli.root.main), run by
                    bench/monitor_timed.py as the console script runs it, with the stage timers
                    patched in
  full (hybrid)     the same with the default parser (fastfeedparser, feedparser when unsure)
  unchanged         `monitor poll` again on the hybrid's database: conditional GETs answered 304
Figures: feeds/s, CPU seconds (process + children, and per process role), peak RSS of each process
(main, forkserver, parse workers) and of the tree, the time from spawn to the first request, and busy seconds per stage (fetch, parse, write transaction, of which the watch step), summed
over concurrent work, so they show where the time goes rather than add up to the wall time.

    .venv/bin/python bench/poll.py --feeds 1000
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.feedserver import FeedServer  # noqa: E402
from tests.fixtures.feeds import _WORDS, filler_items, mt_rss  # noqa: E402

CONCURRENCY = 50
WATCHES = int(os.environ.get("BENCH_WATCHES", "100"))  # -1: no watch step at all (the issue-2 figures)


def bench_watches(n: int) -> list[str]:
    """Watch queries shaped like users': names and places the feeds never mention (most watches match
    nothing most of the time), and three phrases of three of the feeds' words, OR'd (each watch in about
    0.5% of items: the feeds draw from 54 words, so a two-word phrase was in 8.6% of items and the
    bench's drafts hit 1.7 watches each, where users' watches rarely match)."""
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
        lambda i: " OR ".join(
            f'"{rng.choice(words)} {rng.choice(words)} {rng.choice(words)}"' for _ in range(3)
        ),
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
        self.peak_process = 0
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
            rss = own = self.proc.memory_info().rss
            for child in self.proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    one = child.memory_info().rss
                    rss += one
                    own = max(own, one)
            self.peak = max(self.peak, rss)
            self.peak_process = max(self.peak_process, own)
            self._tree_cpu()
            self._stop.wait(0.25)  # psutil walks /proc: sampling faster costs the measured process

    def __enter__(self) -> Meter:
        self._child_cpu.clear()
        self.cpu0 = self._tree_cpu()
        self._child_cpu_start = dict(self._child_cpu)
        self.t0 = time.perf_counter()
        self.peak = 0
        self.peak_process = 0
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
        "peak_process_mb": meter.peak_process / 2**20,
        **extra,
    }


def run_bare(base: str, paths: list[str]) -> list[dict[str, Any]]:
    import feedparser
    import httpx

    etags: dict[str, str] = {}

    async def main(conditional: bool, parse: bool = True) -> tuple[int, int]:
        entries = not_modified = 0
        limit = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as client:

            async def one(path: str) -> None:
                nonlocal entries, not_modified
                headers = {"If-None-Match": etags[path]} if conditional and path in etags else {}
                async with limit:
                    response = await client.get(base + path, headers=headers)
                if response.status_code == 304:
                    not_modified += 1
                    return
                if etag := response.headers.get("etag"):
                    etags[path] = etag
                if not conditional and parse:
                    entries += len(feedparser.parse(response.content).entries)

            await asyncio.gather(*(one(p) for p in paths))
        return entries, not_modified

    with Meter() as meter:
        entries, _ = asyncio.run(main(False))
    out = [result("bare httpx+feedparser", len(paths), meter, entries=entries)]
    with Meter() as meter:  # the floor of any cycle that fetches every body with httpx: nothing parsed
        asyncio.run(main(False, parse=False))
    out.append(result("bare fetch only (200)", len(paths), meter))
    with Meter() as meter:
        _, not_modified = asyncio.run(main(True))
    out.append(result("bare conditional (304)", len(paths), meter, not_modified=not_modified))
    return out


class ProcessMeter:
    """Wall time of one child process from spawn to exit, CPU seconds of its tree, and the peak RSS of
    each of its processes (the main one, the forkserver and the parse workers), sampled."""

    def __init__(self, cmd: list[str]) -> None:
        self.cmd = cmd
        self.peaks: dict[int, tuple[str, int]] = {}
        self.peak_tree = 0
        self.cpu_of: dict[int, float] = {}  # CPU seconds of each process, as last sampled

    def _role(self, proc: psutil.Process, main: psutil.Process) -> str:
        if proc.pid == main.pid:
            return "main"
        with contextlib.suppress(psutil.Error):
            if proc.ppid() == main.pid:  # the forkserver, the resource tracker
                return "forkserver" if "forkserver" in " ".join(proc.cmdline()) else "helper"
        return "parse worker"  # forked by the forkserver

    def _sample(self, main: psutil.Process) -> None:
        tree = 0
        with contextlib.suppress(psutil.Error):
            procs = [main, *main.children(recursive=True)]
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    rss = proc.memory_info().rss
                    tree += rss
                    role, peak = self.peaks.get(proc.pid, (self._role(proc, main), 0))
                    self.peaks[proc.pid] = (role, max(peak, rss))
                    self.cpu_of[proc.pid] = sum(proc.cpu_times()[:2])
        self.peak_tree = max(self.peak_tree, tree)

    def run(self) -> subprocess.CompletedProcess[str]:
        t0 = time.time()
        self.started = t0
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            child = subprocess.Popen(self.cmd, stdout=out, stderr=err, text=True)
            main = psutil.Process(child.pid)
            while child.poll() is None:
                self._sample(main)
                time.sleep(0.25)  # psutil walks /proc: sampling faster costs the measured processes
            self.wall = time.time() - t0
            self.cpu = sum(self.cpu_of.values())
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(self.cmd, child.returncode, out.read(), err.read())


def run_project(base: str, paths: list[str], parser: str) -> list[dict[str, Any]]:
    """`monitor poll` as a whole process (interpreter start, imports, migrations, the story index, the
    cycle, delivery) into a fresh SQLite database; with the hybrid also the unchanged cycle after it."""
    import yaml

    tmp = Path(tempfile.mkdtemp(prefix="bench-poll-"))
    config = {
        "database": f"sqlite:///{tmp}/bench.db",
        "defaults": {
            "concurrency": CONCURRENCY,
            "per_host": CONCURRENCY,
            "timeout": "60s",
            "parser": parser,
        },
        "sources": [{"name": f"feed-{i}", "feed": base + p} for i, p in enumerate(paths)],
        "watches": [{"name": f"w{i}", "query": q} for i, q in enumerate(bench_watches(max(WATCHES, 0)))],
    }
    (tmp / "feeds.yaml").write_text(yaml.safe_dump(config))
    out = []
    names = [f"full ({parser})"] + (["unchanged cycle (304)"] if parser == "hybrid" else [])
    for name in names:
        stats = tmp / "stats.json"
        cmd = [
            sys.executable,
            str(ROOT / "bench" / "monitor_timed.py"),
            str(stats),
            "--config",
            str(tmp / "feeds.yaml"),
        ]
        cmd += ["poll", "--format", "json"]
        meter = ProcessMeter(cmd)
        done = meter.run()
        if done.returncode != 0:
            sys.exit(f"{name}: monitor poll failed ({done.returncode}):\n{done.stderr[-3000:]}")
        polls = json.loads(done.stdout)
        info = json.loads(stats.read_text())
        first = info["first_request"]
        by_role: dict[str, int] = {}
        cpu_by_role: dict[str, float] = {}
        for pid, (role, peak) in meter.peaks.items():
            by_role[role] = max(by_role.get(role, 0), peak)
            cpu_by_role[role] = cpu_by_role.get(role, 0.0) + meter.cpu_of.get(pid, 0.0)
        errors = [p["error"] for p in polls if p.get("error")]
        out.append(
            {
                "mode": name,
                "feeds": len(paths),
                "wall_s": meter.wall,
                "feeds_per_s": len(paths) / meter.wall,
                "cpu_s": meter.cpu,
                "peak_rss_mb": meter.peak_tree / 2**20,
                "peak_process_mb": max(by_role.values()) / 2**20,
                "peak_by_role_mb": {k: round(v / 2**20) for k, v in by_role.items()},
                "cpu_by_role_s": {k: round(v, 2) for k, v in cpu_by_role.items()},
                "first_request_s": None if first is None else first - meter.started,
                "new": sum(p["new"] for p in polls),
                "statuses": sorted({p["status"] for p in polls if p.get("status")}),
                "errors": len(errors),
                "first_error": errors[0] if errors else None,
                "stages": info["stages"],
            }
        )
    from monitor.store.db import make_engine
    from monitor.store.store import Store

    engine = make_engine(f"sqlite:///{tmp}/bench.db")
    out.append({"mode": f"stored ({parser})", **Store(engine).counts()})
    engine.dispose()
    return out


def child(mode: str, base: str, n: int) -> None:
    paths = [f"/feeds/{i}.xml" for i in range(n)]
    data = run_bare(base, paths) if mode == "bare" else run_project(base, paths, mode)
    print(json.dumps(data))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=int(os.environ.get("BENCH_FEEDS", "1000")))
    parser.add_argument("--child", choices=["bare", "feedparser", "hybrid"], help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.base, args.feeds)
        return
    # Every measured process imports the code as an installed package does, from bytecode compiled once
    # (pip compiles a wheel's modules at install, and a plain editable install writes them on its first
    # run; with PYTHONDONTWRITEBYTECODE set, as on some machines, nothing ever writes them and each spawn
    # would compile monitor/ anew, ~0.4 CPU s in the main process and as much in the fork server).
    for package in ("monitor", "bench", "tests/fixtures"):
        compileall.compile_dir(ROOT / package, quiet=1)
    print(f"building {args.feeds} feeds ...", flush=True)
    bodies = build_feeds(args.feeds)
    size = sum(len(b) for b in bodies.values())
    print(f"serving {args.feeds} feeds, {size / 2**20:.1f} MiB, from a loopback server process", flush=True)
    server = FeedServer(bodies)
    rows: list[dict[str, Any]] = []
    try:
        for mode in ("bare", "feedparser", "hybrid"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--base",
                server.base,
                "--feeds",
                str(args.feeds),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"{mode} run failed:\n{done.stderr}")
            rows.extend(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        server.stop()
    print(
        f"\n{'mode':<26} {'feeds/s':>9} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13} {'biggest process':>16}"
    )
    for row in rows:
        if "feeds_per_s" in row:
            print(
                f"{row['mode']:<26} {row['feeds_per_s']:>9.1f} {row['wall_s']:>8.2f} {row['cpu_s']:>8.2f}"
                f" {row['peak_rss_mb']:>13.0f} {row['peak_process_mb']:>16.0f}"
            )
    timed = {r["mode"]: r for r in rows if "feeds_per_s" in r}
    bare, conditional = timed["bare httpx+feedparser"], timed["bare conditional (304)"]
    classic, hybrid, unchanged = (
        timed["full (feedparser)"],
        timed["full (hybrid)"],
        timed["unchanged cycle (304)"],
    )
    print("\nbusy seconds per stage (summed over concurrent work):")
    for row in (classic, hybrid, unchanged):
        print(f"  {row['mode']:<24} " + ", ".join(f"{k} {v}" for k, v in row["stages"].items()))
    print("\npeak RSS per process (MiB) and time from spawn to the first request:")
    for row in (classic, hybrid, unchanged):
        roles = ", ".join(f"{k} {v}" for k, v in row["peak_by_role_mb"].items())
        print(f"  {row['mode']:<24} {roles}; first request after {row['first_request_s']:.2f} s")
    print("\nCPU seconds per process role (summed over processes of a role, as last sampled):")
    for row in (classic, hybrid, unchanged):
        print(f"  {row['mode']:<24} " + ", ".join(f"{k} {v:.2f}" for k, v in row["cpu_by_role_s"].items()))
    for row in rows:
        if row["mode"].startswith("stored"):
            print(
                f"{row['mode']}: {row['articles']} articles, {row['versions']} versions, {row['fetches']} fetches"
            )
    for row in (classic, hybrid):
        if row["errors"]:
            print(f"{row['mode']} errors: {row['errors']} {row.get('first_error') or ''}")
    print(
        f"\nfull (hybrid) / bare feeds/s:        {hybrid['feeds_per_s'] / bare['feeds_per_s']:.2f}x (target >= 3x)"
    )
    print(f"full (feedparser) / bare feeds/s:    {classic['feeds_per_s'] / bare['feeds_per_s']:.2f}x")
    for row in (hybrid, classic):
        index_s = row["stages"].get("search index (after the cycle)", 0.0)
        print(
            f"{row['mode']}, spawn to the last row committed (the search index drained after it, {index_s:.2f} s,"
            f" left out): {row['feeds'] / (row['wall_s'] - index_s) / bare['feeds_per_s']:.2f}x bare"
        )
    fetch_only = timed["bare fetch only (200)"]
    print(
        f"bare fetch only (every body, nothing parsed) / bare feeds/s: "
        f"{fetch_only['feeds_per_s'] / bare['feeds_per_s']:.2f}x (the ceiling of any full cycle using httpx)"
    )
    print(
        f"unchanged / bare conditional feeds/s: {unchanged['feeds_per_s'] / conditional['feeds_per_s']:.2f}x"
        " (target >= 0.8x)"
    )
    biggest = max(r["peak_process_mb"] for r in timed.values())
    print(f"biggest single process: {biggest:.0f} MiB (target <= 250 MiB)")


if __name__ == "__main__":
    main()
