"""The alert outbox as people read and steer it: the listing `monitor alerts`, the API and the pages share,
and putting alerts back in the queue (`monitor alerts retry`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from monitor.errors import NotFoundError
from monitor.store.repo import Store, articles, sources
from monitor.store.tables import Alert, Match

alerts = cast(sa.Table, Alert.__table__)
matches = cast(sa.Table, Match.__table__)

# The alert's own columns (never its lease), then what it is about: the matched article and its source.
_LISTED = (
    alerts.c.id,
    alerts.c.delivery_id,
    alerts.c.story_id,
    alerts.c.watch,
    alerts.c.channel,
    alerts.c.match_id,
    alerts.c.event,
    alerts.c.status,
    alerts.c.attempts,
    alerts.c.next_attempt_at,
    alerts.c.last_error,
    alerts.c.created_at,
    alerts.c.sent_at,
    articles.c.id.label("article_id"),
    articles.c.title,
    articles.c.url,
    sources.c.name.label("source"),
)


def list_alerts(store: Store, status: str | None, watch: str | None, limit: int) -> list[dict[str, Any]]:
    """Alerts newest first (optionally of one status or watch), each with its article's title, URL and source."""
    query = (
        sa.select(*_LISTED)
        .join(matches, matches.c.id == alerts.c.match_id)
        .join(articles, articles.c.id == matches.c.article_id)
        .join(sources, sources.c.id == articles.c.source_id)
        .order_by(alerts.c.created_at.desc(), alerts.c.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(alerts.c.status == status)
    if watch:
        query = query.where(alerts.c.watch == watch)
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def retry_alerts(store: Store, ids: list[int], now: datetime) -> int:
    """Put the given alerts (unless sent), or with no ids every failed one, back in the queue due now."""
    with store.write() as conn:
        if ids:
            found = {r.id for r in conn.execute(sa.select(alerts.c.id).where(alerts.c.id.in_(ids)))}
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFoundError(f"no alert {', '.join(map(str, missing))}")
            where = sa.and_(alerts.c.id.in_(ids), alerts.c.status != "sent")
        else:
            where = alerts.c.status == "failed"
        result = conn.execute(
            alerts.update()
            .where(where)
            .values(status="pending", attempts=0, next_attempt_at=now, lease_until=None, lease_owner=None)
        )
        return int(result.rowcount or 0)
