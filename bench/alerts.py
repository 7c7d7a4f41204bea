"""How long the outbox takes to deliver N pending alerts to a signed webhook on loopback.

Builds an archive holding N stories, each with one article, one match and one pending alert (in a fresh
SQLite file, or a fresh Postgres database with --db postgres), starts a real HTTP receiver on 127.0.0.1
that checks every signature, and times `Outbox.deliver_all()`: claim, render, sign, POST, mark sent.

    .venv/bin/python bench/alerts.py [--alerts 1000] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import yaml  # noqa: E402

from monitor.config import parse_settings  # noqa: E402
from monitor.notify.webhook import verify_signature  # noqa: E402
from monitor.runtime import delivering  # noqa: E402
from monitor.store.db import make_engine, upgrade  # noqa: E402
from monitor.store.store import Store  # noqa: E402
from monitor.store.tables import alerts, articles, matches, sources, stories, versions  # noqa: E402

SECRET = "bench-secret"
PG_DB = f"bench_alerts_{os.getpid()}"


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.bad = 0
        self.ids: set[str] = set()
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = verify_signature(SECRET, body, self.headers.get("X-Monitor-Signature"))
                with lock:
                    outer.count += 1
                    outer.bad += not ok
                    outer.ids.add(self.headers.get("X-Monitor-Delivery", ""))
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"


def fill(store: Store, n: int) -> None:
    now = datetime.now(UTC)
    with store.write() as conn:
        source_id = conn.execute(
            sources.insert()
            .values(
                name="wire",
                kind="feed",
                config_url="https://wire.example/rss",
                url="https://wire.example/rss",
                enabled=True,
                in_config=True,
                tags=[],
                next_check_at=now + timedelta(days=1),
                consecutive_errors=0,
                created_at=now,
            )
            .returning(sources.c.id)
        ).scalar_one()
        body = " ".join(["North Korea has sent troops to Russia, Seoul's intelligence agency said."] * 12)
        for start in range(0, n, 500):
            ids = range(start, min(n, start + 500))
            conn.execute(
                stories.insert(),
                [
                    {
                        "id": i + 1,
                        "title": f"Story {i}",
                        "first_seen": now,
                        "last_seen": now,
                        "article_count": 1,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                articles.insert(),
                [
                    {
                        "id": i + 1,
                        "source_id": source_id,
                        "key": f"k{i}",
                        "url": f"https://wire.example/news/{i}",
                        "title": f"North Korean troops in Russia, report {i}",
                        "published": now,
                        "first_seen": now,
                        "last_seen": now,
                        "content_hash": f"{i:064x}",
                        "version_count": 1,
                        "story_id": i + 1,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                versions.insert(),
                [
                    {
                        "id": i + 1,
                        "article_id": i + 1,
                        "n": 1,
                        "title": f"North Korean troops in Russia, report {i}",
                        "summary": "",
                        "body": body,
                        "tags": [],
                        "content_hash": f"{i:064x}",
                        "seen_at": now,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                matches.insert(),
                [
                    {
                        "id": i + 1,
                        "watch": "nk",
                        "article_id": i + 1,
                        "version_id": i + 1,
                        "story_id": i + 1,
                        "terms": ["North Korea", "troops"],
                        "snippet": "**North Korea** has sent **troops** to Russia",
                        "flagged": True,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                alerts.insert(),
                [
                    {
                        "delivery_id": uuid.uuid4().hex,
                        "story_id": i + 1,
                        "watch": "nk",
                        "channel": "hook",
                        "match_id": i + 1,
                        "event": "new_story",
                        "event_key": f"story:{i + 1}",
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
        if store.engine.dialect.name == "postgresql":
            for table in ("stories", "articles", "article_versions", "matches"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )


def run(url: str, n: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    store = Store(engine)
    fill(store, n)
    receiver = Receiver()
    settings = parse_settings(
        yaml.safe_dump(
            {
                "watches": [{"name": "nk", "query": "troops", "channels": ["hook"]}],
                "channels": [{"name": "hook", "type": "webhook", "url": receiver.url, "secret": SECRET}],
            }
        ),
        "bench.yaml",
        env={},
    )

    async def go() -> Any:
        async with delivering(settings, store) as outbox:
            return await outbox.deliver_all()

    started, cpu = time.perf_counter(), time.process_time()
    report = asyncio.run(go())
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    with store.read() as conn:
        sent = conn.execute(alerts.select().where(alerts.c.status == "sent")).all()
    engine.dispose()
    receiver.httpd.shutdown()
    print(
        f"{engine.dialect.name:10s} {n} pending alerts -> {report.sent} sent in {elapsed:.2f} s "
        f"({report.sent / elapsed:.0f} alerts/s, {elapsed / max(1, report.sent) * 1000:.1f} ms each, "
        f"CPU {cpu:.2f} s); receiver got {receiver.count} requests, {len(receiver.ids)} distinct ids, "
        f"{receiver.bad} bad signatures; {len(sent)} rows marked sent"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/alerts.db", args.alerts)
    if args.db in ("postgres", "both"):
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
            admin.execute(f"CREATE DATABASE {PG_DB}")
        try:
            run(f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}", args.alerts)
        finally:
            with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {PG_DB}")


if __name__ == "__main__":
    main()
