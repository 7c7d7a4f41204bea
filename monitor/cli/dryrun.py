"""`monitor test`: try a source (fetch, parse, match) or a watch query (over the archive), writing nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from monitor.cli.common import Globals, format_option, handles_errors, open_from
from monitor.cli.output import emit
from monitor.config import config_path, load_settings
from monitor.dryrun import TriedSource, source_for, try_query, try_source
from monitor.errors import UsageError
from monitor.runtime import make_fetcher


@click.command("test")
@click.argument("target", required=False, metavar="URL|SOURCE")
@click.option("--pages", is_flag=True, help="Also fetch and extract the first few entries' article pages.")
@click.option("--query", metavar="QUERY", help="Run a watch query over the archive instead.")
@click.option("--since", metavar="DATE", help="With --query: only articles published (else seen) since DATE.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 1000), help="With --query.")
@format_option
@click.pass_context
@handles_errors
def test_command(
    ctx: click.Context,
    target: str | None,
    pages: bool,
    query: str | None,
    since: str | None,
    limit: int,
    fmt: str,
) -> None:
    """Dry run, writing nothing: what a poll of URL|SOURCE would store and which watches would match,
    or (--query) which stories a watch with QUERY would have alerted on."""
    if (target is None) == (query is None):
        raise UsageError("give a URL or source name, or --query QUERY (not both)")
    if query is not None:
        _test_query(ctx, query, since, limit, fmt)
        return
    assert target is not None
    g: Globals = ctx.obj
    settings = load_settings(config_path(g.config))
    source = source_for(settings, target)
    tried = asyncio.run(_try(settings, source, pages))
    _show_source(tried, fmt)


async def _try(settings: Any, source: Any, pages: bool) -> TriedSource:
    fetcher = make_fetcher(settings)
    try:
        return await try_source(settings, source, fetcher, pages=pages)
    finally:
        await fetcher.aclose()


def _show_source(tried: TriedSource, fmt: str) -> None:
    if tried.kind == "listing":
        emit([{"link": link} for link in tried.links], fmt, ["link"], title=f"{tried.source}: article links")
        click.echo(
            f"{tried.url}: a listing page; {len(tried.links)} article links would be tracked", err=True
        )
        return
    rows = [
        {
            "title": e.title,
            "published": e.published,
            "words": e.words,
            "watches": list(e.watches),
            "page": e.page,
            "url": e.url,
        }
        for e in tried.entries
    ]
    columns = ["published", "title", "words", "watches", "url"]
    if any(e.page for e in tried.entries):
        columns.insert(3, "page")
    emit(rows, fmt, columns, title=f"{tried.source}: {tried.url}")
    matched = sum(1 for e in tried.entries if e.watches)
    click.echo(
        f"{tried.url}: status {tried.status}, {len(tried.entries)} entries would be stored, "
        f"{matched} match a watch (nothing written)",
        err=True,
    )


def _test_query(ctx: click.Context, query: str, since: str | None, limit: int, fmt: str) -> None:
    from monitor.cli.search import parse_when

    with open_from(ctx, migrate=False) as app:
        found, total = try_query(app.store, query, parse_when(since, "--since"), limit)
    rows = [
        {
            "story_id": s.story_id,
            "first_seen": s.first_seen,
            "title": s.title,
            "articles": len(s.articles),
            "outlets_in_order": " > ".join(s.outlets),
            "article_ids": [a.article_id for a in s.articles],
        }
        for s in found
    ]
    emit(
        rows,
        fmt,
        ["first_seen", "story_id", "title", "articles", "outlets_in_order"],
        title=f"would alert: {query}",
    )
    articles = sum(len(s.articles) for s in found)
    click.echo(
        f"{len(found)} alerts (one per story) for {articles} of {total} matching articles (nothing written)",
        err=True,
    )


def register(group: click.Group) -> None:
    group.add_command(test_command)
