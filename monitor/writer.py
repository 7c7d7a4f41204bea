"""The writer thread: group commit of the write units that polls and page checks queue from the event
loop, and the protocols of the steps that run inside each write transaction (the watch step is one).
May import the store, the core and models (what service.py may, below it).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any, Protocol, TypeVar

from monitor.core.watchprep import DraftInsight
from monitor.errors import ConcurrentWriteError
from monitor.models import StoredVersion, VersionText
from monitor.store.sources import PollWrites
from monitor.store.store import Connection, Store

log = logging.getLogger("monitor.poll")
T = TypeVar("T")


class WriteBatcher:
    """Group commit: units queued from the event loop are run by one writer thread, many per transaction.

    A batch shares one transaction and flushes its source updates and fetch rows with one executemany each.
    If any unit in a batch fails, the batch rolls back and its units are retried one per transaction, so
    one bad poll never takes others down with it. A unit whose caller was cancelled before it started is
    skipped; once started, it commits or rolls back as a whole.
    """

    def __init__(
        self,
        store: Store,
        max_batch: int = 64,
        steps: Sequence[BatchStep] = (),
        *,
        gather: float = 0.0,
        gather_units: int = 1,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.steps = steps  # their finish() runs last in each transaction, discard() after a rollback
        # A batch of fewer than `gather_units` waits up to `gather` seconds for the units of polls still
        # parsing (`expect`): each transaction has a fixed cost (its commit, the watch step's statements),
        # which fewer, larger batches share.
        self.gather = gather
        self.gather_units = gather_units
        self._coming = 0
        self._coming_lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Callable[[Connection, PollWrites], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="monitor-writer", daemon=True)
        self._thread.start()

    async def submit(self, unit: Callable[[Connection, PollWrites], T]) -> T:
        future: Future[T] = Future()
        self._queue.put((unit, future))
        return await asyncio.wrap_future(future)

    def expect(self, units: int) -> None:
        """Note that `units` more (or, negative, fewer) are on their way: a poll started or ended its parse."""
        with self._coming_lock:
            self._coming += units

    def close(self) -> None:
        """Finish every queued unit, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            deadline = None
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    if len(batch) >= self.gather_units or self.gather <= 0.0 or self._coming <= 0:
                        break  # nothing is on its way: write what there is now
                    if deadline is None:
                        deadline = time.monotonic() + self.gather
                    left = deadline - time.monotonic()
                    if left <= 0.0:
                        break
                    try:
                        more = self._queue.get(timeout=left)
                    except queue.Empty:
                        break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            live = [(unit, fut) for unit, fut in batch if fut.set_running_or_notify_cancel()]
            if live:
                try:
                    self._write(live)
                except (
                    BaseException
                ) as exc:  # the writer thread must outlive any bug: no caller waits forever
                    log.exception("the writer failed on a batch of %d units", len(live))
                    for _, fut in live:
                        if not fut.done():
                            fut.set_exception(exc)
            if stop:
                return

    def _write(
        self, batch: list[tuple[Callable[[Connection, PollWrites], Any], Future[Any]]], retry: bool = True
    ) -> None:
        try:
            with self.store.write() as conn:
                writes = PollWrites()
                results = [unit(conn, writes) for unit, _ in batch]
                self.store.flush_writes(conn, writes)
                for step in self.steps:
                    if (finish := getattr(step, "finish", None)) is not None:
                        finish(conn)
        except Exception as exc:
            for step in self.steps:
                try:
                    step.discard()
                except Exception:  # the writer thread must live on, or every later poll waits forever
                    log.exception("a write step failed to discard its state")
            if len(batch) > 1:
                for item in batch:
                    self._write([item])
            elif retry and isinstance(exc, ConcurrentWriteError):
                self._write(batch, retry=False)  # the unit looks again and sees what the other writer wrote
            else:
                batch[0][1].set_exception(exc)
            return
        for step in self.steps:
            if (committed := getattr(step, "committed", None)) is not None:
                committed()
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)


class AfterStore(Protocol):
    """A step that runs inside the writing transaction after each unit stored new versions."""

    def __call__(self, conn: Connection, stored: Sequence[StoredVersion], now: datetime) -> None: ...


class BatchStep(Protocol):
    """A step over a whole write transaction (stories, matching, alerts): it gathers what each unit stored
    and applies it last, so whatever it serialises is held only until the commit right after."""

    def add(
        self,
        conn: Connection,
        stored: Sequence[StoredVersion],
        now: datetime,
        prepared: Mapping[str, DraftInsight] | None = None,
        texts: Mapping[int, VersionText] | None = None,
    ) -> None:
        """Take note of what one unit stored (with what the parse workers worked out, by draft key, and the
        texts the unit wrote, by version id: those the step need not read back)."""

    def finish(self, conn: Connection) -> None:
        """Apply what the transaction's units stored, last before it commits."""

    def discard(self) -> None:
        """The transaction rolled back: forget what its units stored."""

    def committed(self) -> None:
        """The transaction committed."""

    # Optional: `warm()`, called from the event loop when a poll parsed drafts it is about to store, so a
    # step can start loading what its first finish() needs (the story index) in the background.
