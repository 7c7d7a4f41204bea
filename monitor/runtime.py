"""The composition root: what a process needs for its role, built in one place.

`open_runtime` loads the settings and opens the database (settings + store); `make_fetcher` builds the
fetcher with the configured limits; `make_service` and `polling` the polling service (its fetcher, and the
watch step), `delivering` the outbox; `poll_once` is one whole cycle (`monitor poll`), `run_daemon` the
daemon in its roles (poll, deliver, http: `monitor run`).
The CLI, the tests and the benches build these here, never by hand. May import every module of monitor/
except monitor.cli; nothing but the CLI, the tests and the benches imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from monitor.config import Settings, config_path, database_url, load_settings
from monitor.fetch import Fetcher, FetchLimits
from monitor.fleet import FleetGate
from monitor.outbox import DeliveryReport, Outbox
from monitor.parse_pool import pool_size, start_parse_server
from monitor.poll_report import CycleReport
from monitor.service import Service, ServiceOptions
from monitor.store.db import check_current, make_engine, upgrade
from monitor.store.store import Store
from monitor.watching import WatchStep
from monitor.watching import attach as attach_watches
from monitor.watching import reconfigure as reconfigure_watches

# At shutdown the last alert pass gets this long, whatever a receiver does (deploy's TimeoutStopSec is 45 s,
# of which in-flight polls may take 30).
SHUTDOWN_DELIVERY_SECONDS = 5.0
# The cyclic garbage collector's thresholds in a polling process (CPython's default: 700, 10, 10). Each
# draft comes back from a parse worker as ~80 container objects (the draft, its story features and their
# term pairs, its watch hits) that live until the writer has stored it, seconds later: at the default a
# young collection ran every ~10 drafts, drafts in flight survived into the oldest generation, and the full
# collections they set off (over the whole heap) were most of the CPU of the thread that unpickles the
# results. On 300 bench feeds: that thread 0.88 -> 0.45 CPU s, the main process 8.3 -> 6.5.
POLLING_GC_THRESHOLDS = (50_000, 20, 10)


@dataclass
class Runtime:
    """What every command needs: validated settings and an open store."""

    settings: Settings
    config_path: str
    database_url: str
    store: Store


@contextlib.contextmanager
def open_runtime(
    config: str | None,
    db: str | None,
    *,
    migrate: bool,
    loaded: Callable[[Settings], None] | None = None,
) -> Iterator[Runtime]:
    """Load the config and open the database (upgrading it, or insisting it is current); `loaded` is
    called with the settings before the database is opened (work that can go on meanwhile)."""
    path = config_path(config)
    settings = load_settings(path)
    if loaded is not None:
        loaded(settings)
    url = database_url(db, settings)
    engine = make_engine(url, pool_size=settings.fleet.db_pool)
    try:
        if migrate:
            upgrade(engine)
        else:
            check_current(engine)
        yield Runtime(settings, path, url, Store(engine))
    finally:
        engine.dispose()


def collect_garbage_less() -> None:
    """Raise the garbage collector's thresholds to POLLING_GC_THRESHOLDS for this (polling) process; never
    lowers one set higher. Collection still runs: cycles are found, only less often."""
    current = gc.get_threshold()
    gc.set_threshold(
        *(max(now, polling) for now, polling in zip(current, POLLING_GC_THRESHOLDS, strict=True))
    )


def fetch_limits(settings: Settings) -> FetchLimits:
    d = settings.defaults
    return FetchLimits(
        user_agent=d.user_agent,
        timeout=d.timeout.total_seconds(),
        max_bytes=d.max_bytes,
        concurrency=d.concurrency,
        per_host=d.per_host,
    )


def make_fetcher(settings: Settings, transport: Any = None) -> Fetcher:
    return Fetcher(fetch_limits(settings), transport=transport)


def make_service(settings: Settings, store: Store, **options: Any) -> Service:
    """The polling service with a fetcher of its own (`options` are ServiceOptions' fields)."""
    return Service(settings, store, make_fetcher(settings), ServiceOptions(**options))


async def close_service(service: Service) -> None:
    await service.fetcher.aclose()
    service.close()


@dataclass
class Polling:
    """A service with the watch step attached (None when watching was not asked for)."""

    service: Service
    watches: WatchStep | None


@contextlib.asynccontextmanager
async def polling(
    settings: Settings, store: Store, *, watch: bool = True, **options: Any
) -> AsyncIterator[Polling]:
    """A polling service as the daemon runs it, the watch step attached; closed (fetcher, pools) on exit."""
    service = make_service(settings, store, **options)
    try:
        step = await attach_watches(service) if watch else None
        yield Polling(service, step)
    finally:
        await close_service(service)


@contextlib.asynccontextmanager
async def delivering(settings: Settings, store: Store, **options: Any) -> AsyncIterator[Outbox]:
    """The outbox of this process (`options` as Outbox's), its HTTP client closed on exit."""
    outbox = Outbox(settings, store, **options)
    try:
        yield outbox
    finally:
        await outbox.aclose()


def poll_workers(settings: Settings, names: list[str]) -> int:
    """The parse processes of `poll_once` over these sources (default all): every core busy, as `monitor run`."""
    return pool_size(len(names) or len(settings.sources))


def start_polling(settings: Settings, names: list[str]) -> None:
    """What `poll_once` will need and can start before the database is open: the parse pool's fork server
    (it loads the parsers, ~1 s of CPU, on the other core while this process runs the migrations)."""
    start_parse_server(poll_workers(settings, names))


async def poll_once(
    rt: Runtime, names: list[str], articles: bool = False, *, pages: bool = True
) -> tuple[CycleReport, DeliveryReport]:
    """One whole cycle now (`monitor poll`): the named sources (default all), or their article pages,
    then delivery of what it queued."""
    workers = poll_workers(rt.settings, names)
    collect_garbage_less()
    async with (
        polling(rt.settings, rt.store, parse_workers=workers) as run,
        delivering(rt.settings, rt.store) as outbox,
    ):
        service = run.service
        await service.sync_sources()
        if articles:
            report = CycleReport(polls=[], checks=await service.check_articles(names or None))
        else:
            report = await service.poll_cycle(names or None, pages=pages)
        delivered = await outbox.deliver_all()
        report.alerts_sent = delivered.sent
        return report, delivered


@dataclass(frozen=True)
class DaemonOptions:
    """How `monitor run` was asked to run."""

    tick: float = 1.0
    roles: tuple[str, ...] = ("poll", "deliver")
    address: tuple[str, int] | None = None  # serve HTTP here (the http role)
    base_url: str | None = None
    token: str | None = None  # the bearer token the web side requires


async def run_daemon(rt: Runtime, options: DaemonOptions) -> None:
    """The daemon in its roles until SIGTERM or Ctrl-C: polling (with watches), delivery, HTTP, pruning,
    reloads of the config; at the end the last alerts get SHUTDOWN_DELIVERY_SECONDS."""
    # The daemon's own modules (APScheduler, prometheus_client) load only for `monitor run`.
    from monitor.daemon import Daemon
    from monitor.metrics import Metrics
    from monitor.reload import Reloader

    settings, roles = rt.settings, options.roles
    fleet = settings.fleet
    if "poll" in roles:
        collect_garbage_less()
    service = make_service(settings, rt.store, lease=fleet.lease)
    gate: FleetGate | None = None
    if not rt.store.sqlite:  # one SQLite file has one process: the fetcher's own limits are the fleet's
        gate = service.fetcher.gate = FleetGate(rt.store, service.owner, settings.defaults.per_host)
    outbox = Outbox(settings, rt.store, lease=fleet.lease)
    try:
        step = await attach_watches(service) if "poll" in roles else None
        daemon = Daemon(service, tick_seconds=options.tick, roles=roles)
        metrics = Metrics(
            rt.store,
            role=",".join(roles),
            story_index=lambda: len(step.index) if step is not None else 0,
        )
        daemon.on_result.append(metrics.record)
        reloader = Reloader(rt.config_path, settings)
        reloader.appliers += [service.apply_settings, outbox.reconfigure]
        if step is not None:
            watching_step = step
            reloader.appliers.append(lambda new: reconfigure_watches(service, watching_step, new))
        daemon.reloader = reloader
        if "deliver" in roles:
            daemon.periodic.append(
                (max(options.tick, 1.0), outbox.start_pass)
            )  # a slow channel holds only itself
        daemon.periodic.append((settings.retention.every.total_seconds(), _pruner(rt, service.owner)))
        serving: asyncio.Task[None] | None = None
        stop_http = asyncio.Event()
        if options.address is not None:
            # The web stack (FastAPI, uvicorn) is loaded by a process that serves HTTP, and only then.
            from monitor.web import create_app
            from monitor.web.server import serve_http, warn_if_open

            warn_if_open(*options.address, options.token)
            web = create_app(
                rt.store,
                settings,
                token=options.token,
                health=daemon.health,
                tick_seconds=options.tick,
                metrics=metrics,
                base_url=options.base_url,
            )
            reloader.appliers.append(lambda new: setattr(web.state.web, "settings", new))
            serving = asyncio.create_task(serve_http(web, *options.address, stop_http), name="http")

            def http_ended(task: asyncio.Task[None]) -> None:
                if not task.cancelled() and task.exception() is not None:
                    logging.getLogger("monitor.http").error("the HTTP server failed: %s", task.exception())
                    daemon.stop()

            serving.add_done_callback(http_ended)
        logging.getLogger("monitor.daemon").info(
            "config %s, database %s",
            rt.config_path,
            rt.store.engine.url.render_as_string(hide_password=True),
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
        await close_service(service)
        if gate is not None:
            gate.close()


def _pruner(rt: Runtime, owner: str) -> Callable[[], Awaitable[None]]:
    """The daemon's retention job: one process of the fleet at a time prunes, the others skip."""
    from monitor.store.retention import prune_if_mine

    log = logging.getLogger("monitor.retention")

    async def prune_once() -> None:
        try:
            pruned = await asyncio.to_thread(prune_if_mine, rt.store, rt.settings.retention, owner)
        except Exception as exc:
            log.warning("pruning failed: %s: %s", type(exc).__name__, exc)
            return
        if pruned:
            log.info("pruned %s", ", ".join(f"{n} {table}" for table, n in pruned.items()))

    return prune_once


__all__ = [
    "POLLING_GC_THRESHOLDS",
    "SHUTDOWN_DELIVERY_SECONDS",
    "DaemonOptions",
    "Polling",
    "Runtime",
    "close_service",
    "collect_garbage_less",
    "delivering",
    "make_service",
    "open_runtime",
    "poll_once",
    "poll_workers",
    "polling",
    "run_daemon",
    "start_polling",
]
