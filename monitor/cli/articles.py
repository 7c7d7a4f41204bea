"""`monitor show ID` and `monitor diff ID`: an article's versions and what changed between them."""

from __future__ import annotations

import json
import sys

import click

from monitor.cli.common import format_option, handles_errors, open_from
from monitor.cli.output import emit, plain
from monitor.core.history import diff_document
from monitor.core.versions import render_ansi, render_html, render_text
from monitor.encode import terminal_text
from monitor.store.archive import load_history


@click.command("show")
@click.argument("article_id", type=int)
@format_option
@click.pass_context
@handles_errors
def show(ctx: click.Context, article_id: int, fmt: str) -> None:
    """An article with its versions: n, seen_at, title, words added/removed, headline changes."""
    with open_from(ctx, migrate=False) as app:
        found = load_history(app.store, article_id)
    article, events, rows = found.article, found.events, found.rows()
    if fmt == "json":
        json.dump(
            plain({"article": article, "versions": rows, "events": events}),
            sys.stdout,
            ensure_ascii=False,
            indent=2,
        )
        sys.stdout.write("\n")
        return
    if fmt == "table":
        click.echo(
            terminal_text(f"#{article['id']} {article['title']}\n{article['source']}  {article['url']}")
        )
        if article.get("removed_at"):
            click.echo(f"removed at {article['removed_at']:%Y-%m-%d %H:%M}Z")
        for event in events:
            line = f"  {event['at']:%Y-%m-%d %H:%M}Z {event['kind']} {event['detail'] or ''}".rstrip()
            click.echo(terminal_text(line))
    emit(
        rows,
        fmt,
        ["n", "seen_at", "title", "words_added", "words_removed", "headline_changed", "reverts_to"],
        title="versions",
    )


@click.command("diff")
@click.argument("article_id", type=int)
@click.option("--from", "from_n", type=int, help="Older version n [default: the one before --to].")
@click.option("--to", "to_n", type=int, help="Newer version n [default: the latest].")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "html", "json"]), default="text", show_default=True
)
@click.pass_context
@handles_errors
def diff(ctx: click.Context, article_id: int, from_n: int | None, to_n: int | None, fmt: str) -> None:
    """Word-level diff between two versions; coloured in a terminal, headline changes called out."""
    with open_from(ctx, migrate=False) as app:
        found = load_history(app.store, article_id)
    from_n, to_n = found.default_pair(from_n, to_n)
    changes = found.diff(from_n, to_n)
    article = found.article
    if fmt == "json":
        out = diff_document(article_id, from_n, to_n, changes)
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if fmt == "html":
        headline = (
            f'<h2 class="headline-changed">{render_html(changes.title)}</h2>'
            if changes.headline_changed
            else ""
        )
        click.echo(f"{headline}<p>{render_html(changes.body)}</p>")
        return
    color = sys.stdout.isatty()
    render = render_ansi if color else render_text
    click.echo(terminal_text(f"#{article_id} {article['title']}: version {from_n} -> {to_n}"))
    if changes.headline_changed:
        click.echo(f"HEADLINE CHANGED: {render(changes.title)}")
    if changes.body.changed:
        click.echo(render(changes.body, context=12))
    elif not changes.headline_changed:
        click.echo("(no text changes)")


def register(group: click.Group) -> None:
    group.add_command(show)
    group.add_command(diff)
