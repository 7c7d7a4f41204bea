"""What the watches found, read back: matches and stories as `monitor matches|stories`, the API, the pages
and the Atom feeds list them (one query each, shared by the CLI and the web)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.errors import NotFoundError
from monitor.store.store import Store
from monitor.store.tables import articles, matches, sources, stories, story_watches, versions


def list_matches(store: Store, watch: str | None, limit: int) -> list[dict[str, Any]]:
    """Watch matches, newest first, with their article's title, URL and source."""
    query = (
        sa.select(
            matches.c.id,
            matches.c.watch,
            matches.c.created_at,
            matches.c.story_id,
            matches.c.flagged,
            matches.c.terms,
            matches.c.snippet,
            matches.c.article_id,
            articles.c.title,
            articles.c.url,
            sources.c.name.label("source"),
        )
        .join(articles, articles.c.id == matches.c.article_id)
        .join(sources, sources.c.id == articles.c.source_id)
        .order_by(matches.c.created_at.desc(), matches.c.id.desc())
        .limit(limit)
    )
    if watch:
        query = query.where(matches.c.watch == watch)
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class FeedMatch:
    """A watch's match as its Atom feed shows it: the matching version, its snippet and terms."""

    id: int
    terms: list[str]
    snippet: str
    created_at: datetime
    article_id: int
    n: int
    version_id: int
    title: str
    published: datetime | None
    url: str
    article_title: str
    source: str


def watch_feed_matches(store: Store, watch: str, limit: int) -> list[FeedMatch]:
    """A watch's matches, newest first, each with the version it matched."""
    query = (
        sa.select(
            matches.c.id,
            matches.c.terms,
            matches.c.snippet,
            matches.c.created_at,
            matches.c.article_id,
            versions.c.n,
            versions.c.id.label("version_id"),
            versions.c.title,
            versions.c.published,
            articles.c.url,
            articles.c.title.label("article_title"),
            sources.c.name.label("source"),
        )
        .join(versions, versions.c.id == matches.c.version_id)
        .join(articles, articles.c.id == matches.c.article_id)
        .join(sources, sources.c.id == articles.c.source_id)
        .where(matches.c.watch == watch)
        .order_by(matches.c.created_at.desc(), matches.c.id.desc())
        .limit(limit)
    )
    with store.read() as conn:
        return [
            FeedMatch(
                id=r.id,
                terms=list(r.terms or []),
                snippet=r.snippet,
                created_at=r.created_at,
                article_id=r.article_id,
                n=r.n,
                version_id=r.version_id,
                title=r.title,
                published=r.published,
                url=r.url,
                article_title=r.article_title,
                source=r.source,
            )
            for r in conn.execute(query)
        ]


def list_stories(
    store: Store,
    watch: str | None,
    limit: int,
    *,
    offset: int = 0,
    sources_: tuple[str, ...] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Stories newest first (by first seen), filtered as search is: watch, sources, first seen in [since, until).

    Each row is a story with its `articles` (first seen first), its `outlets` in the order they reported it,
    the `watches` that flagged it and its `size`."""
    query = (
        sa.select(stories)
        .order_by(stories.c.first_seen.desc(), stories.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if watch:
        query = query.where(
            stories.c.id.in_(sa.select(story_watches.c.story_id).where(story_watches.c.watch == watch))
        )
    if sources_:
        query = query.where(
            stories.c.id.in_(
                sa.select(articles.c.story_id)
                .join(sources, sources.c.id == articles.c.source_id)
                .where(sources.c.name.in_(sources_), articles.c.story_id.is_not(None))
            )
        )
    if since is not None:
        query = query.where(stories.c.first_seen >= since)
    if until is not None:
        query = query.where(stories.c.first_seen < until)
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
        _add_members(conn, rows)
    return rows


def story_detail(store: Store, story_id: int) -> dict[str, Any]:
    """One story as `list_stories` shows each (NotFoundError when there is none)."""
    with store.read() as conn:
        row = conn.execute(sa.select(stories).where(stories.c.id == story_id)).first()
        if row is None:
            raise NotFoundError(f"no story {story_id}")
        rows = [dict(row._mapping)]
        _add_members(conn, rows)
    return rows[0]


def _add_members(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Give each story row its articles, outlets in order, flagging watches and size."""
    ids = [r["id"] for r in rows]
    members: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    flags: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for r in conn.execute(
            sa.select(
                articles.c.id,
                articles.c.story_id,
                articles.c.title,
                articles.c.url,
                articles.c.first_seen,
                articles.c.published,
                sources.c.name.label("source"),
            )
            .join(sources, sources.c.id == articles.c.source_id)
            .where(articles.c.story_id.in_(ids))
            .order_by(articles.c.first_seen, articles.c.id)
        ):
            members[r.story_id].append(dict(r._mapping))
        for r in conn.execute(sa.select(story_watches).where(story_watches.c.story_id.in_(ids))):
            flags[r.story_id].append(r.watch)
    for row in rows:
        row["articles"] = members[row["id"]]
        row["outlets"] = list(dict.fromkeys(a["source"] for a in members[row["id"]]))
        row["watches"] = sorted(flags[row["id"]])
        row["size"] = len(row["articles"])
