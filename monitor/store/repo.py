"""Queries and writes: the only module that speaks SQL for polling state, articles and versions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection as Connection  # re-exported: the type the edges write through
from sqlalchemy.engine import Engine

from monitor.errors import ConcurrentWriteError as ConcurrentWriteError
from monitor.models import (
    ArticleDraft,
    PollOutcome,
    PriorArticle,
    SourceHealth,
    SourceKind,
    SourcePollState,
    SourceSpec,
    StoredVersion,
    VersionText,
    version_body,
)
from monitor.store.db import insert_ignoring as insert_ignoring
from monitor.store.db import is_sqlite
from monitor.store.leases import SOURCES, stamp_leased, take_leases
from monitor.store.leases import process_owner as process_owner

# The table handles are defined in tables.py; re-exported here for the callers that import them with Store.
from monitor.store.tables import articles as articles
from monitor.store.tables import fetches as fetches
from monitor.store.tables import hosts
from monitor.store.tables import sources as sources
from monitor.store.tables import versions as versions

T = TypeVar("T")
_CHUNK = 500


def host_is_resting(url: sa.ColumnElement[str], now: datetime) -> sa.ColumnElement[bool]:
    """Whether a URL column points at an origin that asked the fleet for a rest (Retry-After) until later."""
    origin_of_url = sa.func.substr(url, 1, sa.func.length(hosts.c.origin) + 1)
    return (
        sa.select(hosts.c.origin)
        .where(hosts.c.rest_until > now, origin_of_url == hosts.c.origin + "/")
        .exists()
    )


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


def without_nul(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with NUL removed from their text: Postgres refuses it in text columns (and it means nothing)."""
    for row in rows:
        for name, value in row.items():
            if isinstance(value, str) and "\x00" in value:
                row[name] = value.replace("\x00", "")
            elif isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value):
                row[name] = [v.replace("\x00", "") if isinstance(v, str) else v for v in value]
    return rows


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


class Store:
    """Transactions and queries over one engine. Every method is blocking: call it off the event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine)

    # --- transactions ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        with self.engine.connect() as conn:
            if self.sqlite:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # --- sources --------------------------------------------------------------------------------

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
            for chunk in _chunks(fresh):
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
            for chunk in _chunks(gone):
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

    def write_changes(
        self, conn: Connection, source_id: int, changes: Sequence[Any], now: datetime, track_pages: bool
    ) -> list[StoredVersion]:
        """Write article changes alone (no source update): storing a failed poll's entries one by one."""
        return self._write_articles(conn, source_id, changes, now, track_pages)

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

    # --- articles -------------------------------------------------------------------------------

    def prior_articles(
        self, conn: Connection, source_id: int, keys: Iterable[str]
    ) -> dict[str, PriorArticle]:
        """The stored identity and latest fingerprint of the given articles of a source."""
        found: dict[str, PriorArticle] = {}
        for chunk in _chunks(list(keys)):
            query = sa.select(
                articles.c.id, articles.c.key, articles.c.content_hash, articles.c.version_count
            ).where(articles.c.source_id == source_id, articles.c.key.in_(chunk))
            for row in conn.execute(query):
                found[row.key] = PriorArticle(row.id, row.key, row.content_hash, row.version_count)
        return found

    def apply_outcome(
        self, conn: Connection, outcome: PollOutcome, url: str, writes: PollWrites | None = None
    ) -> list[StoredVersion]:
        """Write one poll's outcome in the caller's transaction; return the versions it created.

        Articles and versions are written at once (their ids are needed downstream); the source update and
        fetch row go to `writes` when given, so a batch of polls flushes them with one executemany each.
        Version numbers come from the row as stored, not from what the poll believed, so a rerun of the
        same poll (or a racing one) never writes a duplicate version.
        """
        stored = self._write_articles(
            conn, outcome.source_id, outcome.changes, outcome.now, outcome.track_pages
        )
        batch = writes if writes is not None else PollWrites()
        batch.add(outcome, url, stored)
        if writes is None:
            self.flush_writes(conn, batch)
        return stored

    def flush_writes(self, conn: Connection, writes: PollWrites) -> None:
        """Apply the queued source updates and fetch rows of a batch of polls."""
        if writes.source_rows:
            conn.execute(_SOURCE_UPDATE, without_nul(writes.source_rows))
        if writes.fetch_rows:
            conn.execute(fetches.insert(), without_nul(writes.fetch_rows))
        writes.source_rows.clear()
        writes.fetch_rows.clear()

    def _version_ids(self, conn: Connection, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
        """Ids of the given (article_id, n) versions, one query per chunk of articles."""
        wanted = set(pairs)
        found: dict[tuple[int, int], int] = {}
        for chunk in _chunks(sorted({a for a, _ in wanted})):
            query = sa.select(versions.c.id, versions.c.article_id, versions.c.n).where(
                versions.c.article_id.in_(chunk)
            )
            for row in conn.execute(query):
                if (row.article_id, row.n) in wanted:
                    found[(row.article_id, row.n)] = row.id
        return found

    def _write_articles(
        self,
        conn: Connection,
        source_id: int,
        changes: Sequence[Any],
        now: datetime,
        track_pages: bool = False,
    ) -> list[StoredVersion]:
        if not changes:
            return []
        # New articles go in with their final hash and count, so they need no update afterwards; a draft
        # without content (a link found on a listing page) makes the article only: its page makes v1.
        new_rows = [
            {
                "source_id": source_id,
                "key": c.draft.key,
                "url": c.draft.url,
                "title": c.draft.title,
                "published": c.draft.published,
                "first_seen": now,
                "last_seen": now,
                "content_hash": c.draft.content_hash,
                "version_count": 1 if c.draft.content_hash else 0,
                "next_check_at": now if track_pages and c.draft.has_page else None,
            }
            for c in changes
            if c.is_new_article
        ]
        without_nul(new_rows)
        if new_rows:
            statement = insert_ignoring(conn, articles, ["source_id", "key"])
            if self.sqlite:  # rowcount is exact there; RETURNING would insert row by row
                inserted = conn.execute(statement, new_rows).rowcount
            else:  # psycopg reports no executemany rowcount; one multi-row INSERT ... RETURNING instead
                inserted = len(conn.execute(statement.returning(articles.c.key), new_rows).all())
            if inserted != len(new_rows):
                # Another writer added some of them since this poll looked: redo the poll from the top.
                raise ConcurrentWriteError(
                    f"{len(new_rows) - inserted} of the new articles appeared meanwhile"
                )
        fresh = {row["key"] for row in new_rows if row["version_count"]}
        candidates: dict[str, ArticleDraft] = {
            c.draft.key: c.draft for c in changes if c.is_new_version and c.draft.content_hash
        }
        current = self.prior_articles(conn, source_id, candidates) if candidates else {}
        version_rows: list[dict[str, Any]] = []
        article_rows: list[dict[str, Any]] = []
        made: list[tuple[str, int, int, bool]] = []
        for key, draft in candidates.items():
            row = current.get(key)
            if row is None:
                continue
            if key in fresh:
                n = 1
            elif row.content_hash == draft.content_hash:
                continue
            else:
                n = row.version_count + 1
                article_rows.append(
                    {
                        "b_id": row.id,
                        "b_count": row.version_count,
                        "b_n": n,
                        "b_hash": draft.content_hash,
                        "b_title": draft.title,
                        "b_url": draft.url,
                        "b_published": draft.published,
                        "b_now": now,
                    }
                )
            version_rows.append(
                {
                    "article_id": row.id,
                    "n": n,
                    "title": draft.title,
                    "summary": draft.summary,
                    "body": draft.body,
                    "author": draft.author,
                    "published": draft.published,
                    "updated": draft.updated,
                    "tags": list(draft.tags),
                    "content_hash": draft.content_hash,
                    "seen_at": now,
                }
            )
            made.append((key, row.id, n, n == 1))
        stored: list[StoredVersion] = []
        without_nul(version_rows)
        without_nul(article_rows)
        if version_rows:
            # executemany without RETURNING: SQLite would run RETURNING inserts one row at a time.
            conn.execute(versions.insert(), version_rows)
            new_ids = self._version_ids(conn, [(aid, n) for _key, aid, n, _new in made])
            ids = [new_ids[(aid, n)] for _key, aid, n, _new in made]
        if article_rows:
            conn.execute(
                articles.update()
                .where(
                    articles.c.id == sa.bindparam("b_id"), articles.c.version_count == sa.bindparam("b_count")
                )
                .values(
                    version_count=sa.bindparam("b_n"),
                    content_hash=sa.bindparam("b_hash"),
                    title=sa.bindparam("b_title"),
                    url=sa.bindparam("b_url"),
                    published=sa.bindparam("b_published"),
                    last_seen=sa.bindparam("b_now"),
                    extractor_version=None,  # the baseline is the feed's text now, not an extraction
                ),
                article_rows,
            )
        if version_rows:
            edits = [(aid, n - 1) for _key, aid, n, new in made if not new]
            prior_ids = self._version_ids(conn, edits)
            stored = [
                StoredVersion(
                    article_id=aid,
                    version_id=vid,
                    n=n,
                    is_new_article=new,
                    key=key,
                    source_id=source_id,
                    kind="new" if new else "edit",
                    prior_version_id=prior_ids.get((aid, n - 1)),
                )
                for (key, aid, n, new), vid in zip(made, ids, strict=True)
            ]
        seen = [c.draft.key for c in changes if not c.is_new_version]
        for chunk in _chunks(seen):
            conn.execute(
                articles.update()
                .where(articles.c.source_id == source_id, articles.c.key.in_(chunk))
                .values(last_seen=now)
            )
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


def load_version_texts(
    conn: Connection, where: sa.ColumnElement[bool], order_by: Sequence[Any] = ()
) -> list[VersionText]:
    """The versions matching `where` with their article's and source's fields, in one query."""
    query = (
        sa.select(
            versions.c.id,
            versions.c.article_id,
            versions.c.n,
            versions.c.title,
            versions.c.summary,
            versions.c.body,
            versions.c.tags,
            versions.c.published,
            versions.c.seen_at,
            articles.c.url,
            articles.c.story_id,
            articles.c.published.label("article_published"),
            articles.c.first_seen,
            sources.c.name,
            sources.c.tags.label("source_tags"),
        )
        .join(articles, articles.c.id == versions.c.article_id)
        .join(sources, sources.c.id == articles.c.source_id)
        .where(where)
        .order_by(*order_by)
    )
    return [
        VersionText(
            version_id=r.id,
            article_id=r.article_id,
            n=r.n,
            title=r.title,
            body=version_body(r.summary, r.body),
            published=r.published or r.article_published,
            seen_at=r.seen_at,
            source=r.name,
            url=r.url,
            story_id=r.story_id,
            tags=tuple(dict.fromkeys([*(r.tags or []), *(r.source_tags or [])])),
            first_seen=r.first_seen,
        )
        for r in conn.execute(query)
    ]
