"""The writer thread's group commit: how units share transactions (SQLite and Postgres)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from monitor.store.store import Store
from monitor.writer import WriteBatcher


class _Transactions:
    """A batch step that counts the transactions it finishes (and their commits)."""

    def __init__(self) -> None:
        self.finished = 0
        self.committed_count = 0

    def finish(self, conn: Any) -> None:
        self.finished += 1

    def committed(self) -> None:
        self.committed_count += 1

    def discard(self) -> None:
        pass


def _two_units(writer: WriteBatcher, *, announce: bool) -> tuple[int, int]:
    """Submit one unit, then a second 0.1 s later (announced as coming meanwhile, or not)."""

    async def go() -> tuple[int, int]:
        if announce:
            writer.expect(1)
        first = asyncio.ensure_future(writer.submit(lambda conn, writes: 1))
        await asyncio.sleep(0.1)
        if announce:
            writer.expect(-1)
        second = await writer.submit(lambda conn, writes: 2)
        return await first, second

    try:
        return asyncio.run(go())
    finally:
        writer.close()


def test_a_batch_waits_for_units_on_their_way(store: Store) -> None:
    """A unit announced as coming (its poll is parsing) joins the batch of the one queued before it."""
    step = _Transactions()
    writer = WriteBatcher(store, steps=[step], gather=5.0, gather_units=2)
    assert _two_units(writer, announce=True) == (1, 2)
    assert (step.finished, step.committed_count) == (1, 1)


def test_a_batch_waits_for_nothing_announced(store: Store) -> None:
    """With nothing announced, or without a gather window, each unit is written as soon as it is queued."""
    for gather in (5.0, 0.0):
        step = _Transactions()
        writer = WriteBatcher(store, steps=[step], gather=gather, gather_units=2)
        assert _two_units(writer, announce=gather == 0.0) == (1, 2)
        assert step.finished == 2


def test_a_batch_waits_no_longer_than_the_window(store: Store) -> None:
    """A unit announced but never queued holds the batch up for the window only."""
    step = _Transactions()
    writer = WriteBatcher(store, steps=[step], gather=0.3, gather_units=2)

    async def go() -> float:
        writer.expect(1)
        started = time.monotonic()
        await writer.submit(lambda conn, writes: None)
        return time.monotonic() - started

    try:
        waited = asyncio.run(go())
    finally:
        writer.close()
    assert 0.25 <= waited < 3.0
    assert step.finished == 1
