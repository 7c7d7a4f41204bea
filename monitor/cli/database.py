"""`monitor db upgrade|prune`: the schema and retention."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from monitor.cli.common import Globals, handles_errors, open_from
from monitor.config import config_path, database_url, load_settings
from monitor.errors import ConfigError
from monitor.store.db import current_revision, head_revision, make_engine, upgrade
from monitor.store.retention import prune


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.pass_context
@handles_errors
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending migration (safe to run while another process does the same)."""
    g: Globals = ctx.obj
    settings = None
    try:
        settings = load_settings(config_path(g.config))
    except ConfigError:
        if not g.db:
            raise
    engine = make_engine(database_url(g.db, settings))
    try:
        upgrade(engine)
        click.echo(f"database at {current_revision(engine)} (head {head_revision()})")
    finally:
        engine.dispose()


@db.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be pruned; delete nothing.")
@click.pass_context
@handles_errors
def db_prune(ctx: click.Context, dry_run: bool) -> None:
    """Delete rows older than the `retention:` settings (fetches, finished alerts, unflagged matches)."""
    with open_from(ctx, migrate=False) as app:
        counts = prune(app.store, app.settings.retention, datetime.now(UTC), dry_run=dry_run)
    verb = "would prune" if dry_run else "pruned"
    click.echo(f"{verb}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))


def register(main: click.Group) -> None:
    main.add_command(db)
