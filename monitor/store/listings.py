"""Names that listing filters refer to: a source or watch that exists neither in the config nor the archive."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from monitor.errors import NotFoundError
from monitor.store.store import Store
from monitor.store.tables import alerts as _alerts
from monitor.store.tables import matches as _matches
from monitor.store.tables import sources
from monitor.store.tables import stories as _stories


def unknown_sources(store: Store, names: Iterable[str], configured: Iterable[str]) -> list[str]:
    """The names that are neither configured nor in the archive's sources table, in the order given."""
    wanted = [n for n in dict.fromkeys(names) if n and n not in set(configured)]
    if not wanted:
        return []
    with store.read() as conn:
        known = set(conn.execute(sa.select(sources.c.name).where(sources.c.name.in_(wanted))).scalars())
    return [n for n in wanted if n not in known]


def unknown_watches(store: Store, names: Iterable[str], configured: Iterable[str]) -> list[str]:
    """The watch names neither configured nor found on any recorded match (a watch since removed)."""
    wanted = [n for n in dict.fromkeys(names) if n and n not in set(configured)]
    unknown = []
    with store.read() as conn:
        for name in wanted:
            hit = conn.execute(sa.select(_matches.c.id).where(_matches.c.watch == name).limit(1)).first()
            if hit is None:
                unknown.append(name)
    return unknown


def require_known(
    store: Store,
    *,
    sources: Iterable[str] = (),
    watches: Iterable[str] = (),
    configured_sources: Iterable[str] = (),
    configured_watches: Iterable[str] = (),
) -> None:
    """Raise NotFoundError naming every filter name that refers to nothing (one line for all of them)."""
    missing = [f"no source named {n!r}" for n in unknown_sources(store, sources, configured_sources)]
    missing += [f"no watch named {n!r}" for n in unknown_watches(store, watches, configured_watches)]
    if missing:
        raise NotFoundError("; ".join(missing))


@dataclass(frozen=True)
class ArchiveGauges:
    """What /metrics reads from the archive at each scrape."""

    alerts: dict[tuple[str, str], int]  # (watch, status) -> alerts
    matches: dict[str, int]  # watch -> matches
    oldest_pending_at: datetime | None
    stories: int


def archive_gauges(store: Store) -> ArchiveGauges:
    """Alerts by watch and status, matches by watch, the oldest pending alert and the story count."""
    with store.read() as conn:
        by_status = conn.execute(
            sa.select(_alerts.c.watch, _alerts.c.status, sa.func.count()).group_by(
                _alerts.c.watch, _alerts.c.status
            )
        ).all()
        by_watch = conn.execute(sa.select(_matches.c.watch, sa.func.count()).group_by(_matches.c.watch)).all()
        oldest = conn.execute(
            sa.select(sa.func.min(_alerts.c.created_at)).where(_alerts.c.status == "pending")
        ).scalar_one()
        stories = conn.execute(sa.select(sa.func.count()).select_from(_stories)).scalar_one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return ArchiveGauges(
        alerts={(w, s): int(n) for w, s, n in by_status},
        matches={w: int(n) for w, n in by_watch},
        oldest_pending_at=oldest,
        stories=int(stories),
    )
