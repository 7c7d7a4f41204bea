"""`monitor matches` and `monitor stories`: what the watches found, story by story."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
import sqlalchemy as sa

from monitor.app import App
from monitor.cliutil import format_option, handles_errors, open_from
from monitor.output import emit
from monitor.store.listings import require_known
from monitor.store.repo import Store, articles, sources
from monitor.store.stories import matches, stories, story_watches


def list_matches(store: Store, watch: str | None, limit: int) -> list[dict[str, Any]]:
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
    """Stories newest first (by first seen), filtered as search is: watch, sources, first seen in [since, until)."""
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
    return rows


def check_filters(app: App, sources_: tuple[str, ...] = (), watches: tuple[str, ...] = ()) -> None:
    """Exit 3 naming every unknown source or watch a filter names, instead of listing nothing."""
    require_known(
        app.store,
        sources=sources_,
        watches=watches,
        configured_sources=[s.name for s in app.settings.sources],
        configured_watches=[w.name for w in app.settings.watches],
    )


@click.command("matches")
@click.option("--watch", "watch", help="Only this watch's matches.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1))
@format_option
@click.pass_context
@handles_errors
def matches_command(ctx: click.Context, watch: str | None, limit: int, fmt: str) -> None:
    """Watch matches, newest first: watch, article, terms hit and a snippet."""
    with open_from(ctx, migrate=False) as app:
        check_filters(app, watches=(watch,) if watch else ())
        rows = list_matches(app.store, watch, limit)
    emit(
        rows,
        fmt,
        ["id", "created_at", "watch", "source", "title", "terms", "flagged", "story_id"],
        title="matches",
    )


@click.command("stories")
@click.option("--watch", "watch", help="Only stories this watch flagged.")
@click.option(
    "--source", "sources_", multiple=True, metavar="NAME", help="Only stories with an article from NAME."
)
@click.option("--since", metavar="DATE", help="Stories first seen on or after DATE.")
@click.option("--until", metavar="DATE", help="Stories first seen up to DATE (a day: inclusive).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1), help="Stories per page.")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0), help="Where the page starts.")
@format_option
@click.pass_context
@handles_errors
def stories_command(
    ctx: click.Context,
    watch: str | None,
    sources_: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int,
    offset: int,
    fmt: str,
) -> None:
    """Stories with their articles and outlets, newest first."""
    from monitor.search_cli import parse_when

    with open_from(ctx, migrate=False) as app:
        check_filters(app, sources_, (watch,) if watch else ())
        rows = list_stories(
            app.store,
            watch,
            limit,
            offset=offset,
            sources_=sources_,
            since=parse_when(since, "--since"),
            until=parse_when(until, "--until", end_of_day=True),
        )
    for row in rows:
        row["outlets_in_order"] = " > ".join(row["outlets"])
    columns = ["id", "first_seen", "title", "size", "outlets_in_order", "watches"]
    if fmt == "csv":
        columns = ["id", "first_seen", "last_seen", "title", "size", "outlets_in_order", "watches"]
    emit(rows, fmt, columns, title="stories")


def register(group: click.Group) -> None:
    group.add_command(matches_command)
    group.add_command(stories_command)
