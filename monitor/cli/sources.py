"""`monitor sources` (each source's health), `sources add|remove` and `monitor opml import|export`: the config's
sources from the command line.

The YAML is edited in place (comments and layout kept), validated as `monitor check` would, and a running
daemon picks the change up at its next tick (see monitor.reload).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import click

from monitor.cli.common import Globals, format_option, handles_errors, open_from
from monitor.cli.output import emit
from monitor.config import config_path, load_settings
from monitor.core.durations import parse_duration
from monitor.errors import ConfigError, OpmlError


def _path(ctx: click.Context) -> str:
    g: Globals = ctx.find_root().obj
    return config_path(g.config)


def _interval(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    return value


@click.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--page", is_flag=True, help="URL is a web page to extract articles from, not a feed.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="A tag (repeatable).")
@click.option("--interval", metavar="DURATION", help="How often to poll it (e.g. 15m).")
@click.option("--follow-links", is_flag=True, help="Also fetch and track the article pages it links to.")
@click.pass_context
@handles_errors
def add_command(
    ctx: click.Context,
    name: str,
    url: str,
    page: bool,
    tags: tuple[str, ...],
    interval: str | None,
    follow_links: bool,
) -> None:
    """Add a source to the config file (a running daemon polls it at its next tick)."""
    from monitor.config_edit import ConfigDocument, NewSource  # ruamel.yaml only for config edits

    document = ConfigDocument(_path(ctx))
    document.add(NewSource(name, url, page, tags, _interval(interval), follow_links))
    settings = document.save()
    click.echo(f"{document.path}: added {name} ({len(settings.sources)} sources)")


@click.command("remove")
@click.argument("name")
@click.pass_context
@handles_errors
def remove_command(ctx: click.Context, name: str) -> None:
    """Remove a source from the config file (its archive stays; a running daemon stops polling it)."""
    from monitor.config_edit import ConfigDocument

    document = ConfigDocument(_path(ctx))
    document.remove(name)
    settings = document.save()
    click.echo(f"{document.path}: removed {name} ({len(settings.sources)} sources)")


@click.group("opml")
def opml() -> None:
    """Import feeds from, or export the sources as, OPML (what feed readers exchange)."""


@opml.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
@handles_errors
def opml_import(ctx: click.Context, file: Path) -> None:
    """Add FILE's feeds to the config, skipping URLs already there; folders become tags."""
    import listparser  # and requests: only for an OPML import

    from monitor.config_edit import ConfigDocument, NewSource, slug

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise OpmlError(f"{file}: cannot read: {exc.strerror}") from None
    parsed = listparser.parse(data)
    if not parsed.feeds and (parsed.bozo or not parsed.version):
        why = f" ({parsed.bozo_exception})" if parsed.bozo else ""
        raise OpmlError(f"{file}: not an OPML subscription list{why}")
    document = ConfigDocument(_path(ctx))
    urls, names = document.urls(), set(document.names())
    added = skipped = 0
    for feed in parsed.feeds:
        url = str(feed.url).strip()
        if url in urls:
            skipped += 1
            continue
        base = slug(str(feed.get("title") or "") or url.split("//", 1)[-1])
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        folders = [part for path in feed.get("categories", ()) for part in path]  # nested folders too
        labels = (str(t).strip() for t in [*folders, *feed.get("tags", ())])
        tags = tuple(dict.fromkeys(t for t in labels if t))
        document.add(NewSource(name, url, tags=tags))
        urls.add(url)
        names.add(name)
        added += 1
    try:
        settings = document.save() if added else None
    except ConfigError as exc:
        raise ConfigError(
            [f"{file}: the imported feeds do not validate: {p}" for p in exc.problems]
        ) from None
    total = len(settings.sources) if settings else len(names)
    click.echo(f"{document.path}: added {added} feeds, skipped {skipped} already there ({total} sources)")


@opml.command("export")
@click.pass_context
@handles_errors
def opml_export(ctx: click.Context) -> None:
    """Print the config's feed sources as OPML 2.0 (tags as categories; page sources are left out)."""
    path = _path(ctx)
    settings = load_settings(path)
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "news-monitor sources"
    ET.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC))
    body = ET.SubElement(root, "body")
    pages = 0
    for source in settings.sources:
        if source.feed is None:
            pages += 1
            continue
        outline = ET.SubElement(body, "outline", type="rss", text=source.name, title=source.name)
        outline.set("xmlUrl", source.feed)
        if source.tags:
            outline.set("category", ",".join(source.tags))
    ET.indent(root)
    sys.stdout.write('<?xml version="1.0" encoding="utf-8"?>\n')
    sys.stdout.write(ET.tostring(root, encoding="unicode") + "\n")
    if pages:
        click.echo(f"{pages} page sources left out (OPML lists feeds)", err=True)


@click.group(invoke_without_command=True)
@format_option
@click.pass_context
@handles_errors
def sources(ctx: click.Context, fmt: str) -> None:
    """Each source's health: last poll, status, errors, next check, articles (`sources add|remove` edit them)."""
    if ctx.invoked_subcommand is not None:
        return
    with open_from(ctx, migrate=False) as app:
        health = app.store.source_health()
    now = datetime.now(UTC)
    rows = []
    for h in health:
        rows.append(
            {
                "name": h.name,
                "kind": h.kind,
                "url": h.url,
                "state": h.state,
                "last_polled_at": h.last_polled_at,
                "last_status": h.last_status,
                "last_error": h.error,
                "consecutive_errors": h.consecutive_errors,
                "next_check_at": h.next_check_at,
                "next_check_in_s": (
                    int((h.next_check_at - now).total_seconds()) if h.next_check_at else None
                ),
                "articles": h.articles,
                "versions": h.versions,
                "problem": h.last_problem,
            }
        )
    emit(
        rows,
        fmt,
        [
            "name",
            "state",
            "last_polled_at",
            "last_status",
            "next_check_at",
            "articles",
            "versions",
            "last_error",
            "problem",
        ],
        title="sources",
    )


def register(main: click.Group) -> None:
    sources.add_command(add_command)
    sources.add_command(remove_command)
    main.add_command(sources)
    main.add_command(opml)
