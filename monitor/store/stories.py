"""Story membership rows: the order assignments committed in, read back on start and to catch up."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.models import version_body
from monitor.store.repo import articles, sources, versions
from monitor.store.tables import story_members

ASSIGN_LOCK = 0x6E6D7374  # Postgres advisory lock id serialising story assignment ("nmst")


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One stored story membership with what grouping needs to index the article again."""

    id: int
    article_id: int
    story_id: int
    first_seen: datetime
    features: str | None  # the stored StoryFeatures JSON, None for rows written before it was stored
    source: str
    title: str
    body: str
    published: datetime | None


def lock_assignment(conn: Connection) -> None:
    """Serialise story assignment until this transaction ends (SQLite's write transaction already is)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ASSIGN_LOCK)))


def stored_features(conn: Connection, article_ids: list[int]) -> dict[int, str | None]:
    """The stored features JSON of these articles' memberships."""
    query = sa.select(story_members.c.article_id, story_members.c.features).where(
        story_members.c.article_id.in_(article_ids)
    )
    return {r.article_id: r.features for r in conn.execute(query)}


def last_member_id(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(story_members.c.id), 0))).scalar_one())


def members(conn: Connection, *, after_id: int = 0, since: datetime | None = None) -> Iterator[MemberRow]:
    """Memberships past `after_id` (and first seen since `since`), in assignment order, with their text."""
    query = (
        sa.select(
            story_members.c.id,
            story_members.c.article_id,
            story_members.c.story_id,
            story_members.c.first_seen,
            story_members.c.features,
            sources.c.name,
            versions.c.title,
            versions.c.summary,
            versions.c.body,
            articles.c.published,
        )
        .join(articles, articles.c.id == story_members.c.article_id)
        .join(sources, sources.c.id == articles.c.source_id)
        .outerjoin(  # the text only where the features were not stored: a start reads no bodies
            versions,
            sa.and_(
                versions.c.article_id == articles.c.id, versions.c.n == 1, story_members.c.features.is_(None)
            ),
        )
        .where(story_members.c.id > after_id)
        .order_by(story_members.c.id)
    )
    if since is not None:
        query = query.where(story_members.c.first_seen >= since)
    for r in conn.execute(query):
        yield MemberRow(
            r.id,
            r.article_id,
            r.story_id,
            r.first_seen,
            r.features,
            r.name,
            r.title or "",
            version_body(r.summary, r.body),
            r.published,
        )


def add_members(conn: Connection, rows: Sequence[Mapping[str, object]]) -> int:
    """Record articles' stories (article_id, story_id, first_seen, features); returns the last membership id."""
    if not rows:
        return 0
    conn.execute(story_members.insert(), rows)
    return last_member_id(conn)
