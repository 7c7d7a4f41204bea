"""`monitor search QUERY` and `monitor export`: full-text search over the archive, and all of it as JSONL."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from monitor.cli.common import format_option, handles_errors, open_from
from monitor.cli.matches import check_filters
from monitor.cli.output import emit, plain
from monitor.errors import UsageError
from monitor.store.export import export_rows
from monitor.store.search import RELEVANCE_WINDOW, SORTS, SearchHit, SearchQuery, search


def parse_when(value: str | None, option: str, *, end_of_day: bool = False) -> datetime | None:
    """``2024-10-18`` or an ISO 8601 time (UTC unless it says otherwise); a day ends at its midnight."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option}: '{value}' is not a date (use 2024-10-18 or 2024-10-18T09:30)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if end_of_day and len(value) == 10:  # a day given alone: through the end of that day
        when += timedelta(days=1)
    return when.astimezone(UTC)


def _marked(hit: SearchHit) -> str:
    """The snippet with its highlights in bold (rich markup is off in tables: plain ``**`` markers)."""
    pieces, position = [], 0
    for start, end in hit.highlights:
        pieces += [hit.snippet[position:start], "**", hit.snippet[start:end], "**"]
        position = end
    pieces.append(hit.snippet[position:])
    return "".join(pieces)


@click.command("search")
@click.argument("query")
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--since", metavar="DATE", help="Versions published (else seen) on or after DATE.")
@click.option("--until", metavar="DATE", help="Versions published (else seen) up to DATE (a day: inclusive).")
@click.option("--watch", metavar="WATCH", help="Only articles this watch matched.")
@click.option("--story", "story_id", type=int, metavar="ID", help="Only articles of this story.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="Hits per page.")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0), help="Where the page starts.")
@click.option(
    "--sort",
    type=click.Choice(SORTS),
    default="relevance",
    show_default=True,
    help=f"relevance: the articles of the newest {RELEVANCE_WINDOW:,} matching versions best first, then"
    " older ones newest first; newest: newest first.",
)
@format_option
@click.pass_context
@handles_errors
def search_command(
    ctx: click.Context,
    query: str,
    sources: tuple[str, ...],
    since: str | None,
    until: str | None,
    watch: str | None,
    story_id: int | None,
    limit: int,
    offset: int,
    sort: str,
    fmt: str,
) -> None:
    """Search titles and texts of every version with the watch query language; one hit per article.

    Hits are ranked best first (or newest first with --sort newest), with a snippet around the words
    found; the line on stderr says how many articles match (counted up to 1,000: "1000+" beyond) and
    where the next page starts (--offset).
    """
    request = SearchQuery(
        text=query,
        sources=sources,
        since=parse_when(since, "--since"),
        until=parse_when(until, "--until", end_of_day=True),
        watch=watch,
        story_id=story_id,
        limit=limit,
        offset=offset,
        sort="newest" if sort == "newest" else "relevance",
    )
    with open_from(ctx, migrate=False) as app:
        check_filters(app, sources, (watch,) if watch else ())
        page = search(app.store, request)
    rows: list[dict[str, Any]] = [plain(hit) for hit in page.hits]
    if fmt == "table":
        for row, hit in zip(rows, page.hits, strict=True):
            row["snippet"] = _marked(hit)
            row["published"] = hit.published or hit.seen_at
    columns = ["rank", "source", "published", "title", "snippet", "article_id", "version_n", "url"]
    if fmt == "csv":
        columns = ["article_id", "version_id", "version_n", "rank", "source", "published", "seen_at"]
        columns += ["story_id", "url", "title", "snippet", "highlights"]
    emit(rows, fmt, columns, title=f"search: {query}")
    more = f"; next page: --offset {page.next_offset}" if page.next_offset is not None else ""
    total = f"{page.total}+" if page.total_capped else str(page.total)
    click.echo(f"{len(page.hits)} hits of {total} articles from offset {offset}{more}", err=True)
    if page.lag.pending:
        click.echo(page.lag.line(), err=True)


@click.command("export")
@click.option("--since", metavar="DATE", help="Only articles with a version seen on or after DATE.")
@click.pass_context
@handles_errors
def export_command(ctx: click.Context, since: str | None) -> None:
    """Every article with all its versions, one JSON object a line (for pipelines)."""
    when = parse_when(since, "--since")
    out = sys.stdout
    count = 0
    with open_from(ctx, migrate=False) as app:
        for row in export_rows(app.store, when):
            out.write(json.dumps(plain(row), ensure_ascii=False) + "\n")
            count += 1
    click.echo(f"exported {count} articles", err=True)


def register(group: click.Group) -> None:
    group.add_command(search_command)
    group.add_command(export_command)
