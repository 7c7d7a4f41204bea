"""`monitor run`: the daemon, in the roles asked for (poll, deliver, http)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable

import click

from monitor.app import App
from monitor.cli.common import handles_errors, open_from
from monitor.daemon import Daemon
from monitor.fleet import ROLES, FleetGate
from monitor.metrics import Metrics
from monitor.outbox import Outbox
from monitor.reload import Reloader
from monitor.service import Service, ServiceOptions, make_fetcher
from monitor.store.retention import prune_if_mine
from monitor.watching import attach as attach_watches
from monitor.watching import reconfigure as reconfigure_watches

# At shutdown the last alert pass gets this long, whatever a receiver does (deploy's TimeoutStopSec is 45 s,
# of which in-flight polls may take 30).
SHUTDOWN_DELIVERY_SECONDS = 5.0


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


@click.command()
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
            from monitor.cli.serve import listen

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
            from monitor.cli.serve import TOKEN_ENV, serve_http, warn_if_open
            from monitor.web.app import create_app

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


def register(main: click.Group) -> None:
    main.add_command(run)
