"""Fleet throughput: sources polled per second by 1, 2 and 4 `monitor run` processes on one Postgres.

N synthetic feeds (`--items` items of 100-400 words each) are served from one loopback server process;
each run gets a fresh Postgres database and starts the daemons together (same config, same URL), then
waits until every source has been polled once. Reported per run:
  sources/s      N / (last poll stored - first poll stored), from the fetch rows
  wall s         from launching the processes to the last poll stored (includes start-up)
  daemons CPU s  CPU of the daemon processes and their parse workers
  machine CPU %  all cores, sampled while polling (2 cores here, shared with Postgres and the server)
    .venv/bin/python bench/fleet.py --feeds 600 --processes 1,2,4
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import psycopg
import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.feedserver import FeedServer  # noqa: E402
from monitor.store.db import make_engine, upgrade  # noqa: E402
from monitor.store.tables import fetches  # noqa: E402
from tests.fixtures.feeds import filler_items, mt_rss  # noqa: E402

PG_ADMIN = os.environ.get("MONITOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def build_feeds(n: int, items: int) -> dict[str, bytes]:
    return {
        f"/feeds/{i}.xml": mt_rss(filler_items(items, seed=i, base=f"https://outlet{i}.example"))
        for i in range(n)
    }


def fresh_database() -> tuple[str, str]:
    name = f"nm_bench_fleet_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = sa.make_url(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1)).set(database=name)
    return name, url.render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_config(path: Path, base: str, paths: list[str], concurrency: int, per_host: int) -> None:
    data: dict[str, Any] = {
        "defaults": {
            "interval": "1h",
            "jitter": 0,
            "timeout": "120s",
            "concurrency": concurrency,
            "per_host": per_host,
        },
        "fleet": {"heartbeat": "2s"},
        "sources": [{"name": f"feed-{i:05d}", "feed": base + p} for i, p in enumerate(paths)],
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def polled(engine: sa.Engine) -> tuple[int, Any, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(sa.func.count(), sa.func.min(fetches.c.started_at), sa.func.max(fetches.c.started_at))
        ).one()
    return int(row[0]), row[1], row[2]


def run_fleet(processes: int, base: str, paths: list[str], concurrency: int, per_host: int) -> dict[str, Any]:
    name, url = fresh_database()
    engine = make_engine(url)
    upgrade(engine)
    workdir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    config = workdir / "feeds.yaml"
    write_config(config, base, paths, concurrency, per_host)
    env = dict(os.environ, MONITOR_CONFIG=str(config), MONITOR_DATABASE_URL=url)
    cpu_samples: list[float] = []
    stop_sampling = threading.Event()

    def sample() -> None:
        psutil.cpu_percent(None)
        while not stop_sampling.wait(0.5):
            cpu_samples.append(psutil.cpu_percent(None))

    started = time.monotonic()
    daemons = [
        subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--tick", "0.2", "--role", "poll"],
            env=env,
            stdout=(workdir / f"daemon-{i}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for i in range(processes)
    ]
    tree = [psutil.Process(d.pid) for d in daemons]
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu = 0.0
    try:
        while True:
            count, first, last = polled(engine)
            if count >= len(paths):
                break
            if any(d.poll() is not None for d in daemons):
                raise SystemExit(f"a daemon exited early; see {workdir}")
            if time.monotonic() - started > 1800:
                raise SystemExit(f"timed out with {count} of {len(paths)} polled; see {workdir}")
            time.sleep(0.2)
        wall = time.monotonic() - started
        for proc in tree:
            with_children = [proc, *proc.children(recursive=True)]
            for p in with_children:
                try:
                    times = p.cpu_times()
                    cpu += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
    finally:
        stop_sampling.set()
        for d in daemons:
            if d.poll() is None:
                d.send_signal(signal.SIGTERM)
        for d in daemons:
            try:
                d.wait(timeout=60)
            except subprocess.TimeoutExpired:
                d.kill()
        engine.dispose()
        drop_database(name)
    span = (last - first).total_seconds()
    return {
        "processes": processes,
        "sources": len(paths),
        "sources_per_s": round(len(paths) / span, 1) if span > 0 else None,
        "span_s": round(span, 1),
        "wall_s": round(wall, 1),
        "daemons_cpu_s": round(cpu, 1),
        "machine_cpu_pct": round(sum(cpu_samples) / len(cpu_samples), 0) if cpu_samples else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=600)
    parser.add_argument("--items", type=int, default=10, help="items per feed")
    parser.add_argument("--processes", default="1,2,4", help="comma-separated fleet sizes")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight per process")
    parser.add_argument("--per-host", type=int, default=64, help="fleet-wide (one loopback host serves all)")
    args = parser.parse_args()
    server = FeedServer(build_feeds(args.feeds, args.items))
    paths = [f"/feeds/{i}.xml" for i in range(args.feeds)]
    try:
        print(
            f"{args.feeds} feeds of {args.items} items on {server.base}; {os.cpu_count()} cores", flush=True
        )
        print("processes  sources/s  span s  wall s  daemons CPU s  machine CPU %", flush=True)
        for n in (int(x) for x in args.processes.split(",")):
            r = run_fleet(n, server.base, paths, args.concurrency, args.per_host)
            print(
                f"{r['processes']:>9}  {r['sources_per_s']:>9}  {r['span_s']:>6}  {r['wall_s']:>6}  "
                f"{r['daemons_cpu_s']:>13}  {r['machine_cpu_pct']:>13}",
                flush=True,
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
