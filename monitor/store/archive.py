"""Reads over the archive's articles and versions: an article's history (`monitor show|diff` and the web),
the article listing, recent edits, and whether the database answers at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.core.history import History
from monitor.store.store import Store
from monitor.store.tables import articles, sources, versions
from monitor.store.tracking import article_history

# A value the database refuses (a number it cannot hold, NUL in Postgres text) surfaces as one of these:
# the request's fault, which an edge answers with 400, never 500.
BAD_VALUE_ERRORS: tuple[type[Exception], ...] = (OverflowError, sa.exc.DataError)

_ARTICLE_COLUMNS = (
    articles.c.id,
    sources.c.name.label("source"),
    articles.c.url,
    articles.c.title,
    articles.c.published,
    articles.c.first_seen,
    articles.c.last_seen,
    articles.c.version_count,
    articles.c.story_id,
    articles.c.removed_at,
)


@dataclass(frozen=True)
class ArticleListing:
    """One page of articles and how many there are in all."""

    items: list[dict[str, Any]]
    total: int
    next_offset: int | None


def list_articles(
    store: Store, source: str | None, since: datetime | None, limit: int, offset: int
) -> ArticleListing:
    """Articles with at least one version, newest first seen first."""
    where = [articles.c.version_count > 0]
    if source:
        where.append(sources.c.name == source)
    if since:
        where.append(articles.c.first_seen >= since)
    joined = articles.join(sources, sources.c.id == articles.c.source_id)
    with store.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(joined).where(*where)).scalar_one()
        rows = conn.execute(
            sa.select(*_ARTICLE_COLUMNS)
            .select_from(joined)
            .where(*where)
            .order_by(articles.c.first_seen.desc(), articles.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    return ArticleListing(
        items=[dict(r._mapping) for r in rows],
        total=total,
        next_offset=offset + limit if offset + limit < total else None,
    )


def load_history(store: Store, article_id: int) -> History:
    """An article with its versions (reverts resolved) and events (NotFoundError when there is none)."""
    return History(*article_history(store, article_id))


@dataclass(frozen=True, slots=True)
class Change:
    """A version that edits an article already seen (n >= 2)."""

    version_id: int
    article_id: int
    n: int
    seen_at: datetime


def recent_changes(store: Store, limit: int) -> list[Change]:
    """New versions (n >= 2) of any article, newest first."""
    query = (
        sa.select(versions.c.id, versions.c.article_id, versions.c.n, versions.c.seen_at)
        .where(versions.c.n >= 2)
        .order_by(versions.c.seen_at.desc(), versions.c.id.desc())
        .limit(limit)
    )
    with store.read() as conn:
        return [Change(r.id, r.article_id, r.n, r.seen_at) for r in conn.execute(query)]


def database_alive(store: Store) -> bool:
    """Whether the database answers a trivial query."""
    try:
        with store.read() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception:
        return False
    return True
