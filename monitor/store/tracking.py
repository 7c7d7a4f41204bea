"""Queries and writes for tracked article pages: due re-checks, version history, check outcomes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.core.track import PageCheck, TrackedArticle, VersionDraft
from monitor.models import StoredVersion
from monitor.store.leases import PAGES, host_is_resting, lock_free, process_owner, stamp_leased
from monitor.store.store import Store
from monitor.store.tables import articles, events, fetches, sources, versions


def _tracked_query() -> sa.Select[Any]:
    v1_empty = (
        sa.select(versions.c.id)
        .where(versions.c.article_id == articles.c.id, versions.c.n == 1, versions.c.body == "")
        .exists()
    )
    latest_summary = (
        sa.select(versions.c.summary)
        .where(versions.c.article_id == articles.c.id, versions.c.n == articles.c.version_count)
        .scalar_subquery()
    )
    return sa.select(
        articles.c.id,
        articles.c.source_id,
        sources.c.name.label("source_name"),
        articles.c.url,
        articles.c.first_seen,
        articles.c.content_hash,
        articles.c.version_count,
        articles.c.check_errors,
        articles.c.removed_at,
        sa.and_(articles.c.version_count == 1, v1_empty).label("enrichable"),
        latest_summary.label("feed_summary"),
        articles.c.page_etag,
        articles.c.page_last_modified,
        articles.c.extractor_version,
        articles.c.page_hash,
    ).join(sources, sources.c.id == articles.c.source_id)


def _tracked(row: Any) -> TrackedArticle:
    return TrackedArticle(
        id=row.id,
        source_id=row.source_id,
        source_name=row.source_name,
        url=row.url,
        first_seen=row.first_seen,
        content_hash=row.content_hash,
        version_count=row.version_count,
        check_errors=row.check_errors,
        removed=row.removed_at is not None,
        enrichable=bool(row.enrichable),
        feed_summary=row.feed_summary or "",
        etag=row.page_etag,
        last_modified=row.page_last_modified,
        extractor_version=row.extractor_version,
        page_hash=row.page_hash,
    )


def claim_due_articles(
    store: Store,
    now: datetime,
    limit: int | None,
    lease: timedelta,
    owner: str | None = None,
    *,
    source_names: Sequence[str] | None = None,
    tail_budget: Mapping[str, int] | None = None,
    default_budget: int = 100,
) -> list[TrackedArticle]:
    """Take article pages due for a check (up to `limit`), pushing their next check out by `lease`.

    Pages on their ladder come first, soonest due first. Pages past their ladder (the slow tail) come
    after, newest first, at most `tail_budget[source]` (else `default_budget`) per source in one claim,
    so however large the archive grows a cycle's cost stays bounded. The lease names its owner, so when
    that process dies the others give the pages back at once.
    """
    if limit is not None and limit <= 0:
        return []
    owner = owner or process_owner()
    due = sa.and_(
        articles.c.next_check_at <= now,
        sources.c.enabled,
        sources.c.in_config,
        ~host_is_resting(articles.c.url, now),
    )
    if source_names:
        due = sa.and_(due, sources.c.name.in_(list(source_names)))
    budgets = tail_budget or {}
    with store.write() as conn:
        query = _tracked_query().where(due, sa.not_(articles.c.in_tail)).order_by(articles.c.next_check_at)
        if limit is not None:
            query = query.limit(limit)
        rows = lock_free(conn, query, of=articles)
        room = None if limit is None else limit - len(rows)
        if room is None or room > 0:
            tail_sources = conn.execute(
                sa.select(sources.c.id, sources.c.name)
                .where(due, articles.c.in_tail)
                .join(articles, articles.c.source_id == sources.c.id)
                .distinct()
            ).all()
            for source_id, name in sorted(tail_sources, key=lambda r: r.name):
                take = budgets.get(name, default_budget)
                if room is not None:
                    take = min(take, room)
                if take <= 0:
                    continue
                tail = (
                    _tracked_query()
                    .where(due, articles.c.in_tail, articles.c.source_id == source_id)
                    .order_by(articles.c.first_seen.desc(), articles.c.id.desc())
                    .limit(take)
                )
                found = lock_free(conn, tail, of=articles)
                rows += found
                if room is not None:
                    room -= len(found)
        stamp_leased(conn, PAGES, [r.id for r in rows], owner, now + lease)
    return [_tracked(r) for r in rows]


def tracked_articles(store: Store, source_names: list[str] | None) -> list[TrackedArticle]:
    """Every article whose page is or was tracked (of the named sources), ended ladders included."""
    query = _tracked_query().where(
        sa.or_(articles.c.next_check_at.is_not(None), articles.c.last_checked_at.is_not(None))
    )
    if source_names:
        query = query.where(sources.c.name.in_(source_names))
    with store.read() as conn:
        return [_tracked(r) for r in conn.execute(query.order_by(articles.c.id))]


def tracked_by_key(conn: Connection, source_id: int, key: str) -> TrackedArticle | None:
    row = conn.execute(
        _tracked_query().where(articles.c.source_id == source_id, articles.c.key == key)
    ).first()
    return _tracked(row) if row else None


def earlier_hashes(conn: Connection, article_id: int) -> dict[str, int]:
    """Content hash -> the first version n that had it (reverts carry no text of their own)."""
    found: dict[str, int] = {}
    query = (
        sa.select(versions.c.content_hash, versions.c.n)
        .where(versions.c.article_id == article_id, versions.c.reverts_to.is_(None))
        .order_by(versions.c.n)
    )
    for row in conn.execute(query):
        found.setdefault(row.content_hash, row.n)
    return found


def apply_page_check(conn: Connection, check: PageCheck, source_id: int, url: str) -> list[StoredVersion]:
    """Write a page check in the caller's transaction; return the version it stored, if any."""
    row = conn.execute(
        sa.select(articles.c.version_count, articles.c.content_hash, articles.c.key).where(
            articles.c.id == check.article_id
        )
    ).one()
    values: dict[str, Any] = {
        "next_check_at": check.next_check_at,
        "last_checked_at": check.now,
        "check_errors": check.check_errors,
        "last_error": check.last_error,
        "in_tail": check.in_tail,
        "lease_owner": None,
    }
    if check.last_error is None and check.fetch_status in (200, 304):
        values["page_etag"] = check.etag
        values["page_last_modified"] = check.last_modified
    if check.extractor_version is not None:
        values["extractor_version"] = check.extractor_version
        values["page_hash"] = check.page_hash
    if check.baseline is not None:
        _rebaseline(conn, check.article_id, row.version_count, check.baseline)
        values["content_hash"] = check.baseline.content_hash
    if check.removed is True:
        values["removed_at"] = check.now
    elif check.removed is False:
        values["removed_at"] = None
    if check.new_url:
        values["url"] = check.new_url
    stored: list[StoredVersion] = []
    version = check.version
    if version is not None and version.content_hash != row.content_hash:
        fields: dict[str, Any] = {
            "title": version.title,
            "summary": version.summary,
            "body": version.body,
            "author": version.author,
            "published": version.published,
            "updated": version.updated,
            "tags": [],
            "content_hash": version.content_hash,
            "seen_at": check.now,
        }
        prior_id = None
        if check.kind == "enriched" and row.version_count == 1:
            n = 1
            version_id = conn.execute(
                versions.update()
                .where(versions.c.article_id == check.article_id, versions.c.n == 1)
                .values(**{k: v for k, v in fields.items() if k not in ("summary", "tags", "seen_at")})
                .returning(versions.c.id)
            ).scalar_one()
        else:
            n = row.version_count + 1
            if check.kind == "revert":
                fields.update(title="", summary="", body="", author=None)  # the text is version reverts_to's
            if n > 1:
                prior_id = conn.execute(
                    sa.select(versions.c.id).where(
                        versions.c.article_id == check.article_id, versions.c.n == n - 1
                    )
                ).scalar_one_or_none()
            version_id = conn.execute(
                versions.insert()
                .values(article_id=check.article_id, n=n, reverts_to=check.reverts_to, **fields)
                .returning(versions.c.id)
            ).scalar_one()
        values.update(
            content_hash=version.content_hash, version_count=max(n, row.version_count), last_seen=check.now
        )
        if version.title:
            values["title"] = version.title
        if version.published:
            values["published"] = version.published
        stored.append(
            StoredVersion(
                article_id=check.article_id,
                version_id=version_id,
                n=n,
                is_new_article=n == 1 and check.kind == "new",
                key=row.key,
                source_id=source_id,
                kind=check.kind or "edit",
                prior_version_id=prior_id,
                reverts_to=check.reverts_to,
            )
        )
    conn.execute(articles.update().where(articles.c.id == check.article_id).values(**values))
    for kind, detail in check.events:
        conn.execute(
            events.insert().values(article_id=check.article_id, kind=kind, detail=detail, at=check.now)
        )
    conn.execute(
        fetches.insert().values(
            source_id=source_id,
            article_id=check.article_id,
            url=url,
            started_at=check.now,
            status=check.fetch_status,
            bytes=check.fetch_bytes,
            duration_ms=check.fetch_ms,
            error=check.fetch_error,
            new_articles=sum(1 for s in stored if s.is_new_article),
            new_versions=sum(1 for s in stored if not s.is_new_article),
        )
    )
    return stored


def _rebaseline(conn: Connection, article_id: int, version_count: int, text: VersionDraft) -> None:
    """A newer extractor's text of an unchanged page replaces the latest version's (a revert keeps its)."""
    conn.execute(
        versions.update()
        .where(
            versions.c.article_id == article_id,
            versions.c.n == version_count,
            versions.c.reverts_to.is_(None),
        )
        .values(title=text.title, body=text.body, author=text.author, content_hash=text.content_hash)
    )


def ensure_article(conn: Connection, source_id: int, key: str, url: str, now: datetime) -> None:
    """Make sure a page source's own article exists (version 1 comes from its first check)."""
    exists = conn.execute(
        sa.select(articles.c.id).where(articles.c.source_id == source_id, articles.c.key == key)
    ).first()
    if exists is None:
        conn.execute(
            articles.insert().values(
                source_id=source_id,
                key=key,
                url=url,
                title=url,
                first_seen=now,
                last_seen=now,
                content_hash="",
                version_count=0,
                next_check_at=None,
            )
        )


def article_history(
    store: Store, article_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """An article, its versions in order (reverts resolved to their text) and its events."""
    from monitor.errors import NotFoundError

    with store.read() as conn:
        article = conn.execute(
            sa.select(articles, sources.c.name.label("source"))
            .join(sources, sources.c.id == articles.c.source_id)
            .where(articles.c.id == article_id)
        ).first()
        if article is None:
            raise NotFoundError(f"no article {article_id}")
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(versions).where(versions.c.article_id == article_id).order_by(versions.c.n)
            )
        ]
        happened = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(events.c.kind, events.c.detail, events.c.at)
                .where(events.c.article_id == article_id)
                .order_by(events.c.at, events.c.id)
            )
        ]
    by_n = {r["n"]: r for r in rows}
    for row in rows:
        if row["reverts_to"] is not None and row["reverts_to"] in by_n:
            earlier = by_n[row["reverts_to"]]
            for field in ("title", "summary", "body", "author"):
                row[field] = earlier[field]
    return dict(article._mapping), rows, happened
