"""Serving the web app over HTTP with uvicorn, for `monitor serve` and the daemon's http role: bind first (one
clear error for a taken port), no signal handlers of its own, a graceful stop when told."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from monitor.errors import MonitorError
from monitor.web.factory import listening_at

log = logging.getLogger("monitor.web")
TOKEN_ENV = "MONITOR_API_TOKEN"


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: whoever runs it decides when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def is_loopback(host: str) -> bool:
    """Whether every address `host` stands for is this machine's loopback (0.0.0.0 and :: are not)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def warn_if_open(host: str, port: int, token: str | None) -> None:
    """One loud line when the archive is served beyond this machine with no token to keep others out."""
    if not token and not is_loopback(host):
        log.warning(
            "WARNING: serving %s:%d beyond this machine WITHOUT A TOKEN: anyone who can reach it reads the "
            "archive; set %s (or listen on 127.0.0.1)",
            host,
            port,
            TOKEN_ENV,
        )


def listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket first, so a taken port or bad host is one clear error, not a log dump."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise MonitorError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise MonitorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


async def serve_http(app: FastAPI, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve `app` on host:port until `stop` is set, then finish the requests in flight and return.

    Installs no signal handlers (the daemon owns them). Raises MonitorError if it cannot listen.
    """
    sock = listen(host, port)
    config = uvicorn.Config(
        app,
        log_config=None,  # uvicorn's loggers go through the process's logging setup
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="http")
    stopping = asyncio.create_task(stop.wait(), name="http-stop")
    try:
        host_bound, port_bound = sock.getsockname()[:2]
        listening_at(app, host if host not in ("0.0.0.0", "::", "") else host_bound, port_bound)
        shown = host_bound if sock.family == socket.AF_INET else f"[{host_bound}]"
        log.info("serving http://%s:%d/ (API at /api/v1, docs at /docs)", shown, port_bound)
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await serving
        if not stop.is_set():
            raise MonitorError(f"the HTTP server on {host}:{port} stopped unexpectedly")
    finally:
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopping
        if not serving.done():
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        sock.close()


__all__ = ["TOKEN_ENV", "is_loopback", "listen", "serve_http", "warn_if_open"]
