"""The long-running daemon: APScheduler ticks, the database says what is due, a bounded set of polls runs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.fleet import ROLES
from monitor.reload import Reloader
from monitor.service import Service
from monitor.store import leases, search_index
from monitor.systemd import Notifier

log = logging.getLogger("monitor.daemon")
INDEX_EVERY_SECONDS = 1.0  # the search indexer's period: new versions are searchable about this soon


def lease_owner_alive(owner: str) -> bool:
    """Whether the process named host:pid in a lease still runs (only knowable on this host)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's lease expires on its own
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Health:
    """What /healthz and the logs report about the daemon."""

    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_tick_at: datetime | None = None
    last_tick_error: str | None = None
    polls: int = 0
    in_flight: int = 0
    roles: tuple[str, ...] = ROLES
    owner: str = ""
    last_heartbeat_at: datetime | None = None


class Daemon:
    """Ticks on a schedule, leases due sources from the store and polls them, at most `concurrency` at once."""

    def __init__(
        self,
        service: Service,
        *,
        tick_seconds: float = 1.0,
        grace_seconds: float = 30.0,
        roles: tuple[str, ...] = ROLES,
        notifier: Notifier | None = None,
    ) -> None:
        self.service = service
        self.notifier = notifier or Notifier()
        self.tick_seconds = tick_seconds
        self.grace_seconds = grace_seconds
        self.roles = roles
        self.fleet = service.settings.fleet
        self.config_hash = service.settings.config_hash()
        self.health = Health(roles=roles, owner=service.owner)
        self.capacity = service.settings.defaults.concurrency
        self._in_flight: dict[str, asyncio.Task[None]] = {}  # "s<id>" sources, "a<id>" article pages
        self._stop = asyncio.Event()
        self._ticking = asyncio.Lock()
        self.periodic: list[tuple[float, Callable[[], Awaitable[None]]]] = []
        self.on_result: list[Callable[[object], None]] = []  # e.g. Metrics.record, per poll or page check
        self.reloader: Reloader | None = None  # SIGHUP and a changed config file reload it
        if "poll" in roles:  # what the polls store is indexed for search in the background
            self.periodic.append((INDEX_EVERY_SECONDS, self.index_search))

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Run until stop() or SIGTERM/SIGINT; then let in-flight polls finish (or roll back) and exit."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self._on_hangup)
        await self.service.db(
            leases.register_worker,
            self.service.store,
            self.service.owner,
            self.roles,
            self.config_hash,
            self.service.options.clock(),
        )
        await self._free_dead()
        await self.service.sync_sources()
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.tick_seconds,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
            misfire_grace_time=None,
        )
        scheduler.add_job(
            self.heartbeat,
            "interval",
            seconds=self.fleet.heartbeat.total_seconds(),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        for seconds, job in self.periodic:
            scheduler.add_job(
                job, "interval", seconds=seconds, max_instances=1, coalesce=True, misfire_grace_time=None
            )
        scheduler.start()
        log.info(
            "daemon started: %d sources, concurrency %d, roles %s, config %s",
            len(self.service.settings.sources),
            self.capacity,
            ",".join(self.roles),
            self.config_hash,
        )
        self.notifier.ready(f"{len(self.service.settings.sources)} sources")
        try:
            await self._stop.wait()
        finally:
            self.notifier.stopping()
            scheduler.shutdown(wait=False)
            await self._drain()
            await self.service.retry_releases()
            with contextlib.suppress(Exception):
                await self.service.db(leases.unregister_worker, self.service.store, self.service.owner)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            log.info("daemon stopped after %d polls", self.health.polls)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("received %s: stopping after in-flight polls", sig.name)
        self._stop.set()

    def _on_hangup(self) -> None:
        if self.reloader is None:
            log.info("received SIGHUP: nothing to reload")
            return
        log.info("received SIGHUP: reloading %s at the next tick", self.reloader.path)
        self.reloader.request()

    async def _reload(self) -> None:
        if self.reloader is None:
            return
        try:
            if await self.reloader.check():
                self.config_hash = self.service.settings.config_hash()  # the fleet sees the new config
                self.notifier.ready(f"{len(self.service.settings.sources)} sources")
        except Exception as exc:  # a reload must never stop the daemon
            log.error("config reload failed, keeping the running config: %s: %s", type(exc).__name__, exc)

    async def heartbeat(self) -> None:
        """Say this process is alive, free the leases of processes that are not, retry failed releases."""
        if self._stop.is_set():
            return
        service = self.service
        try:
            await service.db(
                leases.heartbeat,
                service.store,
                service.owner,
                self.roles,
                self.config_hash,
                service.options.clock(),
                self.health.last_tick_at,
            )
            self.health.last_heartbeat_at = datetime.now(UTC)
            await self._free_dead(thorough=False)
            if service.unreleased:
                await service.retry_releases()
        except asyncio.CancelledError:
            if not self._stop.is_set():
                raise
            # cancelled by the shutdown: the process unregisters itself next, nothing is lost
        except Exception as exc:
            log.warning("heartbeat failed: %s: %s", type(exc).__name__, exc)

    async def index_search(self) -> None:
        """Index the versions stored since the last run (one process of the fleet at a time)."""
        if self._stop.is_set():
            return
        service = self.service
        try:
            indexed = await asyncio.to_thread(
                functools.partial(
                    search_index.index_if_mine,
                    service.store,
                    service.owner,
                    service.options.clock(),
                    stopping=self._stop.is_set,
                )
            )
        except asyncio.CancelledError:
            if not self._stop.is_set():
                raise
            return  # cancelled by the shutdown: the batch in hand commits or rolls back, the queue stays
        except Exception as exc:  # the queue stays: the next run goes on from it
            log.warning("search indexing failed: %s: %s", type(exc).__name__, exc)
            return
        if indexed:
            log.debug("indexed %d versions for search", indexed)

    async def _free_dead(self, thorough: bool = True) -> None:
        freed = await self.service.db(
            functools.partial(
                leases.release_dead_leases,
                self.service.store,
                self.service.options.clock(),
                self.fleet.dead_after,
                lease_owner_alive,
                thorough=thorough,
            )
        )
        if freed.sources:
            log.info("resumed %d sources left leased by a process that is gone", freed.sources)
        if freed.pages:
            log.info("resumed %d article pages left leased by a process that is gone", freed.pages)
        if freed.alerts:
            log.info("resumed %d alerts left leased by a process that is gone", freed.alerts)

    async def tick(self) -> None:
        """Reload the config if it changed, then lease as many due sources as there is room for and poll them."""
        if self._stop.is_set() or self._ticking.locked():
            return
        await self._reload()
        if "poll" not in self.roles:
            self.health.last_tick_at = datetime.now(UTC)  # nothing to poll: the tick says the loop lives
            self.notifier.watchdog()
            return
        async with self._ticking:
            try:
                room = self.capacity * 2 - len(self._in_flight)
                states = await self.service.claim_due(room) if room > 0 else []
                room -= len(states)
                pages = await self.service.claim_due_articles(room) if room > 0 else []
                self.health.last_tick_at = datetime.now(UTC)
                self.health.last_tick_error = None
                self.notifier.watchdog()
            except asyncio.CancelledError:
                if not self._stop.is_set():
                    raise
                return  # cancelled by the shutdown (the scheduler cancels running jobs): nothing to start
            except Exception as exc:
                self.health.last_tick_error = f"{type(exc).__name__}: {exc}"
                log.error("cannot read due sources: %s", self.health.last_tick_error)
                return
            for state in states:
                self._start(f"s{state.id}", self.service.poll(state))
            for article in pages:
                self._start(f"a{article.id}", self.service.check_article(article))
            self.health.in_flight = len(self._in_flight)

    def _start(self, key: str, work: Coroutine[Any, Any, object]) -> None:
        if key in self._in_flight:
            work.close()
            return
        self._in_flight[key] = asyncio.create_task(self._run(key, work), name=key)

    async def _run(self, key: str, work: Coroutine[Any, Any, object]) -> None:
        try:
            result = await work
            self.health.polls += 1
            for observe in self.on_result:
                observe(result)
        finally:
            self._in_flight.pop(key, None)
            self.health.in_flight = len(self._in_flight)

    async def _drain(self) -> None:
        running = dict(self._in_flight)
        if not running:
            return
        log.info("waiting up to %.0fs for %d in-flight polls", self.grace_seconds, len(running))
        _done, pending = await asyncio.wait(running.values(), timeout=self.grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        # A cancelled poll leaves its lease; release them so another process polls those at once.
        for key, task in running.items():
            if task in pending:
                await self.service.release(key[0], int(key[1:]))
