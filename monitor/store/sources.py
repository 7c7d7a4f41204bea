"""The sources table: following the config, claiming due sources, a poll's source update and fetch row
(batched), failed polls, source names and health. May import what store/ may (see its package docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.models import PollOutcome, SourceHealth, SourceKind, SourcePollState, SourceSpec, StoredVersion
from monitor.store.db import BulkInsert, Database, chunks, insert_ignoring, without_nul
from monitor.store.leases import SOURCES, host_is_resting, process_owner, stamp_leased, take_leases
from monitor.store.tables import articles, fetches, sources

_SOURCE_UPDATE = (
    sources.update()
    .where(sources.c.id == sa.bindparam("b_id"))
    .values(
        next_check_at=sa.bindparam("b_next"),
        consecutive_errors=sa.bindparam("b_errors"),
        last_status=sa.bindparam("b_status"),
        last_error=sa.bindparam("b_error"),
        etag=sa.bindparam("b_etag"),
        last_modified=sa.bindparam("b_modified"),
        body_hash=sa.bindparam("b_body_hash"),
        last_polled_at=sa.bindparam("b_now"),
        lease_until=None,
        lease_owner=None,
        publish_rate=sa.bindparam("b_rate"),
        last_success_at=sa.case(
            (sa.bindparam("b_ok", type_=sa.Boolean), sa.bindparam("b_now")), else_=sources.c.last_success_at
        ),
        url=sa.func.coalesce(sa.bindparam("b_url", type_=sa.Text), sources.c.url),
        disabled_reason=sa.func.coalesce(
            sa.bindparam("b_disabled", type_=sa.Text), sources.c.disabled_reason
        ),
        last_problem=sa.case(
            (sa.bindparam("b_parsed", type_=sa.Boolean), sa.bindparam("b_problem", type_=sa.Text)),
            else_=sources.c.last_problem,
        ),
    )
)

_INSERT_FETCHES = BulkInsert(
    fetches,
    (
        "source_id",
        "article_id",
        "url",
        "started_at",
        "status",
        "bytes",
        "duration_ms",
        "error",
        "new_articles",
        "new_versions",
    ),
)


@dataclass
class PollWrites:
    """Source updates and fetch rows of several polls, flushed together with one executemany each."""

    source_rows: list[dict[str, Any]] = field(default_factory=list)
    fetch_rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, outcome: PollOutcome, url: str, stored: Sequence[StoredVersion]) -> None:
        update, now = outcome.source, outcome.now
        disabled = (
            f"{update.last_error} at {now:%Y-%m-%d %H:%M}Z; change its URL to resume"
            if update.disable
            else None
        )
        self.source_rows.append(
            {
                "b_id": outcome.source_id,
                "b_next": update.next_check_at,
                "b_errors": update.consecutive_errors,
                "b_status": update.last_status,
                "b_error": update.last_error,
                "b_etag": update.etag,
                "b_modified": update.last_modified,
                "b_body_hash": update.body_hash,
                "b_now": now,
                "b_rate": update.publish_rate,
                "b_ok": update.polled_ok,
                "b_url": update.url,
                "b_disabled": disabled,
                "b_parsed": outcome.parsed,
                "b_problem": outcome.problem,
            }
        )
        self.fetch_rows.append(
            {
                "source_id": outcome.source_id,
                "article_id": None,
                "url": url,
                "started_at": now,
                "status": outcome.fetch_status,
                "bytes": outcome.fetch_bytes,
                "duration_ms": outcome.fetch_ms,
                "error": outcome.fetch_error,
                "new_articles": sum(1 for v in stored if v.is_new_article),
                "new_versions": sum(1 for v in stored if not v.is_new_article),
            }
        )


def _state(row: Any) -> SourcePollState:
    return SourcePollState(
        id=row.id,
        name=row.name,
        kind=SourceKind(row.kind),
        url=row.url,
        etag=row.etag,
        last_modified=row.last_modified,
        body_hash=row.body_hash,
        consecutive_errors=row.consecutive_errors,
        last_success_at=row.last_success_at,
        enabled=row.enabled,
        publish_rate=row.publish_rate,
    )


class SourceQueries(Database):
    """The Store's queries and writes of the sources table (and of the fetch rows polls leave)."""

    def sync_sources(self, specs: Sequence[SourceSpec], now: datetime, *, retire: bool = True) -> int:
        """Make the sources table follow the config: add and update by name; retire the rest if `retire`.

        Safe when several processes start together: new names go in with INSERT ... ON CONFLICT DO
        NOTHING, and rows are only written where they differ. A process whose config is not the fleet's
        passes retire=False, so it never retires sources another process's config still has.
        Returns the number of sources retired.
        """
        with self.write() as conn:
            existing = {row.name: row for row in conn.execute(sa.select(sources))}
            fresh = [
                {
                    "name": spec.name,
                    "kind": spec.kind.value,
                    "config_url": spec.url,
                    "url": spec.url,
                    "enabled": spec.enabled,
                    "in_config": True,
                    "tags": list(spec.tags),
                    "next_check_at": now,
                    "consecutive_errors": 0,
                    "created_at": now,
                }
                for spec in specs
                if spec.name not in existing
            ]
            for chunk in chunks(fresh):
                conn.execute(insert_ignoring(conn, sources, ["name"]), list(chunk))
            for spec in specs:
                row = existing.get(spec.name)
                if row is None:
                    continue
                values: dict[str, Any] = {}
                if row.kind != spec.kind.value:
                    values["kind"] = spec.kind.value
                if list(row.tags or []) != list(spec.tags):
                    values["tags"] = list(spec.tags)
                if row.config_url != spec.url:
                    values.update(
                        config_url=spec.url,
                        url=spec.url,
                        etag=None,
                        last_modified=None,
                        body_hash=None,
                        next_check_at=now,
                        disabled_reason=None,
                        consecutive_errors=0,
                    )
                if row.enabled != spec.enabled:
                    values["enabled"] = spec.enabled
                    if spec.enabled:
                        values["next_check_at"] = now
                if not row.in_config:
                    values.update(in_config=True, next_check_at=now)
                if values:
                    conn.execute(sources.update().where(sources.c.id == row.id).values(**values))
            if not retire:
                return 0
            names = {s.name for s in specs}
            gone = [name for name, row in existing.items() if name not in names and row.in_config]
            for chunk in chunks(gone):
                conn.execute(sources.update().where(sources.c.name.in_(list(chunk))).values(in_config=False))
            return len(gone)

    def _pollable(self) -> sa.ColumnElement[bool]:
        return sa.and_(sources.c.enabled, sources.c.in_config, sources.c.disabled_reason.is_(None))

    def claim_due(
        self, now: datetime, limit: int, lease: timedelta, owner: str | None = None
    ) -> list[SourcePollState]:
        """Lease up to `limit` due sources to this process, oldest due first."""
        if limit <= 0:
            return []
        query = (
            sa.select(sources)
            .where(
                self._pollable(),
                sources.c.next_check_at <= now,
                sa.or_(sources.c.lease_until.is_(None), sources.c.lease_until <= now),
                ~host_is_resting(sources.c.url, now),
            )
            .order_by(sources.c.next_check_at)
            .limit(limit)
        )
        with self.write() as conn:
            rows = take_leases(conn, SOURCES, query, owner or process_owner(), now + lease)
        return [_state(r) for r in rows]

    def claim_named(
        self, names: Sequence[str] | None, now: datetime, lease: timedelta
    ) -> list[SourcePollState]:
        """Lease the named (or all pollable) sources now, whatever their schedule."""
        query = sa.select(sources).where(self._pollable()).order_by(sources.c.id)
        if names:
            query = sa.select(sources).where(sources.c.name.in_(list(names)), sources.c.in_config)
        with self.write() as conn:
            rows = conn.execute(query).all()
            stamp_leased(conn, SOURCES, [r.id for r in rows], process_owner(), now + lease)
        return [_state(r) for r in rows]

    def record_poll_failure(
        self, source_id: int, error: str, next_check_at: datetime, now: datetime, status: int | None = None
    ) -> None:
        """A poll that could not be written: record why, count the error and set its next check (no hot loop).

        Validators and the body hash stay as they were, so the next poll fetches and parses everything again.
        """
        with self.write() as conn:
            conn.execute(
                sources.update()
                .where(sources.c.id == source_id)
                .values(
                    lease_until=None,
                    lease_owner=None,
                    last_error=error.replace("\x00", "")[:1000],
                    last_status=status,
                    last_polled_at=now,
                    consecutive_errors=sources.c.consecutive_errors + 1,
                    next_check_at=next_check_at,
                )
            )

    def source_names(self) -> list[str]:
        with self.read() as conn:
            return list(
                conn.execute(
                    sa.select(sources.c.name).where(sources.c.in_config).order_by(sources.c.name)
                ).scalars()
            )

    def source_health(self) -> list[SourceHealth]:
        """Each configured source with its poll state and archive counts."""
        counts = (
            sa.select(
                articles.c.source_id,
                sa.func.count().label("articles"),
                sa.func.coalesce(sa.func.sum(articles.c.version_count), 0).label("versions"),
            )
            .group_by(articles.c.source_id)
            .subquery()
        )
        query = (
            sa.select(sources, counts.c.articles, counts.c.versions)
            .outerjoin(counts, counts.c.source_id == sources.c.id)
            .where(sources.c.in_config)
            .order_by(sources.c.name)
        )
        with self.read() as conn:
            return [
                SourceHealth(
                    name=r.name,
                    kind=SourceKind(r.kind),
                    url=r.url,
                    enabled=r.enabled,
                    disabled_reason=r.disabled_reason,
                    last_polled_at=r.last_polled_at,
                    last_success_at=r.last_success_at,
                    last_status=r.last_status,
                    last_error=r.last_error,
                    consecutive_errors=r.consecutive_errors,
                    next_check_at=r.next_check_at,
                    articles=r.articles or 0,
                    versions=int(r.versions or 0),
                    last_problem=r.last_problem,
                )
                for r in conn.execute(query)
            ]

    def flush_writes(self, conn: Connection, writes: PollWrites) -> None:
        """Apply the queued source updates and fetch rows of a batch of polls."""
        if writes.source_rows:
            conn.execute(_SOURCE_UPDATE, without_nul(writes.source_rows))
        if writes.fetch_rows:
            _INSERT_FETCHES.run(conn, without_nul(writes.fetch_rows))
        writes.source_rows.clear()
        writes.fetch_rows.clear()
