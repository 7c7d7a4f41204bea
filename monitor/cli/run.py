"""`monitor run`: the daemon, in the roles asked for (poll, deliver, http)."""

from __future__ import annotations

import asyncio
import os

import click

from monitor.cli.common import handles_errors, open_from
from monitor.fleet import ROLES
from monitor.runtime import DaemonOptions, run_daemon
from monitor.web.server import TOKEN_ENV, listen


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
            listen(*address).close()  # a taken port is one clear error before anything starts
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{base_url!r} is not an http(s) URL", param_hint="--base-url")
        token = os.environ.get(TOKEN_ENV) or None
        asyncio.run(run_daemon(app, DaemonOptions(tick, roles, address, base_url, token)))


def register(main: click.Group) -> None:
    main.add_command(run)
