"""`monitor poll`: one whole cycle now, with a row per source (or per article page) and a summary line."""

from __future__ import annotations

import asyncio

import click

from monitor.cli.common import exit_without_teardown, format_option, handles_errors, open_from
from monitor.cli.output import emit
from monitor.errors import MonitorError
from monitor.runtime import poll_once, start_polling


@click.command()
@click.argument("sources", nargs=-1)
@click.option(
    "--articles",
    is_flag=True,
    help="Re-check every tracked article page (of SOURCES) now, ended ladders too.",
)
@click.option("--no-pages", is_flag=True, help="Poll the sources only: no article page checks this time.")
@format_option
@click.pass_context
@handles_errors
def poll(ctx: click.Context, sources: tuple[str, ...], articles: bool, no_pages: bool, fmt: str) -> None:
    """One whole cycle now: SOURCES (default: all) whatever their schedule, the first checks of the pages
    they found, the page re-checks that are due, then delivery; one row per source and a summary line."""
    names = list(sources)
    with open_from(ctx, migrate=True, loaded=lambda settings: start_polling(settings, names)) as app:
        unknown = [s for s in sources if app.settings.source(s) is None]
        if unknown:
            raise MonitorError(f"no source named {', '.join(repr(u) for u in unknown)} in {app.config_path}")
        report, delivered = asyncio.run(poll_once(app, names, articles, pages=not no_pages))
    if delivered.attempted or delivered.waiting:
        click.echo(
            f"alerts: {delivered.sent} sent, {delivered.retrying} to retry, {delivered.failed} failed"
            + (f", {delivered.waiting} waiting for a resting channel" if delivered.waiting else ""),
            err=True,
        )
        for error in dict.fromkeys(delivered.errors):
            click.echo(f"  {error}", err=True)
    if articles:
        checks = [
            {
                "article": c.article_id,
                "source": c.source,
                "status": c.status,
                "version": c.version,
                "events": list(c.events),
                "error": c.error,
                "next_check_at": c.next_check_at,
                "url": c.url,
            }
            for c in report.checks
        ]
        emit(
            checks,
            fmt,
            ["article", "source", "status", "version", "events", "error", "next_check_at"],
            title="articles",
        )
    else:
        rows = [
            {
                "source": s.source,
                "status": s.status,
                "new": s.new,
                "changed": s.changed,
                "ms": round(s.ms),
                "error": s.error,
                "next_check_at": s.next_check_at,
                "notes": list(s.notes),
            }
            for s in report.polls
        ]
        emit(rows, fmt, ["source", "status", "new", "changed", "ms", "error", "next_check_at"], title="poll")
    click.echo(f"cycle: {report.line()}", err=True)
    exit_without_teardown()  # all committed, the database closed: skip freeing the heap object by object


def register(main: click.Group) -> None:
    main.add_command(poll)
