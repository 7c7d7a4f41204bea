"""`monitor poll` over the 189 real feeds of ../shared/corpora/real-feeds, against a bare pass.

The feeds are served as captured from a loopback server process (their entry links point at the
internet, so no link following). Two whole processes are timed, each started the same way:
  bare     concurrent httpx GETs + feedparser.parse of every feed (no storage)
  monitor  `python -m monitor poll` on a config of the 189 feeds into a fresh, migrated SQLite database
Then `monitor poll` runs again with every source's validators and body hash cleared (so every feed is
parsed again) and the archive must not grow: no entry is stored twice. Figures: wall seconds of each
process (best of --repeat), the ratio, entries seen by feedparser, articles archived, feeds that failed,
and the load average before and after (the machine is shared: compare ratios measured in one run).

The project's modules are byte-compiled first (as any install does): the bare pass's httpx and feedparser
load compiled bytecode from site-packages, and with PYTHONDONTWRITEBYTECODE set a checkout would
otherwise compile every monitor module at every start.

    .venv/bin/python bench/realfeeds.py [--repeat 3] [--profile out.svg]
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.feedserver import FeedServer  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "real-feeds"
CONCURRENCY = 32


def load_feeds() -> dict[str, bytes]:
    if not CORPUS.is_dir():
        sys.exit(f"{CORPUS} is missing: this benchmark reads the shared real-feeds corpus")
    return {
        f"/feeds/{p.name[:-7]}.xml": gzip.decompress(p.read_bytes()) for p in sorted(CORPUS.glob("*.xml.gz"))
    }


def bare(base: str, paths: list[str]) -> None:
    """The child process of the bare pass: print the number of entries feedparser found."""
    import feedparser
    import httpx

    async def main() -> int:
        entries = 0
        limit = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY), timeout=60) as client:

            async def one(path: str) -> None:
                nonlocal entries
                async with limit:
                    try:
                        response = await client.get(base + path)
                    except httpx.TransportError as exc:  # seen under heavy load: say so, try once more
                        print(f"bare: {path}: {type(exc).__name__}: {exc!r}; retried", file=sys.stderr)
                        response = await client.get(base + path)
                entries += len(feedparser.parse(response.content).entries)

            await asyncio.gather(*(one(p) for p in paths))
        return entries

    print(json.dumps({"entries": asyncio.run(main())}))


def timed(
    cmd: list[str], env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode == 0 and "retried" in done.stderr:
        print(done.stderr.strip(), flush=True)
    if done.returncode != 0:
        err = done.stderr if len(done.stderr) < 6000 else done.stderr[:2500] + "\n...\n" + done.stderr[-3000:]
        sys.exit(f"{' '.join(cmd[:4])} ... failed ({done.returncode}):\n{err}")
    return elapsed, done


def monitor_env(config: Path, db: str) -> dict[str, str]:
    return {**os.environ, "MONITOR_CONFIG": str(config), "MONITOR_DATABASE_URL": db}


def reset_validators(db: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(db)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = NULL"))
    engine.dispose()


def count(db: str, table: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(db)
    with engine.connect() as conn:
        n = int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    engine.dispose()
    return n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each pass; the best is reported")
    parser.add_argument("--profile", metavar="SVG", help="also run one `monitor poll` under py-spy")
    parser.add_argument("--child", choices=["bare"], help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bodies = load_feeds()
    paths = sorted(bodies)
    if args.child == "bare":
        bare(args.base, paths)
        return
    size = sum(len(b) for b in bodies.values())
    compileall.compile_dir(ROOT / "monitor", quiet=1)
    compileall.compile_dir(ROOT / "migrations", quiet=1)
    print("load average {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg()), flush=True)
    print(
        f"serving {len(bodies)} real feeds, {size / 2**20:.1f} MiB, from a loopback server process",
        flush=True,
    )
    server = FeedServer(bodies)
    rows: list[dict[str, Any]] = []
    try:
        tmp = Path(tempfile.mkdtemp(prefix="bench-realfeeds-"))
        config = tmp / "feeds.yaml"
        sources = [{"name": p.rsplit("/", 1)[1][:-4], "feed": server.base + p} for p in paths]
        defaults = {"concurrency": CONCURRENCY, "per_host": CONCURRENCY, "timeout": "60s"}
        config.write_text(yaml.safe_dump({"defaults": defaults, "sources": sources}), encoding="utf-8")
        monitor = [sys.executable, "-m", "monitor", "poll", "--format", "json"]
        bare_cmd = [sys.executable, __file__, "--child", "bare", "--base", server.base]
        bare_times, monitor_times = [], []
        entries = archived = failed = 0
        for run in range(args.repeat):
            elapsed, done = timed(bare_cmd)
            bare_times.append(elapsed)
            entries = json.loads(done.stdout.strip().splitlines()[-1])["entries"]
            db = f"sqlite:///{tmp}/run{run}.db"
            env = monitor_env(config, db)
            timed([sys.executable, "-m", "monitor", "db", "upgrade"], env)
            elapsed, done = timed(monitor, env)
            monitor_times.append(elapsed)
            polled = json.loads(done.stdout)
            failures = [f"{p['source']}: {p['error']}" for p in polled if p["error"]]
            failed = len(failures)
            for line in failures:
                print(f"  failed: {line}", flush=True)
            archived = count(db, "articles")
            reset_validators(db)
            timed(monitor, env)
            if count(db, "articles") != archived:
                sys.exit(f"the second poll stored {count(db, 'articles') - archived} articles twice")
            rows.append({"bare_s": bare_times[-1], "monitor_s": monitor_times[-1]})
            print(
                f"run {run + 1}: bare {bare_times[-1]:.2f}s, monitor poll {monitor_times[-1]:.2f}s",
                flush=True,
            )
        if args.profile:
            db = f"sqlite:///{tmp}/profile.db"
            env = monitor_env(config, db)
            timed([sys.executable, "-m", "monitor", "db", "upgrade"], env)
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            spy = [py_spy, "record", "-o", args.profile, "--subprocesses", "--"]
            timed([*spy, *monitor], env)
            print(f"profile written to {args.profile}")
    finally:
        server.stop()
    best_bare, best_monitor = min(bare_times), min(monitor_times)
    print("load average {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg()))
    print(f"\nentries feedparser sees: {entries}; articles archived: {archived}; feeds failed: {failed}")
    print("second poll with validators cleared: no article stored twice")
    print(f"bare httpx + feedparser process: {best_bare:.2f} s (best of {args.repeat})")
    print(f"monitor poll process:            {best_monitor:.2f} s (best of {args.repeat})")
    print(f"monitor poll / bare:             {best_monitor / best_bare:.2f}x (target <= 1.25x)")


if __name__ == "__main__":
    main()
