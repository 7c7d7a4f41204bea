"""The `monitor` command: global options, logging, `monitor check`, and every command group registered explicitly."""

from __future__ import annotations

import logging
from datetime import UTC

import click

from monitor import __version__
from monitor.cli import alerts, articles, database, dryrun, matches, poll, run, search, serve, sources
from monitor.cli.common import Globals, handles_errors
from monitor.cli.output import TABLE_ZONE
from monitor.config import config_path, database_url, load_settings
from monitor.encode import hide_urls, mask_text, mask_url


class _SecretFilter(logging.Filter):
    """Mask passwords in URLs in every log line; hide whole URLs in Apprise's (its tokens sit in paths)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hide = record.name.startswith(("apprise", "urllib3", "requests"))
        masked = hide_urls(message) if hide else mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(message)s", datefmt="%Y-%m-%dT%H:%M:%S"
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _SecretFilter) for f in handler.filters):
            handler.addFilter(_SecretFilter())
    if verbose < 2:
        for noisy in ("httpx", "httpcore", "apscheduler", "alembic", "trafilatura", "htmldate"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    metavar="PATH",
    help="Config file [default: $MONITOR_CONFIG, else config/feeds.yaml].",
)
@click.option(
    "--db",
    "db",
    metavar="URL",
    help="Database URL [default: $MONITOR_DATABASE_URL, else the config's database, else sqlite:///data/monitor.db].",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--utc", is_flag=True, help="Show table times in UTC [default: the local zone, named].")
@click.version_option(__version__, prog_name="monitor")
@click.pass_context
def main(ctx: click.Context, config: str | None, db: str | None, verbose: int, utc: bool) -> None:
    """news-monitor: poll news feeds and pages, keep every version, alert on watches."""
    _setup_logging(verbose)
    TABLE_ZONE.set(UTC if utc else None)
    ctx.obj = Globals(config, db)


@main.command()
@click.pass_context
@handles_errors
def check(ctx: click.Context) -> None:
    """Validate the configuration and exit (2 with one line per problem if it is invalid)."""
    g: Globals = ctx.obj
    path = config_path(g.config)
    settings = load_settings(path)
    click.echo(
        f"{path}: ok ({len(settings.sources)} sources, {len(settings.watches)} watches, "
        f"{len(settings.channels)} channels; database {mask_url(database_url(g.db, settings))})"
    )


database.register(main)
run.register(main)
poll.register(main)
sources.register(main)
articles.register(main)
matches.register(main)
alerts.register(main)
search.register(main)
serve.register(main)
dryrun.register(main)
