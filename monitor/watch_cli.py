"""`monitor matches` and `monitor stories`: what the watches found, story by story."""

from __future__ import annotations

from typing import Any

import click
import sqlalchemy as sa

from monitor.cliutil import format_option, handles_errors, open_from
from monitor.output import emit
from monitor.store.repo import Store, articles, sources
from monitor.watching import matches, stories, story_watches


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


def list_stories(store: Store, watch: str | None, limit: int) -> list[dict[str, Any]]:
    query = sa.select(stories).order_by(stories.c.first_seen, stories.c.id).limit(limit)
    if watch:
        query = query.where(
            stories.c.id.in_(sa.select(story_watches.c.story_id).where(story_watches.c.watch == watch))
        )
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
    return rows


@click.command("matches")
@click.option("--watch", "watch", help="Only this watch's matches.")
@click.option("--limit", default=100, show_default=True)
@format_option
@click.pass_context
@handles_errors
def matches_command(ctx: click.Context, watch: str | None, limit: int, fmt: str) -> None:
    """Watch matches, newest first: watch, article, terms hit and a snippet."""
    with open_from(ctx, migrate=False) as app:
        rows = list_matches(app.store, watch, limit)
    emit(
        rows,
        fmt,
        ["id", "created_at", "watch", "source", "title", "terms", "flagged", "story_id"],
        title="matches",
    )


@click.command("stories")
@click.option("--watch", "watch", help="Only stories this watch flagged.")
@click.option("--limit", default=100, show_default=True)
@format_option
@click.pass_context
@handles_errors
def stories_command(ctx: click.Context, watch: str | None, limit: int, fmt: str) -> None:
    """Stories with their articles and outlets, first seen first."""
    with open_from(ctx, migrate=False) as app:
        rows = list_stories(app.store, watch, limit)
    if fmt == "table":
        for row in rows:
            row["outlets_in_order"] = " > ".join(row["outlets"])
            row["size"] = len(row["articles"])
    emit(rows, fmt, ["id", "first_seen", "title", "size", "outlets_in_order", "watches"], title="stories")


def register(group: click.Group) -> None:
    group.add_command(matches_command)
    group.add_command(stories_command)
