"""Several daemons on one database: host slots and rests shared through it, the config the fleet runs.

The SQL is in monitor/store/leases.py; this module runs it off the event loop for the fetcher and the
daemon, and decides what a process says when it joins a fleet running another config.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from monitor.clock import utcnow
from monitor.config import Settings
from monitor.models import SourceSpec
from monitor.store import leases
from monitor.store.store import Store

log = logging.getLogger("monitor.fleet")
T = TypeVar("T")

ROLES = ("poll", "deliver", "http")


class FleetGate:
    """The fetcher's HostGate over the database: per-host limits, rests and robots.txt for the whole fleet."""

    def __init__(
        self,
        store: Store,
        owner: str,
        per_host: int,
        *,
        slot_lease: timedelta = timedelta(minutes=2),
        threads: int = 4,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.owner = owner
        self.per_host = per_host
        self.slot_lease = slot_lease
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="monitor-gate")
        self._rng = random.Random()

    async def _db(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    async def acquire(self, host: str) -> int:
        """Wait for a free fleet-wide slot at the host, polling the table with a growing, jittered pause."""
        pause = 0.02
        while True:
            now = self.clock()
            slot = await self._db(
                leases.take_host_slot, self.store, host, self.owner, self.per_host, now, now + self.slot_lease
            )
            if slot is not None:
                return slot
            await asyncio.sleep(pause * (0.5 + self._rng.random()))
            pause = min(pause * 2, 0.5)

    async def release(self, host: str, slot: int) -> None:
        try:
            await self._db(leases.release_host_slot, self.store, host, slot, self.owner)
        except Exception as exc:  # the slot runs out on its own; never fail a fetch over it
            log.warning("cannot release the request slot at %s: %s", host, exc)

    async def rest(self, origin: str, seconds: float) -> None:
        now = self.clock()
        try:
            await self._db(leases.rest_host, self.store, origin, now + timedelta(seconds=seconds), now)
        except Exception as exc:
            log.warning("cannot share the rest %s asked for: %s", origin, exc)

    async def robots(self, origin: str) -> tuple[str | None, bool, float] | None:
        now = self.clock()
        try:
            shared = await self._db(leases.shared_robots, self.store, origin, now)
        except Exception:
            return None
        if shared is None:
            return None
        return shared.text, shared.ok, (shared.until - now).total_seconds()

    async def save_robots(self, origin: str, text: str | None, ok: bool, ttl: float) -> None:
        try:
            await self._db(
                leases.save_robots, self.store, origin, text, ok, self.clock() + timedelta(seconds=ttl)
            )
        except Exception as exc:
            log.warning("cannot share robots.txt of %s: %s", origin, exc)


def join_message(
    config_hash: str,
    others: list[leases.LiveWorker],
    applied: leases.AppliedConfig | None,
) -> tuple[bool, str | None]:
    """Whether this process may retire sources missing from its config, and the one line to say about it."""
    differing = [w for w in others if w.config_hash != config_hash]
    if differing:
        names = ", ".join(f"{w.owner} runs {w.config_hash}" for w in differing[:3])
        more = f" and {len(differing) - 3} more" if len(differing) > 3 else ""
        return False, (
            f"config {config_hash} differs from the running fleet's ({names}{more}): "
            "sources missing from this config are left as they are until every process runs one config"
        )
    if applied is not None and applied.config_hash != config_hash:
        return True, (
            f"config {config_hash} replaces {applied.config_hash} "
            f"(applied by {applied.applied_by or 'an earlier process'} at {applied.applied_at:%Y-%m-%d %H:%M}Z)"
        )
    return True, None


def apply_config(
    store: Store, settings: Settings, specs: list[SourceSpec], owner: str, now: datetime
) -> tuple[int, str | None]:
    """Follow this config's source list without undoing another live process's; (retired, message)."""
    config_hash = settings.config_hash()
    leases.note_config(store, owner, config_hash)  # after a reload the row still names the old one
    others = [w for w in leases.live_workers(store, now, settings.fleet.dead_after) if w.owner != owner]
    retire, message = join_message(config_hash, others, leases.applied_config(store))
    retired = store.sync_sources(specs, now, retire=retire)
    if retire:
        leases.record_config(store, config_hash, owner, now)
    return retired, message
