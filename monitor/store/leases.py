"""Leases shared by a fleet of daemons on one database.

One implementation for the three kinds of leased work (sources, tracked article pages, alerts): each
process writes a heartbeat row (`workers`); any process that sees a heartbeat older than `dead_after`, or
a process on its own host that no longer exists, frees that owner's leases at once. The same module keeps
fleet-wide facts (`fleet_state`: the config hash last applied, job leases such as the pruner's) and
per-host state every process must share (`hosts`: Retry-After rests and robots.txt; `host_slots`: the
requests in flight at each host across the fleet).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from monitor.store.db import insert_ignoring
from monitor.store.tables import alerts, articles, fleet_state, host_slots, hosts, sources, workers

CONFIG_KEY = "config_hash"
_CHUNK = 500


class Transactions(Protocol):
    """What this module needs of a store: its transactions (db.Database, the Store's base, is one)."""

    def write(self) -> AbstractContextManager[Connection]: ...

    def read(self) -> AbstractContextManager[Connection]: ...


def process_owner() -> str:
    """host:pid, naming the process that holds a lease."""
    return f"{socket.gethostname()}:{os.getpid()}"


# --- one lease implementation for every kind of leased row --------------------------------------------


@dataclass(frozen=True, eq=False)
class Leased:
    """A table whose rows processes lease: `lease_owner` names the holder, `until` is when the lease ends.

    Sources and alerts hold their lease's end in `lease_until`; a tracked page's lease is its
    `next_check_at` pushed out, so giving a page back makes it due at once (`freed` "now") where the others
    clear the column ("none"). `live` limits which rows are ever given back (a sent alert stays sent).
    """

    table: sa.Table
    until: str
    freed: Literal["none", "now"]
    live: sa.ColumnElement[bool] | None = None

    def free_values(self, now: datetime | None) -> dict[str, Any]:
        if self.freed == "now" and now is None:
            raise ValueError(f"freeing {self.table.name} rows makes them due now: give `now`")
        return {"lease_owner": None, self.until: None if self.freed == "none" else now}

    def live_where(self) -> tuple[sa.ColumnElement[bool], ...]:
        return (self.live,) if self.live is not None else ()


SOURCES = Leased(sources, "lease_until", "none")
PAGES = Leased(articles, "next_check_at", "now")
ALERTS = Leased(alerts, "lease_until", "none", alerts.c.status == "pending")
LEASED = (SOURCES, PAGES, ALERTS)


def lock_free(conn: Connection, query: sa.Select[Any], *, of: sa.Table | None = None) -> list[Row[Any]]:
    """The rows `query` selects, locked for this transaction: on Postgres rows another process is taking
    right now are skipped (FOR UPDATE SKIP LOCKED), so two claimers never take one row; on SQLite the
    IMMEDIATE write transaction already serialises claimers."""
    if conn.dialect.name != "sqlite":
        query = query.with_for_update(of=of, skip_locked=True)
    return list(conn.execute(query).all())


def stamp_leased(conn: Connection, kind: Leased, ids: Sequence[int], owner: str, until: datetime) -> None:
    """Mark the rows `ids` leased to `owner` until `until`, in the caller's transaction."""
    table = kind.table
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        conn.execute(
            table.update().where(table.c.id.in_(chunk)).values({"lease_owner": owner, kind.until: until})
        )


def take_leases(
    conn: Connection,
    kind: Leased,
    query: sa.Select[Any],
    owner: str,
    until: datetime,
    *,
    of: sa.Table | None = None,
) -> list[Row[Any]]:
    """Lease the due rows `query` selects (it says which are free and due, their order and how many) to
    `owner` until `until`, in the caller's transaction; returns the rows as selected."""
    rows = lock_free(conn, query, of=of)
    stamp_leased(conn, kind, [r.id for r in rows], owner, until)
    return rows


def give_back(
    conn: Connection,
    kind: Leased,
    where: sa.ColumnElement[bool],
    now: datetime | None = None,
    **values: Any,
) -> int:
    """Free the leased rows matching `where` (and still live) so any process takes them; `values` are
    written with it (e.g. when an alert is due again). Returns the number of rows freed."""
    table = kind.table
    result = conn.execute(
        table.update().where(where, *kind.live_where()).values({**kind.free_values(now), **values})
    )
    return int(result.rowcount or 0)


# --- workers ------------------------------------------------------------------------------------


def register_worker(
    store: Transactions, owner: str, roles: Sequence[str], config_hash: str, now: datetime
) -> None:
    """Write this process's heartbeat row (replacing one a previous process with the same pid left)."""
    with store.write() as conn:
        conn.execute(workers.delete().where(workers.c.owner == owner))
        conn.execute(
            workers.insert().values(
                owner=owner,
                roles=",".join(roles),
                config_hash=config_hash,
                started_at=now,
                heartbeat_at=now,
                last_tick_at=None,
            )
        )


def heartbeat(
    store: Transactions,
    owner: str,
    roles: Sequence[str],
    config_hash: str,
    now: datetime,
    last_tick_at: datetime | None,
) -> None:
    """Say this process is alive; re-register if others gave it up for dead (a long database outage)."""
    with store.write() as conn:
        updated = conn.execute(
            workers.update()
            .where(workers.c.owner == owner)
            .values(heartbeat_at=now, last_tick_at=last_tick_at, config_hash=config_hash)
        ).rowcount
        if not updated:
            conn.execute(
                insert_ignoring(conn, workers, ["owner"]).values(
                    owner=owner,
                    roles=",".join(roles),
                    config_hash=config_hash,
                    started_at=now,
                    heartbeat_at=now,
                    last_tick_at=last_tick_at,
                )
            )


def note_config(store: Transactions, owner: str, config_hash: str) -> None:
    """This process now runs another config (a reload): say so in its heartbeat row."""
    with store.write() as conn:
        conn.execute(workers.update().where(workers.c.owner == owner).values(config_hash=config_hash))


def unregister_worker(store: Transactions, owner: str) -> None:
    """A clean stop: drop the heartbeat row and any host slot still held."""
    with store.write() as conn:
        conn.execute(host_slots.delete().where(host_slots.c.owner == owner))
        conn.execute(workers.delete().where(workers.c.owner == owner))


@dataclass(frozen=True)
class LiveWorker:
    owner: str
    roles: tuple[str, ...]
    config_hash: str
    heartbeat_at: datetime
    last_tick_at: datetime | None


def live_workers(store: Transactions, now: datetime, dead_after: timedelta) -> list[LiveWorker]:
    """The processes whose heartbeat is recent, oldest first."""
    cutoff = now - dead_after
    with store.read() as conn:
        rows = conn.execute(
            sa.select(workers).where(workers.c.heartbeat_at >= cutoff).order_by(workers.c.started_at)
        ).all()
    return [
        LiveWorker(
            r.owner, tuple(filter(None, r.roles.split(","))), r.config_hash, r.heartbeat_at, r.last_tick_at
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Freed:
    """Leases taken back from processes that are gone."""

    owners: tuple[str, ...] = ()
    sources: int = 0
    pages: int = 0
    alerts: int = 0
    host_slots: int = 0

    @property
    def total(self) -> int:
        return self.sources + self.pages + self.alerts + self.host_slots


def release_dead_leases(
    store: Transactions,
    now: datetime,
    dead_after: timedelta,
    alive: Callable[[str], bool],
    *,
    thorough: bool = True,
) -> Freed:
    """Free every lease held by a process that is gone, so the others take its work now.

    A process is gone when its heartbeat is older than `dead_after`, or when `alive` says so (a process on
    this host whose pid no longer exists). A lease owner with no heartbeat row (`monitor poll`, or a
    daemon of an older version) is freed only when `alive` says it is gone; otherwise its lease runs out.
    Such owners are looked for in the leased tables only when `thorough` (at start): a heartbeat reads
    just the small `workers` and `host_slots` tables, and scans the big ones only to free a dead owner.
    """
    cutoff = now - dead_after
    with store.write() as conn:
        beating = {r.owner: r.heartbeat_at for r in conn.execute(sa.select(workers))}
        owners: set[str] = set()
        leased = [host_slots.c.owner]
        if thorough:
            leased += [kind.table.c.lease_owner for kind in LEASED]
        for column in leased:
            owners.update(
                conn.execute(sa.select(column).where(column.is_not(None)).distinct()).scalars().all()
            )
        owners.update(beating)
        dead = sorted(o for o in owners if (o in beating and beating[o] < cutoff) or not alive(o))
        if not dead:
            return Freed()
        freed = {kind: give_back(conn, kind, kind.table.c.lease_owner.in_(dead), now) for kind in LEASED}
        freed_slots = conn.execute(host_slots.delete().where(host_slots.c.owner.in_(dead))).rowcount
        conn.execute(workers.delete().where(workers.c.owner.in_(dead)))
        return Freed(
            owners=tuple(dead),
            sources=freed[SOURCES],
            pages=freed[PAGES],
            alerts=freed[ALERTS],
            host_slots=freed_slots,
        )


# --- releasing one lease ----------------------------------------------------------------------------


def release_source(store: Transactions, source_id: int, owner: str) -> None:
    """Give a source back (its poll failed to store): due again at once for any process."""
    with store.write() as conn:
        give_back(conn, SOURCES, sa.and_(sources.c.id == source_id, sources.c.lease_owner == owner))


def defer_source(store: Transactions, source_id: int, owner: str, until: datetime) -> None:
    """Keep a source leased a while without polling it (not in this process's config: another's may have it)."""
    with store.write() as conn:
        conn.execute(
            sources.update()
            .where(sources.c.id == source_id, sources.c.lease_owner == owner)
            .values(lease_until=until)
        )


def release_page(store: Transactions, article_id: int, owner: str, now: datetime) -> None:
    """Give a tracked page back (its check failed to store): due again at once for any process."""
    with store.write() as conn:
        give_back(conn, PAGES, sa.and_(articles.c.id == article_id, articles.c.lease_owner == owner), now)


# --- fleet state: the config applied, job leases ----------------------------------------------------


def _ensure_key(conn: Connection, key: str, now: datetime) -> None:
    conn.execute(
        insert_ignoring(conn, fleet_state, ["key"]).values(
            key=key, value="", owner=None, until=None, updated_at=now
        )
    )


@dataclass(frozen=True)
class AppliedConfig:
    """The config hash the fleet applied last, and by whom."""

    config_hash: str
    applied_by: str | None
    applied_at: datetime


def applied_config(store: Transactions) -> AppliedConfig | None:
    with store.read() as conn:
        row = conn.execute(sa.select(fleet_state).where(fleet_state.c.key == CONFIG_KEY)).first()
    if row is None or not row.value:
        return None
    return AppliedConfig(row.value, row.owner, row.updated_at)


def record_config(store: Transactions, config_hash: str, owner: str, now: datetime) -> None:
    with store.write() as conn:
        _ensure_key(conn, CONFIG_KEY, now)
        conn.execute(
            fleet_state.update()
            .where(fleet_state.c.key == CONFIG_KEY)
            .values(value=config_hash, owner=owner, updated_at=now)
        )


def take_job(store: Transactions, name: str, owner: str, now: datetime, until: datetime) -> bool:
    """Lease a fleet-wide job (e.g. pruning) to this process until `until`, unless another holds it."""
    key = f"job:{name}"
    with store.write() as conn:
        _ensure_key(conn, key, now)
        taken = conn.execute(
            fleet_state.update()
            .where(
                fleet_state.c.key == key,
                sa.or_(
                    fleet_state.c.owner.is_(None), fleet_state.c.until <= now, fleet_state.c.owner == owner
                ),
            )
            .values(owner=owner, until=until, value=name, updated_at=now)
        ).rowcount
        return bool(taken)


def finish_job(store: Transactions, name: str, owner: str, now: datetime) -> None:
    with store.write() as conn:
        conn.execute(
            fleet_state.update()
            .where(fleet_state.c.key == f"job:{name}", fleet_state.c.owner == owner)
            .values(owner=None, until=None, updated_at=now)
        )


# --- hosts: slots in flight, rests, robots.txt ------------------------------------------------------


def take_host_slot(
    store: Transactions, host: str, owner: str, per_host: int, now: datetime, until: datetime
) -> int | None:
    """One of the host's `per_host` fleet-wide request slots, or None when all are taken.

    Slots are rows keyed (host, slot): two processes racing for the last slot insert the same key and only
    one insert lands, so the limit holds without locks. A slot whose holder died runs out at `until`.
    """
    with store.write() as conn:
        conn.execute(host_slots.delete().where(host_slots.c.host == host, host_slots.c.until < now))
        taken = set(conn.execute(sa.select(host_slots.c.slot).where(host_slots.c.host == host)).scalars())
        for slot in range(per_host):
            if slot in taken:
                continue
            inserted = conn.execute(
                insert_ignoring(conn, host_slots, ["host", "slot"])
                .values(host=host, slot=slot, owner=owner, until=until)
                .returning(host_slots.c.slot)  # psycopg reports no rowcount for ON CONFLICT DO NOTHING
            ).first()
            if inserted is not None:
                return slot
    return None


def release_host_slot(store: Transactions, host: str, slot: int, owner: str) -> None:
    with store.write() as conn:
        conn.execute(
            host_slots.delete().where(
                host_slots.c.host == host, host_slots.c.slot == slot, host_slots.c.owner == owner
            )
        )


def rest_host(store: Transactions, origin: str, until: datetime, now: datetime) -> None:
    """Record that a host asked the fleet to stay away until `until` (429/503 with Retry-After)."""
    with store.write() as conn:
        conn.execute(insert_ignoring(conn, hosts, ["origin"]).values(origin=origin))
        conn.execute(
            hosts.update()
            .where(
                hosts.c.origin == origin,
                sa.or_(hosts.c.rest_until.is_(None), hosts.c.rest_until < until),
            )
            .values(rest_until=until)
        )


def host_is_resting(url: sa.ColumnElement[str], now: datetime) -> sa.ColumnElement[bool]:
    """Whether a URL column points at an origin that asked the fleet for a rest (Retry-After) until later."""
    origin_of_url = sa.func.substr(url, 1, sa.func.length(hosts.c.origin) + 1)
    return (
        sa.select(hosts.c.origin)
        .where(hosts.c.rest_until > now, origin_of_url == hosts.c.origin + "/")
        .exists()
    )


@dataclass(frozen=True)
class SharedRobots:
    text: str | None
    ok: bool  # False: robots.txt could not be read, so nothing is allowed
    until: datetime


def shared_robots(store: Transactions, origin: str, now: datetime) -> SharedRobots | None:
    """The robots.txt another process read for this origin, while it is fresh."""
    with store.read() as conn:
        row = conn.execute(
            sa.select(hosts.c.robots_txt, hosts.c.robots_ok, hosts.c.robots_until).where(
                hosts.c.origin == origin, hosts.c.robots_until > now
            )
        ).first()
    if row is None or row.robots_ok is None:
        return None
    return SharedRobots(row.robots_txt, bool(row.robots_ok), row.robots_until)


def save_robots(store: Transactions, origin: str, text: str | None, ok: bool, until: datetime) -> None:
    with store.write() as conn:
        conn.execute(insert_ignoring(conn, hosts, ["origin"]).values(origin=origin))
        conn.execute(
            hosts.update()
            .where(hosts.c.origin == origin)
            .values(robots_txt=text, robots_ok=ok, robots_until=until)
        )
