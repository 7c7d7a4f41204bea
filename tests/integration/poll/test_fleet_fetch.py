"""The fetcher shares with the fleet through its HostGate: a slot per request, Retry-After rests, robots.txt."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from monitor.fetch import Fetcher
from monitor.runtime import make_fetcher
from tests.fixtures.runtime import settings_for
from tests.fixtures.server import LoopbackServer, Route


@dataclass
class RecordingGate:
    """A HostGate that remembers what the fetcher told it and serves robots.txt 'from another process'."""

    shared_robots: dict[str, tuple[str | None, bool, float]] = field(default_factory=dict)
    slots: list[tuple[str, str]] = field(default_factory=list)
    rests: list[tuple[str, float]] = field(default_factory=list)
    saved: list[tuple[str, str | None, bool]] = field(default_factory=list)

    async def acquire(self, host: str) -> int:
        self.slots.append(("take", host))
        return 0

    async def release(self, host: str, slot: int) -> None:
        self.slots.append(("give", host))

    async def rest(self, origin: str, seconds: float) -> None:
        self.rests.append((origin, seconds))

    async def robots(self, origin: str) -> tuple[str | None, bool, float] | None:
        return self.shared_robots.get(origin)

    async def save_robots(self, origin: str, text: str | None, ok: bool, ttl: float) -> None:
        self.saved.append((origin, text, ok))


def _fetcher(gate: RecordingGate) -> Fetcher:
    fetcher = make_fetcher(settings_for([]))
    fetcher.gate = gate
    return fetcher


def test_each_request_holds_a_fleet_slot_and_a_retry_after_rests_the_host_for_all(
    server: LoopbackServer,
) -> None:
    server.routes["/busy"] = Route(body=b"slow down", status=429, headers={"Retry-After": "120"})
    gate = RecordingGate()

    async def go() -> int | None:
        fetcher = _fetcher(gate)
        try:
            return (await fetcher.fetch(server.url("/busy"))).status
        finally:
            await fetcher.aclose()

    assert asyncio.run(go()) == 429
    host = f"127.0.0.1:{server.port}"
    assert gate.slots == [("take", host), ("give", host)]
    assert gate.rests == [(server.base, 120.0)]


def test_robots_txt_read_by_another_process_is_used_and_one_read_here_is_shared(
    server: LoopbackServer,
) -> None:
    gate = RecordingGate()
    gate.shared_robots[server.base] = ("User-agent: *\nDisallow: /private", True, 3600.0)

    async def allowed(*paths: str) -> list[bool]:
        fetcher = _fetcher(gate)
        try:
            return [await fetcher.allowed(server.url(p)) for p in paths]
        finally:
            await fetcher.aclose()

    assert asyncio.run(allowed("/private/a", "/public")) == [False, True]
    assert server.requests_for("/robots.txt") == []  # the fleet's copy, not a request of our own
    gate.shared_robots.clear()
    server.routes["/robots.txt"] = Route(body=b"User-agent: *\nDisallow: /x", content_type="text/plain")
    assert asyncio.run(allowed("/x/1", "/y")) == [False, True]
    assert len(server.requests_for("/robots.txt")) == 1
    assert gate.saved == [(server.base, "User-agent: *\nDisallow: /x", True)]
