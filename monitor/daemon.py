"""The long-running daemon: APScheduler ticks, the database says what is due, a bounded set of polls runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.reload import Reloader
from monitor.service import Service
from monitor.systemd import Notifier

log = logging.getLogger("monitor.daemon")


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


class Daemon:
    """Ticks on a schedule, leases due sources from the store and polls them, at most `concurrency` at once."""

    def __init__(
        self,
        service: Service,
        *,
        tick_seconds: float = 1.0,
        grace_seconds: float = 30.0,
        notifier: Notifier | None = None,
    ) -> None:
        self.service = service
        self.notifier = notifier or Notifier()
        self.tick_seconds = tick_seconds
        self.grace_seconds = grace_seconds
        self.health = Health()
        self.capacity = service.settings.defaults.concurrency
        self._in_flight: dict[str, asyncio.Task[None]] = {}  # "s<id>" sources, "a<id>" article pages
        self._stop = asyncio.Event()
        self._ticking = asyncio.Lock()
        self.periodic: list[tuple[float, Callable[[], Awaitable[None]]]] = []
        self.on_result: list[Callable[[object], None]] = []  # e.g. Metrics.record, per poll or page check
        self.reloader: Reloader | None = None  # SIGHUP and a changed config file reload it

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
        freed = await self.service.db(self.service.store.release_dead_leases, lease_owner_alive)
        if freed:
            log.info("resumed %d sources left leased by a process that is gone", freed)
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
        for seconds, job in self.periodic:
            scheduler.add_job(
                job, "interval", seconds=seconds, max_instances=1, coalesce=True, misfire_grace_time=None
            )
        scheduler.start()
        log.info(
            "daemon started: %d sources, concurrency %d", len(self.service.settings.sources), self.capacity
        )
        self.notifier.ready(f"{len(self.service.settings.sources)} sources")
        try:
            await self._stop.wait()
        finally:
            self.notifier.stopping()
            scheduler.shutdown(wait=False)
            await self._drain()
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
                self.notifier.ready(f"{len(self.service.settings.sources)} sources")
        except Exception as exc:  # a reload must never stop the daemon
            log.error("config reload failed, keeping the running config: %s: %s", type(exc).__name__, exc)

    async def tick(self) -> None:
        """Reload the config if it changed, then lease as many due sources as there is room for and poll them."""
        if self._stop.is_set() or self._ticking.locked():
            return
        async with self._ticking:
            await self._reload()
            try:
                room = self.capacity * 2 - len(self._in_flight)
                states = await self.service.claim_due(room) if room > 0 else []
                room -= len(states)
                pages = await self.service.claim_due_articles(room) if room > 0 else []
                self.health.last_tick_at = datetime.now(UTC)
                self.health.last_tick_error = None
                self.notifier.watchdog()
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
        # A cancelled poll leaves its lease; release them so the next start polls those at once.
        for key, task in running.items():
            if task in pending and key.startswith("s"):
                with contextlib.suppress(Exception):
                    await self.service.db(self.service.store.release_lease, int(key[1:]))
