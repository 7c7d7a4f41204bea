"""`monitor serve`: the read-only API, Atom feeds and pages until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal

import click
from fastapi import FastAPI

from monitor.cli.common import handles_errors, open_from
from monitor.web import create_app
from monitor.web.server import TOKEN_ENV, serve_http, warn_if_open

log = logging.getLogger("monitor.web")


async def _serve_until_signal(app: FastAPI, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve_http(app, host, port, stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    show_envvar=True,
    help="Require this bearer token for everything but /healthz (browsers: open /?token=TOKEN once).",
)
@click.option(
    "--base-url",
    metavar="URL",
    help="Where readers reach this site, for Atom self links [default: the config's base_url, else "
    "http://HOST:PORT/].",
)
@click.pass_context
@handles_errors
def serve(ctx: click.Context, host: str, port: int, token: str | None, base_url: str | None) -> None:
    """Serve the read-only JSON API (/api/v1, /docs), Atom feeds and web pages until SIGTERM or Ctrl-C."""
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{base_url!r} is not an http(s) URL", param_hint="--base-url")
    with open_from(ctx, migrate=False) as app:
        web = create_app(app.store, app.settings, token=token or None, health=None, base_url=base_url)
        if token:
            log.info("a bearer token is required for everything but /healthz")
        warn_if_open(host, port, token)
        asyncio.run(_serve_until_signal(web, host, port))


def register(group: click.Group) -> None:
    group.add_command(serve)
