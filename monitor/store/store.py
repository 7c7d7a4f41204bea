"""The Store: one object over one engine, its transactions (db.py) and its query families (sources.py,
articles.py) in one place; the edges hold a Store and write through its Connection. May import what store/
may (see its package docstring).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection as Connection  # re-exported: the type the edges write through

from monitor.models import PollOutcome, StoredVersion, VersionText
from monitor.store.articles import ArticleQueries
from monitor.store.sources import PollWrites, SourceQueries
from monitor.store.tables import articles, fetches, sources, versions


class Store(SourceQueries, ArticleQueries):
    """Transactions and queries over one engine. Every method is blocking: call it off the event loop."""

    def apply_outcome(
        self,
        conn: Connection,
        outcome: PollOutcome,
        url: str,
        writes: PollWrites | None = None,
        texts: dict[int, VersionText] | None = None,
        first_poll: bool = False,
    ) -> list[StoredVersion]:
        """Write one poll's outcome in the caller's transaction; return the versions it created (marked
        `first_poll` when the poll is its source's first successful one).

        Articles and versions are written at once (their ids are needed downstream); the source update and
        fetch row go to `writes` when given, so a batch of polls flushes them with one executemany each.
        Version numbers come from the row as stored, not from what the poll believed, so a rerun of the
        same poll (or a racing one) never writes a duplicate version. With `texts`, the new articles' texts
        go there by version id, as `load_version_texts` would read them (the watch step reads no text back).
        """
        stored = self._write_articles(
            conn, outcome.source_id, outcome.changes, outcome.now, outcome.track_pages, texts, first_poll
        )
        batch = writes if writes is not None else PollWrites()
        batch.add(outcome, url, stored)
        if writes is None:
            self.flush_writes(conn, batch)
        return stored

    def counts(self) -> dict[str, int]:
        """Row counts of the archive tables (for tests, benchmarks and health)."""
        with self.read() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in (
                    ("sources", sources),
                    ("articles", articles),
                    ("versions", versions),
                    ("fetches", fetches),
                )
            }
