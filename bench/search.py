"""Full-text search latency on a synthetic archive: p50/p95 of ~200 varied queries, SQLite and Postgres.

The archive: N versions (default 1,000,000) of ~N/3.3 articles across 12 sources over a year, each
article 1-5 versions (edits change a few words), titles of 6-12 words, summaries of 20-40, bodies of
100-300, words drawn from a Zipf-distributed vocabulary of 30,000 made-up words (so some words are in
most articles and some in a handful). Built with executemany (SQLite, the FTS triggers indexing as they
would in production) or COPY (Postgres, the fts_* GIN indexes dropped during the load and made again after),
cached as bench/out/search-N.db and the Postgres database bench_search_N, so reruns skip building.

The queries: single words of five frequency bands (in ~50% of articles down to ~0.01%), two-word
phrases taken from the archive, prefixes, AND / OR / NOT, NEAR, title: scope, and words with a source or
date filter: each run through ``monitor.store.search.search`` (the engine, the matcher's check of each
hit and its snippet), 20 hits a page, after a warm-up pass.

    .venv/bin/python bench/search.py --versions 100000 --db both [--sort relevance|newest] [--lag 30]

``--lag SECONDS`` (default 20; 0: skip) then measures the background indexer on a fresh database of each
engine: a writer commits a "poll" of ``--rate`` new versions a second (long texts as above) while the
indexer runs as the daemon runs it (every second, ``index_if_mine``); it prints the writer's commit time
per version, the indexer's, and the lag from each commit until its versions are searchable (p50/p95/max;
the target: never more than 30 s).

A cached Postgres database is reused only if it carries the BUILT comment of the current layout.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402

from monitor.store.db import alembic_config, make_engine, upgrade  # noqa: E402
from monitor.store.search import SORTS, SearchQuery, Sort, search  # noqa: E402
from monitor.store.search_index import drain, index_if_mine  # noqa: E402
from monitor.store.store import Store  # noqa: E402

OUT = ROOT / "bench" / "out"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BUILT = "bench complete: fts_document indexed, fts_titles_gin of the indexed"  # else built again
START = datetime(2024, 1, 1, tzinfo=UTC)
SOURCES = [f"outlet-{i:02d}" for i in range(12)]
VOCABULARY = 30_000
SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"] + ["ka", "ro", "ni", "se", "tu"]


def make_vocabulary(rng: random.Random) -> list[str]:
    words: set[str] = set()
    ordered: list[str] = []
    while len(ordered) < VOCABULARY:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 3, 4))))
        if word not in words:
            words.add(word)
            ordered.append(word)
    return ordered


@dataclass
class Corpus:
    words: list[str]
    cumulative: list[float]
    rng: random.Random

    def text(self, low: int, high: int) -> str:
        return " ".join(
            self.rng.choices(self.words, cum_weights=self.cumulative, k=self.rng.randint(low, high))
        )


def corpus(seed: int = 7) -> Corpus:
    rng = random.Random(seed)
    words = make_vocabulary(rng)
    weights = [1.0 / (rank + 1) ** 1.05 for rank in range(len(words))]
    total, cumulative = 0.0, []
    for w in weights:
        total += w
        cumulative.append(total)
    return Corpus(words, cumulative, rng)


def edit(text: str, c: Corpus) -> str:
    words = text.split()
    for _ in range(c.rng.randint(1, 5)):
        words[c.rng.randrange(len(words))] = c.rng.choices(c.words, cum_weights=c.cumulative)[0]
    return " ".join(words)


def generate(versions: int, c: Corpus) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Articles with their versions until `versions` versions are made."""
    made = article = 0
    span = 365 * 24 * 3600
    while made < versions:
        article += 1
        count = min(c.rng.choice((1, 2, 3, 3, 4, 5, 5)), versions - made)
        first = START + timedelta(seconds=c.rng.randrange(span))
        title, summary, body = c.text(6, 12).capitalize(), c.text(20, 40), c.text(100, 300)
        rows = []
        for n in range(1, count + 1):
            if n > 1:
                body = edit(body, c)
                if c.rng.random() < 0.3:
                    title = edit(title, c)
            seen = first + timedelta(hours=3 * (n - 1))
            rows.append({"n": n, "title": title, "summary": summary, "body": body, "seen_at": seen})
        made += count
        yield {"id": article, "source_id": c.rng.randrange(len(SOURCES)) + 1, "first_seen": first}, rows


def sqlite_path(versions: int) -> Path:
    return OUT / f"search-{versions}.db"


def build_sqlite(versions: int) -> str:
    path = sqlite_path(versions)
    url = f"sqlite:///{path}"
    if path.exists():
        return url
    OUT.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".building")
    for old in OUT.glob(partial.name + "*"):
        old.unlink()
    engine = make_engine(f"sqlite:///{partial}")
    upgrade(engine)
    c = corpus()
    started = time.perf_counter()
    raw = engine.raw_connection()
    cur = raw.cursor()
    cur.execute("BEGIN")
    cur.executemany(
        "INSERT INTO sources (id, name, kind, config_url, url, enabled, in_config, tags, next_check_at,"
        " consecutive_errors, created_at) VALUES (?, ?, 'feed', ?, ?, 1, 1, '[]', ?, 0, ?)",
        [
            (i + 1, name, f"http://{name}/rss", f"http://{name}/rss", _sq(START), _sq(START))
            for i, name in enumerate(SOURCES)
        ],
    )
    a_rows: list[tuple[Any, ...]] = []
    v_rows: list[tuple[Any, ...]] = []
    done = 0
    for art, vers in generate(versions, c):
        last = vers[-1]
        a_rows.append(
            (
                art["id"],
                art["source_id"],
                f"k{art['id']}",
                f"http://x/{art['id']}",
                last["title"],
                _sq(art["first_seen"]),
                _sq(art["first_seen"]),
                _sq(last["seen_at"]),
                "h",
                len(vers),
            )
        )
        for v in vers:
            v_rows.append(
                (
                    art["id"],
                    v["n"],
                    v["title"],
                    v["summary"],
                    v["body"],
                    "[]",
                    "h",
                    _sq(v["seen_at"]),
                    _sq(art["first_seen"]),
                )
            )
        if len(v_rows) >= 20_000:
            done += _flush_sqlite(cur, a_rows, v_rows)
            cur.execute("COMMIT")
            cur.execute("BEGIN")
            _progress("sqlite", done, versions, started)
    done += _flush_sqlite(cur, a_rows, v_rows)
    cur.execute("COMMIT")
    _progress("sqlite", done, versions, started)
    raw.close()
    indexing = time.perf_counter()
    indexed = drain(Store(engine))  # the triggers only queued the versions: index them as the daemon would
    print(f"sqlite: indexed {indexed:,} versions in {time.perf_counter() - indexing:.0f} s", flush=True)
    raw = engine.raw_connection()
    cur = raw.cursor()
    cur.execute("INSERT INTO fts_versions(fts_versions) VALUES ('optimize')")
    cur.execute("ANALYZE")
    raw.close()
    engine.dispose()
    partial.rename(path)
    print(
        f"sqlite: built {path} in {time.perf_counter() - started:.0f} s, {path.stat().st_size / 2**20:.0f} MiB"
    )
    return url


def _sq(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _flush_sqlite(cur: Any, a_rows: list[tuple[Any, ...]], v_rows: list[tuple[Any, ...]]) -> int:
    cur.executemany(
        "INSERT INTO articles (id, source_id, key, url, title, published, first_seen, last_seen, content_hash,"
        " version_count, check_errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        a_rows,
    )
    cur.executemany(
        "INSERT INTO article_versions (article_id, n, title, summary, body, tags, content_hash, seen_at, published)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        v_rows,
    )
    count = len(v_rows)
    a_rows.clear()
    v_rows.clear()
    return count


def _progress(name: str, done: int, total: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    print(f"{name}: {done:,}/{total:,} versions, {elapsed:.0f} s", flush=True)


def pg_name(versions: int) -> str:
    return f"bench_search_q_{versions}"  # _q: the layout of migration 0009 (the queue)


def pg_url(versions: int) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{pg_name(versions)}"


def build_postgres(versions: int) -> str:
    name = pg_name(versions)
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        ready = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if ready:
            with psycopg.connect(pg_url(versions)) as conn:
                marked = conn.execute(
                    "SELECT obj_description('article_versions'::regclass, 'pg_class')"
                ).fetchone()
            if marked and marked[0] == BUILT:
                return pg_url(versions)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(pg_url(versions))
    upgrade(engine)
    engine.dispose()
    c = corpus()
    started = time.perf_counter()
    with psycopg.connect(pg_url(versions)) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'article_versions'"
            " AND indexname LIKE 'fts%%'"
        ).fetchall()
        for index, _ in indexes:
            conn.execute(f"DROP INDEX {index}")  # made again after the load, which is faster
        conn.execute("ALTER TABLE article_versions DISABLE TRIGGER fts_versions_insert")  # indexed below
        conn.execute(
            "INSERT INTO sources (id, name, kind, config_url, url, enabled, in_config, tags, next_check_at,"
            " consecutive_errors, created_at) SELECT i, 'outlet-' || lpad((i - 1)::text, 2, '0'), 'feed', 'u', 'u',"
            " true, true, '[]', now(), 0, now() FROM generate_series(1, %s) i",
            (len(SOURCES),),
        )
        a_buf, v_buf = io.StringIO(), io.StringIO()
        done = 0
        for art, vers in generate(versions, c):
            last = vers[-1]
            a_buf.write(
                f"{art['id']}\t{art['source_id']}\tk{art['id']}\thttp://x/{art['id']}\t{last['title']}\t"
                f"{art['first_seen'].isoformat()}\t{art['first_seen'].isoformat()}\t{last['seen_at'].isoformat()}\th\t{len(vers)}\t0\n"
            )
            for v in vers:
                v_buf.write(
                    f"{art['id']}\t{v['n']}\t{v['title']}\t{v['summary']}\t{v['body']}\t[]\th\t"
                    f"{v['seen_at'].isoformat()}\t{art['first_seen'].isoformat()}\n"
                )
            done += len(vers)
            if v_buf.tell() > 50_000_000:
                _copy_pg(conn, a_buf, v_buf)
                _progress("postgres", done, versions, started)
        _copy_pg(conn, a_buf, v_buf)
        _progress("postgres", done, versions, started)
        conn.execute("UPDATE article_versions SET fts_document = fts_vector(title, summary, body)")
        conn.execute("ALTER TABLE article_versions ENABLE TRIGGER fts_versions_insert")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM FULL article_versions")  # the rows as a load of indexed rows lays them out
        conn.autocommit = False
        conn.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('articles', 'id'), (SELECT max(id) FROM articles))"
        )
        conn.execute(f"COMMENT ON TABLE article_versions IS '{BUILT}'")
        conn.commit()
    with psycopg.connect(pg_url(versions), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"postgres: built {name} in {time.perf_counter() - started:.0f} s")
    return pg_url(versions)


def _copy_pg(conn: psycopg.Connection[Any], a_buf: io.StringIO, v_buf: io.StringIO) -> None:
    with conn.cursor() as cur:
        with cur.copy(
            "COPY articles (id, source_id, key, url, title, published, first_seen, last_seen, content_hash,"
            " version_count, check_errors) FROM STDIN"
        ) as copy:
            copy.write(a_buf.getvalue())
        with cur.copy(
            "COPY article_versions (article_id, n, title, summary, body, tags, content_hash, seen_at, published)"
            " FROM STDIN"
        ) as copy:
            copy.write(v_buf.getvalue())
    conn.commit()
    for buf in (a_buf, v_buf):
        buf.seek(0)
        buf.truncate()


def queries(count: int = 200, seed: int = 11, sort: Sort = "relevance") -> list[tuple[str, SearchQuery]]:
    """(kind, query) pairs: words of each frequency band, phrases, prefixes, booleans, scopes, filters."""
    c = corpus()
    rng = random.Random(seed)
    words = c.words
    bands = {
        "word-top": (0, 20),
        "word-common": (20, 200),
        "word-mid": (200, 2000),
        "word-rare": (2000, 10000),
        "word-tail": (10000, 30000),
    }

    def pick(band: str) -> str:
        low, high = bands[band]
        return words[rng.randrange(low, high)]

    def phrase() -> str:
        text = c.text(30, 30).split()
        i = rng.randrange(len(text) - 1)
        return f'"{text[i]} {text[i + 1]}"'

    makers = [
        *[(band, lambda band=band: pick(band)) for band in bands],
        ("phrase", phrase),
        ("prefix", lambda: pick("word-mid")[:4] + "*"),
        ("and", lambda: f"{pick('word-common')} AND {pick('word-mid')}"),
        ("or", lambda: f"{pick('word-mid')} OR {pick('word-rare')}"),
        ("not", lambda: f"{pick('word-mid')} NOT {pick('word-common')}"),
        ("near", lambda: f"{pick('word-common')} NEAR/5 {pick('word-mid')}"),
        ("title", lambda: f"title:{pick('word-common')}"),
        ("source", lambda: pick("word-mid")),
        ("dates", lambda: pick("word-common")),
    ]
    found: list[tuple[str, SearchQuery]] = []
    for i in range(count):
        kind, make = makers[i % len(makers)]
        text = make()
        query = SearchQuery(text, sort=sort)
        if kind == "source":
            query = SearchQuery(text, sources=(rng.choice(SOURCES),), sort=sort)
        elif kind == "dates":
            since = START + timedelta(days=rng.randrange(300))
            query = SearchQuery(text, since=since, until=since + timedelta(days=30), sort=sort)
        found.append((kind, query))
    return found


def measure(name: str, url: str, sort: Sort) -> None:
    engine = make_engine(url)
    store = Store(engine)
    plan = queries(sort=sort)
    for _, query in plan[:20]:
        search(store, query)
    timings: list[tuple[str, float, int, bool]] = []
    for kind, query in plan:
        started = time.perf_counter()
        page = search(store, query)
        timings.append((kind, (time.perf_counter() - started) * 1000, page.total, page.total_capped))
    engine.dispose()
    ms = sorted(t for _, t, _, _ in timings)
    print(
        f"\n{name} ({sort}): {len(ms)} queries  p50 {_pct(ms, 50):.1f} ms  p95 {_pct(ms, 95):.1f} ms"
        f"  max {ms[-1]:.1f} ms  (target: p95 under 100 ms)"
    )
    print(
        f"  {'kind':<12} {'n':>3} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'median total':>13} {'capped':>7}"
    )
    for kind in dict.fromkeys(k for k, _, _, _ in timings):
        mine = sorted(t for k, t, _, _ in timings if k == kind)
        totals = sorted(n for k, _, n, _ in timings if k == kind)
        capped = sum(c for k, _, _, c in timings if k == kind)
        print(
            f"  {kind:<12} {len(mine):>3} {_pct(mine, 50):>8.1f} {_pct(mine, 95):>8.1f} {mine[-1]:>8.1f}"
            f" {statistics.median(totals):>13,.0f} {capped:>7}"
        )


def before_queue() -> str:
    """The revision before the search index queue (migration *_search_indexer.py): indexing inline."""
    script = ScriptDirectory.from_config(alembic_config())
    found = next(r.down_revision for r in script.walk_revisions() if r.path.endswith("_search_indexer.py"))
    return str(found)


def lag_url(engine_name: str, revision: str = "head") -> str:
    """A fresh database for the lag run, migrated to ``revision``."""
    if engine_name == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / "search-lag.db"
        for old in OUT.glob(path.name + "*"):
            old.unlink()
        url = f"sqlite:///{path}"
    else:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute('DROP DATABASE IF EXISTS "bench_search_lag" WITH (FORCE)')
            admin.execute('CREATE DATABASE "bench_search_lag"')
        url = "postgresql://postgres@127.0.0.1:5432/bench_search_lag"
    engine = make_engine(url)
    upgrade(engine, revision)
    engine.dispose()
    return url


def measure_lag(name: str, url: str, seconds: float, rate: int, *, inline: bool = False) -> None:
    """A writer commits ``rate`` versions every second while the daemon's indexer runs; the lag of each.
    ``inline``: the database indexes in the writer's transaction (before the queue): the writer alone."""
    engine = make_engine(url)
    store = Store(engine)
    c = corpus(seed=13)
    with store.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sources (id, name, kind, config_url, url, enabled, in_config, tags, next_check_at,"
            " consecutive_errors, created_at) VALUES (1, 'wire', 'feed', 'u', 'u', true, true, '[]',"
            " '2024-01-01', 0, '2024-01-01')"
        )
    commits: list[tuple[float, int, float]] = []  # (committed at, highest version id, write seconds)
    indexed: list[tuple[float, int, int, float]] = []  # (committed at, highest id indexed, count, seconds)
    stop, written = threading.Event(), threading.Event()

    def writer() -> None:
        article = 0
        tick = time.monotonic()
        while not stop.is_set():
            rows = []
            for _ in range(rate):
                article += 1
                rows.append((article, c.text(6, 12), c.text(20, 40), c.text(100, 300)))
            started = time.monotonic()
            with store.write() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO articles (id, source_id, key, url, title, first_seen, last_seen,"
                        " content_hash, version_count, check_errors) VALUES (:id, 1, :key, :key, :title,"
                        " :now, :now, 'h', 1, 0)"
                    ),
                    [{"id": a, "key": f"k{a}", "title": t, "now": START} for a, t, _, _ in rows],
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO article_versions (article_id, n, title, summary, body, tags, content_hash,"
                        " seen_at) VALUES (:id, 1, :title, :summary, :body, '[]', 'h', :now)"
                    ),
                    [{"id": a, "title": t, "summary": su, "body": b, "now": START} for a, t, su, b in rows],
                )
                top = conn.exec_driver_sql("SELECT max(id) FROM article_versions").scalar_one()
            done = time.monotonic()
            commits.append((done, int(top), done - started))
            tick += 1.0
            stop.wait(max(tick - time.monotonic(), 0.0))

    def indexer() -> None:  # as the daemon schedules it: every second, a run at a time
        tick = time.monotonic()
        while not written.is_set() or (commits and (not indexed or indexed[-1][1] < commits[-1][1])):
            started = time.monotonic()
            with store.read() as conn:
                before = conn.exec_driver_sql("SELECT coalesce(min(id), 0) FROM fts_pending").scalar_one()
            count = index_if_mine(store, "bench:1", datetime.now(UTC))
            if count:
                known = commits[-1][1] if commits else before  # committed before the queue is read
                with store.read() as conn:
                    left = conn.exec_driver_sql("SELECT min(id) FROM fts_pending").scalar_one()
                top = (left - 1) if left is not None else known
                indexed.append((time.monotonic(), int(top), count, time.monotonic() - started))
            tick += 1.0
            time.sleep(max(tick - time.monotonic(), 0.0))

    writing, indexing = threading.Thread(target=writer), threading.Thread(target=indexer)
    writing.start()
    if not inline:
        indexing.start()
    time.sleep(seconds)
    stop.set()
    writing.join()
    written.set()
    if not inline:
        indexing.join()
    lags = []
    for committed, top, _ in commits:
        searchable = next((at for at, high, _, _ in indexed if high >= top), None)
        if searchable is not None:
            lags.append(searchable - committed)
    total = sum(n for _, _, n, _ in indexed)
    write_s = sum(w for _, _, w in commits)
    index_s = sum(i for _, _, _, i in indexed)
    lags.sort()
    if inline:
        engine.dispose()
        print(
            f"\n{name}, indexed inline (migration {before_queue()}): {len(commits)} commits of {rate} versions,"
            f" the writer {write_s / max(len(commits) * rate, 1) * 1e6:.0f} us a version"
        )
        return
    found = search(store, SearchQuery(c.text(1, 1), limit=1)).total  # a word of the archive: searchable
    engine.dispose()
    print(
        f"{name} lag: {len(commits)} commits of {rate} versions over {seconds:.0f} s; the writer"
        f" {write_s / max(len(commits) * rate, 1) * 1e6:.0f} us a version, the indexer"
        f" {index_s / max(total, 1) * 1e6:.0f} us a version ({total:,} indexed)"
    )
    print(
        f"  commit to searchable: p50 {_pct(lags, 50):.2f} s  p95 {_pct(lags, 95):.2f} s"
        f"  max {lags[-1]:.2f} s  (target: never over 30 s; a search after it found {found} articles)"
    )


def _pct(values: list[float], pct: int) -> float:
    return values[min(len(values) - 1, round(pct / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--versions", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--sort", choices=SORTS, default="relevance")
    parser.add_argument("--lag", type=float, default=20.0, metavar="SECONDS", help="0: no lag run")
    parser.add_argument("--rate", type=int, default=500, help="versions committed a second in the lag run")
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        url = build_sqlite(args.versions)
        with sa.create_engine(url).connect() as conn:
            count = conn.exec_driver_sql("SELECT count(*) FROM article_versions").scalar()
        print(f"sqlite: {count:,} versions")
        measure("sqlite", url, args.sort)
    if args.db in ("postgres", "both"):
        measure("postgres", build_postgres(args.versions), args.sort)
    for name in ("sqlite", "postgres") if args.lag > 0 else ():
        if args.db in (name, "both"):
            measure_lag(name, lag_url(name, before_queue()), args.lag, args.rate, inline=True)
            measure_lag(name, lag_url(name), args.lag, args.rate)


if __name__ == "__main__":
    main()
