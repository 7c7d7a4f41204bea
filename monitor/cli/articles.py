"""`monitor show ID` and `monitor diff ID`: an article's versions and what changed between them."""

from __future__ import annotations

import json
import sys

import click

from monitor.cli.common import format_option, handles_errors, open_from
from monitor.cli.output import emit, plain
from monitor.core.versions import (
    diff_json,
    diff_versions,
    history_rows,
    render_ansi,
    render_html,
    render_text,
    version_text,
)
from monitor.encode import terminal_text
from monitor.errors import NotFoundError
from monitor.store.tracking import article_history


@click.command("show")
@click.argument("article_id", type=int)
@format_option
@click.pass_context
@handles_errors
def show(ctx: click.Context, article_id: int, fmt: str) -> None:
    """An article with its versions: n, seen_at, title, words added/removed, headline changes."""
    with open_from(ctx, migrate=False) as app:
        article, history, events = article_history(app.store, article_id)
    rows = history_rows(history)
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
        article, history, _events = article_history(app.store, article_id)
    by_n = {v["n"]: v for v in history}
    if not history:
        raise NotFoundError(f"article {article_id} has no versions yet")
    to_n = to_n or history[-1]["n"]
    from_n = from_n or max(to_n - 1, 1)
    for n in (from_n, to_n):
        if n not in by_n:
            raise NotFoundError(f"article {article_id} has no version {n} (it has 1-{history[-1]['n']})")
    old, new = by_n[from_n], by_n[to_n]
    changes = diff_versions(old["title"], version_text(old), new["title"], version_text(new))
    if fmt == "json":
        out = {
            "article": article_id,
            "from": from_n,
            "to": to_n,
            "headline_changed": changes.headline_changed,
            "title": diff_json(changes.title),
            "body": diff_json(changes.body),
            "words_added": changes.body.added + changes.title.added,
            "words_removed": changes.body.removed + changes.title.removed,
        }
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
