"""The `monitor` command: thin commands over the library API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import click

from monitor import __version__
from monitor.app import App
from monitor.cliutil import Globals, format_option, handles_errors, open_from
from monitor.config import config_path, database_url, load_settings
from monitor.daemon import Daemon
from monitor.encode import hide_urls, mask_text, mask_url
from monitor.errors import ConfigError, MonitorError
from monitor.fleet import ROLES, FleetGate
from monitor.metrics import Metrics
from monitor.outbox import Outbox
from monitor.output import TABLE_ZONE, emit
from monitor.reload import Reloader
from monitor.service import CycleReport, Service, ServiceOptions, make_fetcher, pool_size
from monitor.store.db import current_revision, head_revision, make_engine, upgrade
from monitor.store.retention import prune, prune_if_mine
from monitor.watching import attach as attach_watches
from monitor.watching import reconfigure as reconfigure_watches

# At shutdown the last alert pass gets this long, whatever a receiver does (deploy's TimeoutStopSec is 45 s,
# of which in-flight polls may take 30).
SHUTDOWN_DELIVERY_SECONDS = 5.0


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


@main.group()
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


def _host_port(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)", param_hint="--http")
    return host.strip("[]") or "127.0.0.1", int(port)


def _roles(values: tuple[str, ...], http: str | None) -> tuple[str, ...]:
    """The roles asked for (`all` by default: polling, delivery, and HTTP when --http is given)."""
    asked: list[str] = []
    for value in values or ("all",):
        asked.extend(part.strip() for part in value.split(",") if part.strip())
    unknown = [r for r in asked if r not in (*ROLES, "all")]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}: roles are {', '.join(ROLES)} or all", param_hint="--role"
        )
    if "all" in asked:
        asked = ["poll", "deliver", *(["http"] if http else [])]
    if "http" in asked and not http:
        raise click.BadParameter("the http role needs --http HOST:PORT", param_hint="--role")
    if http and "http" not in asked:
        asked.append("http")
    return tuple(r for r in ROLES if r in asked)


@main.command()
@click.option("--tick", default=1.0, show_default=True, help="Seconds between looks for due work.")
@click.option(
    "--role",
    "role",
    multiple=True,
    metavar="poll|deliver|http|all",
    help="What this process does (repeat or comma-separate; default all): poll sources and pages, "
    "deliver alerts, serve HTTP (needs --http).",
)
@click.option(
    "--http",
    "http",
    metavar="HOST:PORT",
    help="Also serve the API, feeds and web pages (as `monitor serve`; token from $MONITOR_API_TOKEN).",
)
@click.option(
    "--base-url",
    metavar="URL",
    help="Where readers reach the site served by --http, for Atom self links [default: the config's "
    "base_url, else http://HOST:PORT/].",
)
@click.pass_context
@handles_errors
def run(
    ctx: click.Context, tick: float, role: tuple[str, ...], http: str | None, base_url: str | None
) -> None:
    """Run the daemon: poll every source when it is due until SIGTERM or Ctrl-C.

    Several daemons may run on one Postgres database, on one machine or many: they share the work."""
    roles = _roles(role, http)
    address = _host_port(http)
    with open_from(ctx, migrate=True) as app:
        if address is not None:
            from monitor.web_cli import listen

            listen(*address).close()  # a taken port is one clear error before anything starts
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{base_url!r} is not an http(s) URL", param_hint="--base-url")
        asyncio.run(_run_daemon(app, tick, address, roles, base_url))


async def _run_daemon(
    app: App,
    tick: float,
    address: tuple[str, int] | None = None,
    roles: tuple[str, ...] = ("poll", "deliver"),
    base_url: str | None = None,
) -> None:
    fleet = app.settings.fleet
    fetcher = make_fetcher(app.settings)
    service = Service(app.settings, app.store, fetcher, ServiceOptions(lease=fleet.lease))
    gate: FleetGate | None = None
    if not app.store.sqlite:  # one SQLite file has one process: the fetcher's own limits are the fleet's
        gate = fetcher.gate = FleetGate(app.store, service.owner, app.settings.defaults.per_host)
    outbox = Outbox(app.settings, app.store, lease=fleet.lease)
    try:
        step = await attach_watches(service) if "poll" in roles else None
        daemon = Daemon(service, tick_seconds=tick, roles=roles)
        metrics = Metrics(
            app.store,
            role=",".join(roles),
            story_index=lambda: len(step.index) if step is not None else 0,
        )
        daemon.on_result.append(metrics.record)
        reloader = Reloader(app.config_path, app.settings)
        reloader.appliers += [service.apply_settings, outbox.reconfigure]
        if step is not None:
            watching_step = step
            reloader.appliers.append(lambda settings: reconfigure_watches(service, watching_step, settings))
        daemon.reloader = reloader
        if "deliver" in roles:
            daemon.periodic.append((max(tick, 1.0), outbox.start_pass))  # a slow channel holds only itself
        daemon.periodic.append((app.settings.retention.every.total_seconds(), _pruner(app, service.owner)))
        serving: asyncio.Task[None] | None = None
        stop_http = asyncio.Event()
        if address is not None:
            from monitor.web import create_app
            from monitor.web_cli import TOKEN_ENV, serve_http, warn_if_open

            token = os.environ.get(TOKEN_ENV) or None
            warn_if_open(*address, token)
            web = create_app(
                app.store,
                app.settings,
                token=token,
                health=daemon.health,
                tick_seconds=tick,
                metrics=metrics,
                base_url=base_url,
            )
            reloader.appliers.append(lambda settings: setattr(web.state.web, "settings", settings))
            serving = asyncio.create_task(serve_http(web, *address, stop_http), name="http")

            def http_ended(task: asyncio.Task[None]) -> None:
                if not task.cancelled() and task.exception() is not None:
                    logging.getLogger("monitor.http").error("the HTTP server failed: %s", task.exception())
                    daemon.stop()

            serving.add_done_callback(http_ended)
        logging.getLogger("monitor.daemon").info(
            "config %s, database %s", app.config_path, app.engine.url.render_as_string(hide_password=True)
        )
        try:
            await daemon.run()
        finally:
            stop_http.set()
            if serving is not None:
                with contextlib.suppress(Exception):
                    await serving
        if "deliver" in roles:
            await outbox.finish(SHUTDOWN_DELIVERY_SECONDS)  # what the last polls queued, before exiting
    finally:
        await outbox.aclose()
        await fetcher.aclose()
        service.close()
        if gate is not None:
            gate.close()


def _pruner(app: App, owner: str) -> Callable[[], Awaitable[None]]:
    """The daemon's retention job: one process of the fleet at a time prunes, the others skip."""
    log = logging.getLogger("monitor.retention")

    async def prune_once() -> None:
        try:
            pruned = await asyncio.to_thread(prune_if_mine, app.store, app.settings.retention, owner)
        except Exception as exc:
            log.warning("pruning failed: %s: %s", type(exc).__name__, exc)
            return
        if pruned:
            log.info("pruned %s", ", ".join(f"{n} {table}" for table, n in pruned.items()))

    return prune_once


@main.command()
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
    with open_from(ctx, migrate=True) as app:
        unknown = [s for s in sources if app.settings.source(s) is None]
        if unknown:
            raise MonitorError(f"no source named {', '.join(repr(u) for u in unknown)} in {app.config_path}")
        report = asyncio.run(_poll(app, list(sources), articles, pages=not no_pages))
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


async def _poll(app: App, names: list[str], articles: bool = False, *, pages: bool = True) -> CycleReport:
    fetcher = make_fetcher(app.settings)
    workers = pool_size(len(names) or len(app.settings.sources))  # every core busy, as `monitor run`
    service = Service(app.settings, app.store, fetcher, ServiceOptions(parse_workers=workers))
    outbox = Outbox(app.settings, app.store)
    try:
        await attach_watches(service)
        await service.sync_sources()
        if articles:
            report = CycleReport(polls=[], checks=await service.check_articles(names or None))
        else:
            report = await service.poll_cycle(names or None, pages=pages)
        delivered = await outbox.deliver_all()
        report.alerts_sent = delivered.sent
        if delivered.attempted or delivered.waiting:
            click.echo(
                f"alerts: {delivered.sent} sent, {delivered.retrying} to retry, {delivered.failed} failed"
                + (f", {delivered.waiting} waiting for a resting channel" if delivered.waiting else ""),
                err=True,
            )
            for error in dict.fromkeys(delivered.errors):
                click.echo(f"  {error}", err=True)
        return report
    finally:
        await outbox.aclose()
        await fetcher.aclose()
        service.close()


@main.group(invoke_without_command=True)
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
                "last_error": h.disabled_reason or h.last_error,
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


from monitor import pages_cli  # noqa: E402

pages_cli.register(main)

from monitor import alerts_cli, dryrun_cli, search_cli, sources_cli, watch_cli, web_cli  # noqa: E402

watch_cli.register(main)
alerts_cli.register(main)
search_cli.register(main)
web_cli.register(main)
sources_cli.register(main, sources)
dryrun_cli.register(main)
