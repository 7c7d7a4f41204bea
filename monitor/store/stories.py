"""Stories, their memberships, matches, story flags and the alert rows the watch step queues: its SQL.

Membership rows record the order assignments committed in, read back on start and to catch up. Every
statement the watch step runs per batch is built once and takes many rows (executemany, multi-row
INSERT ... RETURNING), so a batch costs a few round trips whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.models import VersionText, version_body
from monitor.store.articles import load_version_texts
from monitor.store.db import BulkInsert, insert_ignoring, postgres_time, sqlite_time
from monitor.store.tables import (
    alerts,
    articles,
    matches,
    sources,
    stories,
    story_members,
    story_watches,
    versions,
)

# Statements built once: the watch step runs them for every batch. The per-article ones go at the driver's
# level (BulkInsert; the updates as one executemany on SQLite, one UPDATE ... FROM unnest on Postgres).
_NEW_STORIES = BulkInsert(stories, ("title", "first_seen", "last_seen", "article_count"), returning=("id",))
_ADD_MEMBERS = BulkInsert(
    story_members, ("article_id", "story_id", "first_seen", "features"), returning=("id",)
)
_INSERT_MATCHES = BulkInsert(
    matches,
    ("watch", "article_id", "version_id", "story_id", "terms", "snippet", "flagged", "created_at"),
    on_conflict=("watch", "version_id"),
    returning=("id", "watch", "version_id"),
)
_GROW_STORIES = {
    "sqlite": "UPDATE stories SET article_count = article_count + ?, last_seen = ? WHERE id = ?",
    "postgresql": "UPDATE stories SET article_count = article_count + u.n, last_seen = u.t"
    " FROM unnest(%b::integer[], %b::timestamptz[], %b::bigint[]) AS u(n, t, id) WHERE stories.id = u.id",
}
_SET_STORIES = {
    "sqlite": "UPDATE articles SET story_id = ? WHERE id = ?",
    "postgresql": "UPDATE articles SET story_id = u.story FROM unnest(%b::bigint[], %b::bigint[]) AS u(story, id)"
    " WHERE articles.id = u.id",
}
_MARK_FLAGGED = matches.update().where(matches.c.id == sa.bindparam("b_id")).values(flagged=True)
_PREPARED: dict[str, tuple[Any, Any]] = {}  # dialect -> its INSERT ... ON CONFLICT DO NOTHING (flag, alert)

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


# Built once: every write transaction catches up with it (and finds nothing, unless another process wrote).
_MEMBERS = (
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
    .where(story_members.c.id > sa.bindparam("b_after"))
    .order_by(story_members.c.id)
)
_MEMBERS_SINCE = _MEMBERS.where(story_members.c.first_seen >= sa.bindparam("b_since"))


def members(conn: Connection, *, after_id: int = 0, since: datetime | None = None) -> Iterator[MemberRow]:
    """Memberships past `after_id` (and first seen since `since`), in assignment order, with their text."""
    params: dict[str, Any] = {"b_after": after_id}
    query = _MEMBERS
    if since is not None:
        query, params["b_since"] = _MEMBERS_SINCE, since
    for r in conn.execute(query, params):
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
    """Record articles' stories (article_id, story_id, first_seen, features); returns the last membership id
    (under the assignment lock: the largest of those just inserted)."""
    if not rows:
        return 0
    return int(max(row[0] for row in _ADD_MEMBERS.run(conn, rows)))


# --- stories ----------------------------------------------------------------------------------------


def new_stories(conn: Connection, rows: Sequence[Mapping[str, object]]) -> list[int]:
    """Insert stories (title, first_seen, last_seen, article_count) in one statement; their ids, in order
    (both databases number rows inserted by one statement in the order it inserts them, as SQLAlchemy's
    `sort_by_parameter_order` also relies on)."""
    return sorted(row[0] for row in _NEW_STORIES.run(conn, rows))


def grow_stories(conn: Connection, grown: Mapping[int, tuple[int, datetime]]) -> None:
    """Add articles to stories: story id -> (articles added, last seen)."""
    if grown:
        time = sqlite_time if conn.dialect.name == "sqlite" else postgres_time
        _update_rows(conn, _GROW_STORIES, [(n, time(t), k) for k, (n, t) in grown.items()])


def set_article_stories(conn: Connection, placed: Mapping[int, int]) -> None:
    """Record each article's story: article id -> story id."""
    if placed:
        _update_rows(conn, _SET_STORIES, [(s, a) for a, s in placed.items()])


def _update_rows(conn: Connection, statement: Mapping[str, str], rows: list[tuple[Any, ...]]) -> None:
    """One UPDATE per row: an executemany on SQLite, one statement over arrays (one per column) on Postgres."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(statement["sqlite"], rows)
    else:
        conn.exec_driver_sql(statement["postgresql"], tuple(list(c) for c in zip(*rows, strict=True)))


# --- matches, flags and alerts ----------------------------------------------------------------------


def _statements(conn: Connection) -> tuple[Any, Any]:
    dialect = conn.dialect.name
    found = _PREPARED.get(dialect)
    if found is None:
        found = _PREPARED[dialect] = (
            insert_ignoring(conn, story_watches, ["story_id", "watch"]).returning(story_watches.c.story_id),
            insert_ignoring(conn, alerts, ["watch", "channel", "event_key"]),
        )
    return found


def insert_matches(conn: Connection, rows: Sequence[Mapping[str, object]]) -> dict[tuple[str, int], int]:
    """Record matches (watch, article_id, version_id, story_id, terms, snippet, flagged, created_at) in one
    multi-row statement; the ids of those inserted by (watch, version id): one matched already (a rerun)
    is not among them."""
    if not rows:
        return {}
    return {(watch, version_id): match_id for match_id, watch, version_id in _INSERT_MATCHES.run(conn, rows)}


def flag_story(conn: Connection, story_id: int, watch: str, match_id: int, now: datetime) -> bool:
    """Flag a story for a watch by this match; False if it was flagged for that watch already."""
    row = {"story_id": story_id, "watch": watch, "match_id": match_id, "flagged_at": now}
    return conn.execute(_statements(conn)[0], row).scalar_one_or_none() is not None


def mark_flagged(conn: Connection, match_id: int) -> None:
    conn.execute(_MARK_FLAGGED, {"b_id": match_id})


def queue_alerts(conn: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """Queue alert rows for the outbox (once per watch, channel and event key)."""
    if rows:
        conn.execute(_statements(conn)[1], list(rows))


@dataclass(frozen=True, slots=True)
class Flagging:
    """A match that alerted a watch in a story."""

    id: int
    article_id: int
    source_id: int


def flagging_matches(conn: Connection, story_id: int, watch: str) -> list[Flagging]:
    """The matches that alerted this watch in this story, oldest first."""
    query = (
        sa.select(matches.c.id, matches.c.article_id, articles.c.source_id)
        .join(articles, articles.c.id == matches.c.article_id)
        .where(matches.c.story_id == story_id, matches.c.watch == watch, matches.c.flagged.is_(True))
        .order_by(matches.c.id)
    )
    return [Flagging(r.id, r.article_id, r.source_id) for r in conn.execute(query)]


def alerted_watches(conn: Connection, article_id: int, watches: Iterable[str]) -> list[tuple[str, int]]:
    """The watches among `watches` this article alerted, with the first match that did: (watch, match id)."""
    query = (
        sa.select(matches.c.watch, sa.func.min(matches.c.id))
        .where(
            matches.c.article_id == article_id,
            matches.c.flagged.is_(True),
            matches.c.watch.in_(list(watches)),
        )
        .group_by(matches.c.watch)
    )
    return [(w, int(m)) for w, m in conn.execute(query)]


# --- texts --------------------------------------------------------------------------------------------


def version_texts(conn: Connection, version_ids: Iterable[int | None]) -> dict[int, VersionText]:
    """These versions' texts, by version id."""
    ids = [v for v in version_ids if v]
    if not ids:
        return {}
    return {t.version_id: t for t in load_version_texts(conn, versions.c.id.in_(ids))}


def first_version_texts(conn: Connection, article_ids: Sequence[int]) -> list[VersionText]:
    """The first version of each of these articles."""
    if not article_ids:
        return []
    return list(load_version_texts(conn, sa.and_(versions.c.article_id.in_(article_ids), versions.c.n == 1)))
