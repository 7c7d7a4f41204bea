"""The search index, kept in the background: versions queued by triggers, indexed in batches of their own.

A poll's transaction stores articles, versions, stories, matches and alerts; triggers (migration 0009) only
queue each new or re-texted version in ``fts_pending`` (its id, and when it was queued). The indexer takes
the queue oldest first, BATCH versions a transaction: SQLite inserts them into ``fts_versions`` (FTS5),
Postgres writes their ``fts_document`` (and so the GIN indexes). A version is searchable once its batch
commits; nothing is lost to a crash (the queue rows go only with the commit that indexed them). Several
indexers on Postgres take disjoint batches (``FOR UPDATE SKIP LOCKED``); on SQLite the writes are one at
a time anyway. The daemon runs ``index_if_mine`` every second (one process of the fleet at a time, a job
lease); ``monitor poll`` runs ``drain`` at the end of its cycle, so a search right after it finds
everything (on SQLite in transactions of DRAIN_BATCH versions: FTS5 writes a segment per transaction).
``index_lag`` says how far behind the index is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.store import leases
from monitor.store.store import Store

__all__ = [
    "BATCH",
    "DRAIN_BATCH",
    "JOB",
    "SQLITE_INDEX",
    "IndexLag",
    "drain",
    "index_batch",
    "index_if_mine",
    "index_lag",
    "lag_in",
]

JOB = "search-index"
BATCH = 500  # versions indexed per transaction (SQLite holds its one write lock that long: ~0.1-0.3 s)
# SQLite, `monitor poll`'s drain: versions per transaction. FTS5 writes a segment per transaction (and
# merges them as they pile up), so 40,000 versions took 1.45 CPU s in batches of 500 and 0.9 in one, with
# a quarter of the writes. Bounded so a big backlog (a re-index) holds the write lock ~1 s at a time and
# grows the WAL by ~30 MB at most.
DRAIN_BATCH = 50_000
LEASE = timedelta(seconds=15)  # the job lease, renewed at every run (every second in the daemon)
BUDGET_SECONDS = 5.0  # one run of the daemon's indexer stops after this long (the next goes on)
PG_INDEXERS = 2  # Postgres: batches indexed at once by the daemon's indexer (each on its own connection)
# SQLite: the queued versions' text into FTS5, in rowid order. CROSS JOIN keeps fts_pending the outer loop:
# with a plain JOIN (and no ANALYZE statistics) the planner walked article_versions from its first id up to
# the batch's last, every version of the archive for the newest few queued (40 ms a batch at 40,000
# versions, 0.5 ms this way; half of a first poll's drain).
SQLITE_INDEX = (
    "INSERT INTO fts_versions(rowid, title, body, summary)"
    " SELECT v.id, v.title, v.body, v.summary FROM fts_pending p"
    " CROSS JOIN article_versions v ON v.id = p.id WHERE p.id <= :last"
)


@dataclass(frozen=True)
class IndexLag:
    """How far behind the search index is: versions committed but not yet searchable."""

    pending: int = 0
    seconds: float = 0.0  # since the oldest of them was queued (0 when none)

    def line(self) -> str:
        return (
            f"the search index is catching up: {self.pending:,} versions ({self.seconds:.0f} s) not yet "
            "searchable"
        )


def lag_in(conn: Connection, now: datetime) -> IndexLag:
    """The index's lag, read in an open transaction (a search's own)."""
    row = conn.execute(sa.text("SELECT count(*) AS n, min(queued_at) AS oldest FROM fts_pending")).one()
    if not row.n:
        return IndexLag()
    return IndexLag(int(row.n), max(now.timestamp() - float(row.oldest), 0.0))


def index_lag(store: Store, now: datetime) -> IndexLag:
    with store.read() as conn:
        return lag_in(conn, now)


def index_batch(store: Store, limit: int = BATCH, *, wait: bool = False) -> int:
    """Index up to ``limit`` queued versions, oldest first, in one transaction; how many were indexed.

    Postgres: queue rows another indexer holds are skipped, or waited for with ``wait`` (then found gone).
    """
    with store.write() as conn:
        if store.sqlite:
            last = conn.execute(
                sa.text("SELECT id FROM fts_pending ORDER BY id LIMIT 1 OFFSET :skip"), {"skip": limit - 1}
            ).scalar()
            bound = {"last": 2**62 if last is None else last}
            conn.execute(sa.text(SQLITE_INDEX), bound)
            return int(conn.execute(sa.text("DELETE FROM fts_pending WHERE id <= :last"), bound).rowcount)
        lock = "FOR UPDATE" if wait else "FOR UPDATE SKIP LOCKED"
        taken = list(
            conn.execute(
                sa.text(f"SELECT id FROM fts_pending ORDER BY id LIMIT :limit {lock}"), {"limit": limit}
            ).scalars()
        )
        if not taken:
            return 0
        ids = {"ids": taken}
        expanding: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
        conn.execute(
            sa.text(
                "UPDATE article_versions SET fts_document = fts_vector(title, summary, body) WHERE id IN :ids"
            ).bindparams(expanding),
            ids,
        )
        conn.execute(sa.text("DELETE FROM fts_pending WHERE id IN :ids").bindparams(expanding), ids)
        return len(taken)


def drain(store: Store, limit: int | None = None) -> int:
    """Index until nothing is queued (waiting for batches other indexers hold); how many this indexed.

    SQLite takes DRAIN_BATCH versions a transaction (Postgres BATCH, as its indexers do): this is
    `monitor poll` making its whole cycle searchable at once, where the daemon's indexer keeps its lock
    holds short.
    """
    size = limit or (DRAIN_BATCH if store.sqlite else BATCH)
    total = 0
    while done := index_batch(store, size, wait=True):
        total += done
    return total


def index_if_mine(
    store: Store,
    owner: str,
    now: datetime,
    budget: float = BUDGET_SECONDS,
    limit: int = BATCH,
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """The daemon's indexer: index what is queued for up to ``budget`` seconds (or until ``stopping``),
    unless another process of the fleet holds the job; how many versions were indexed."""
    with store.read() as conn:
        if conn.execute(sa.text("SELECT id FROM fts_pending LIMIT 1")).first() is None:
            return 0
    if not leases.take_job(store, JOB, owner, now, now + LEASE):
        return 0
    started = time.monotonic()

    def run() -> int:
        total = 0
        while time.monotonic() - started < budget and not stopping() and (done := index_batch(store, limit)):
            total += done
        return total

    if store.sqlite:  # one writer at a time anyway
        return run()
    # Postgres: the server computes the tsvectors; disjoint batches (SKIP LOCKED) on PG_INDEXERS connections.
    with ThreadPoolExecutor(PG_INDEXERS, thread_name_prefix="monitor-index") as pool:
        return sum(pool.map(lambda _: run(), range(PG_INDEXERS)))
