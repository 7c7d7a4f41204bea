"""The alert outbox's rows: which channels have alerts due, leasing them to a process, marking them sent or
failed, the times a digest schedule counts from, and everything an alert message says (read from the archive).

The delivery loop (monitor/outbox.py) calls these from worker threads; each function is one transaction.
`list_alerts` is the one outbox listing (`monitor alerts`, /api/v1/alerts, the pages); `retry_alerts` puts
alerts back in the queue (`monitor alerts retry`).
Alert rows themselves are written with the match that causes them (monitor/watching.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa

from monitor.core.delivery import AfterFailure, edit_changes, snippet_from_marked
from monitor.core.render import AlertContext, ArticleInfo, Outlet, StoryInfo
from monitor.errors import NotFoundError
from monitor.store.leases import ALERTS, give_back, take_leases
from monitor.store.store import Store
from monitor.store.tables import alerts, articles, matches, sources, versions

ERROR_MAX = 2000  # characters of a delivery error kept on the row


@dataclass(frozen=True, slots=True)
class Claimed:
    """An alert leased to this process for one delivery attempt."""

    id: int
    delivery_id: str
    channel: str
    watch: str
    event: str
    attempts: int
    story_id: int
    match_id: int
    created_at: datetime
    version_id: int | None = None  # the version the alert is about when it is not the match's


def _due(now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """Pending, due and not leased (or its lease ran out)."""
    return (
        alerts.c.status == "pending",
        alerts.c.next_attempt_at <= now,
        sa.or_(alerts.c.lease_until.is_(None), alerts.c.lease_until <= now),
    )


def due_channels(store: Store, now: datetime) -> list[str]:
    """The channels with alerts due now and not leased (a read: an idle pass takes no write lock)."""
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(alerts.c.channel).where(*_due(now)).distinct().order_by(alerts.c.channel)
            ).scalars()
        )


def claim_alerts(
    store: Store, now: datetime, channels: Sequence[str], limit: int, owner: str, until: datetime
) -> list[Claimed]:
    """Lease up to `limit` due alerts of the given channels to `owner` until `until`, oldest due first."""
    if not channels:
        return []
    query = (
        sa.select(alerts)
        .where(*_due(now), alerts.c.channel.in_(list(channels)))
        .order_by(alerts.c.next_attempt_at, alerts.c.id)
        .limit(limit)
    )
    with store.write() as conn:
        rows = take_leases(conn, ALERTS, query, owner, until)
    return [
        Claimed(
            r.id,
            r.delivery_id,
            r.channel,
            r.watch,
            r.event,
            r.attempts,
            r.story_id,
            r.match_id,
            r.created_at,
            r.version_id,
        )
        for r in rows
    ]


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def digest_times(store: Store, channel: str) -> tuple[datetime | None, datetime | None]:
    """When the channel last sent (its newest sent alert) and when its oldest pending alert was created."""
    with store.read() as conn:
        last_sent = conn.execute(
            sa.select(sa.func.max(alerts.c.sent_at)).where(
                alerts.c.channel == channel, alerts.c.status == "sent"
            )
        ).scalar_one_or_none()
        oldest = conn.execute(
            sa.select(sa.func.min(alerts.c.created_at)).where(
                alerts.c.channel == channel, alerts.c.status == "pending"
            )
        ).scalar_one_or_none()
    return _aware(last_sent), _aware(oldest)


def release_alerts(store: Store, ids: Sequence[int], until: datetime) -> None:
    """Give leased alerts back without using an attempt, due again at `until`."""
    with store.write() as conn:
        give_back(conn, ALERTS, alerts.c.id.in_(list(ids)), next_attempt_at=until)


def mark_sent(store: Store, ids: Sequence[int], now: datetime) -> None:
    """The channel accepted these alerts: sent, one more attempt counted, lease and error cleared."""
    with store.write() as conn:
        conn.execute(
            alerts.update()
            .where(alerts.c.id.in_(list(ids)))
            .values(
                status="sent",
                sent_at=now,
                attempts=alerts.c.attempts + 1,
                lease_until=None,
                lease_owner=None,
                last_error=None,
            )
        )


def mark_failed(store: Store, ids: Sequence[int], results: Sequence[AfterFailure], message: str) -> None:
    """A failed attempt for each alert: retried at its result's time, or failed for good, with the error."""
    with store.write() as conn:
        for alert_id, result in zip(ids, results, strict=True):
            values: dict[str, Any] = {
                "attempts": result.attempts,
                "last_error": message[:ERROR_MAX],
                "lease_until": None,
                "lease_owner": None,
            }
            if result.gives_up:
                values["status"] = "failed"
            else:
                values["next_attempt_at"] = result.retry_at
            conn.execute(alerts.update().where(alerts.c.id == alert_id).values(**values))


def fail_unknown_channels(store: Store, now: datetime, channels: Sequence[str]) -> int:
    """Due alerts for channels no longer in the config fail with a clear error (retry them once it is back)."""
    with store.write() as conn:
        result = conn.execute(
            alerts.update()
            .where(*_due(now), alerts.c.channel.in_(list(channels)))
            .values(
                status="failed",
                last_error=sa.literal("channel ") + alerts.c.channel + sa.literal(" is not in the config"),
            )
        )
        return int(result.rowcount or 0)


def alert_context(store: Store, alert: Claimed) -> AlertContext:
    """Everything the alert says, read from the archive."""
    about = versions.c.id == alert.version_id if alert.version_id else versions.c.id == matches.c.version_id
    with store.read() as conn:
        row = conn.execute(
            sa.select(
                matches.c.terms,
                matches.c.snippet,
                versions.c.id.label("version_id"),
                versions.c.n,
                versions.c.title,
                versions.c.body,
                versions.c.summary,
                versions.c.published,
                articles.c.id.label("article_id"),
                articles.c.url,
                articles.c.published.label("article_published"),
                sources.c.name.label("source"),
            )
            .select_from(matches)
            .join(versions, about)
            .join(articles, articles.c.id == versions.c.article_id)
            .join(sources, sources.c.id == articles.c.source_id)
            .where(matches.c.id == alert.match_id)
        ).one()
        others = conn.execute(
            sa.select(articles.c.title, articles.c.url, articles.c.published, sources.c.name)
            .join(sources, sources.c.id == articles.c.source_id)
            .where(articles.c.story_id == alert.story_id, articles.c.id != row.article_id)
            .order_by(articles.c.first_seen, articles.c.id)
            .limit(20)
        ).all()
        changes = None
        if alert.event in ("new_version", "article_edit") and row.n > 1:
            prior = conn.execute(
                sa.select(versions.c.title, versions.c.body, versions.c.summary).where(
                    versions.c.article_id == row.article_id, versions.c.n == row.n - 1
                )
            ).first()
            if prior is not None:
                changes = edit_changes(prior._mapping, row._mapping)
    return AlertContext(
        event=cast(Any, alert.event),
        delivery_id=alert.delivery_id,
        watch=alert.watch,
        article=ArticleInfo(
            id=row.article_id,
            url=row.url,
            title=row.title,
            source=row.source,
            published=row.published or row.article_published,
            version=row.n,
        ),
        story=StoryInfo(
            id=alert.story_id,
            other_outlets=tuple(Outlet(o.name, o.title or "", o.url, o.published) for o in others),
        ),
        created_at=alert.created_at,
        terms=tuple(row.terms or ()),
        # Another outlet's report: the story's terms, but the snippet was of the flagging article.
        snippet=snippet_from_marked(row.snippet) if row.snippet and alert.event != "also_reported" else None,
        changes=changes,
    )


# --- the listing `monitor alerts`, the API and the pages share, and `monitor alerts retry` -------------

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
