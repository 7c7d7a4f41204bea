"""`monitor matches` and `monitor stories`: what the watches found, story by story."""

from __future__ import annotations

import click

from monitor.cli.common import format_option, handles_errors, open_from
from monitor.cli.output import emit
from monitor.runtime import Runtime
from monitor.store.findings import list_matches, list_stories
from monitor.store.listings import require_known


def check_filters(app: Runtime, sources_: tuple[str, ...] = (), watches: tuple[str, ...] = ()) -> None:
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
    from monitor.cli.search import parse_when

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
