"""Retention: delete bookkeeping rows older than the `retention:` settings, so the database stays the size
of its archive. Versions are kept unless `retention.versions` is set; pending alerts, flagged matches and
anything an alert or an open story still needs are never deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.config import RetentionSettings
from monitor.core.stories import WINDOW
from monitor.store import leases
from monitor.store.leases import process_owner
from monitor.store.store import Store
from monitor.store.tables import alerts, articles, fetches, matches, stories, story_watches, versions

# A story is open while an article can still join it (the grouping window, with a day to spare).
OPEN_STORY = WINDOW + timedelta(days=1)
JOB = "prune"


def _doomed(
    retention: RetentionSettings, now: datetime
) -> dict[str, tuple[sa.Table, sa.ColumnElement[bool]]]:
    """Per table, the rows past their retention (in deletion order: matches before the versions)."""
    doomed: dict[str, tuple[sa.Table, sa.ColumnElement[bool]]] = {}
    if retention.fetches is not None:
        doomed["fetches"] = (fetches, fetches.c.started_at < now - retention.fetches)
    if retention.alerts is not None:
        doomed["alerts"] = (
            alerts,
            sa.and_(
                alerts.c.status.in_(["sent", "failed"]),
                sa.func.coalesce(alerts.c.sent_at, alerts.c.created_at) < now - retention.alerts,
            ),
        )
    if retention.matches is not None:
        open_story = (
            sa.select(stories.c.id)
            .where(stories.c.id == matches.c.story_id, stories.c.last_seen >= now - OPEN_STORY)
            .exists()
        )
        doomed["matches"] = (
            matches,
            sa.and_(
                matches.c.flagged.is_(False),
                matches.c.created_at < now - retention.matches,
                ~open_story,
                ~sa.select(alerts.c.id).where(alerts.c.match_id == matches.c.id).exists(),
                ~sa.select(story_watches.c.id).where(story_watches.c.match_id == matches.c.id).exists(),
            ),
        )
    if retention.versions is not None:
        later = versions.alias("later")
        doomed["versions"] = (
            versions,
            sa.and_(
                versions.c.seen_at < now - retention.versions,
                # never an article's latest version, one a kept revert points at, or one a match or alert names
                sa.select(articles.c.id)
                .where(articles.c.id == versions.c.article_id, articles.c.version_count > versions.c.n)
                .exists(),
                ~sa.select(later.c.id)
                .where(later.c.article_id == versions.c.article_id, later.c.reverts_to == versions.c.n)
                .exists(),
                ~sa.select(matches.c.id).where(matches.c.version_id == versions.c.id).exists(),
                ~sa.select(alerts.c.id).where(alerts.c.version_id == versions.c.id).exists(),
            ),
        )
    return doomed


def prune(
    store: Store, retention: RetentionSettings, now: datetime, *, dry_run: bool = False
) -> dict[str, int]:
    """Delete (or, dry, count) the rows past retention; the count per table."""
    counts: dict[str, int] = {}
    for name, (table, where) in _doomed(retention, now).items():
        with store.write() as conn:
            counts[name] = _count(conn, table, where) if dry_run else _delete(conn, table, where)
    return counts


def _count(conn: Connection, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one())


def _delete(conn: Connection, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(table.delete().where(where)).rowcount or 0)


def prune_if_mine(store: Store, retention: RetentionSettings, owner: str | None = None) -> dict[str, int]:
    """Prune unless another process of the fleet is pruning now (a job lease); {} when it is."""
    owner = owner or process_owner()
    now = datetime.now(UTC)
    if not leases.take_job(store, JOB, owner, now, now + timedelta(hours=1)):
        return {}
    try:
        return {name: n for name, n in prune(store, retention, now).items() if n}
    finally:
        leases.finish_job(store, JOB, owner, datetime.now(UTC))
