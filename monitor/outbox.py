"""The alert outbox: deliver pending alerts, each channel on its own, retrying with backoff; never twice.

Alert rows are written in the transaction of the match that causes them (monitor/watching.py), unique per
(event, watch, channel); their SQL is in monitor/store/alerts.py. This loop leases due rows to this process, renders them, sends them and marks each
one sent in its own transaction the moment its channel accepted it. What a crash can do:

- killed before sending: the rows stay pending (or leased until the lease runs out, or until a restarted
  daemon sees that the process holding the lease is gone) and are sent after the restart;
- killed after the channel accepted a message but before the row was marked: the message goes again after
  the restart with the same ``X-Monitor-Delivery`` id (email: the same Message-ID), so a receiver that drops
  repeats sees it once. This window is a few milliseconds per alert.

Channels are independent: each runs its own queue, and a pass leaves alone the channels that an earlier
pass is still delivering, so a receiver that drips its answer holds up only its own channel. Passes cancelled
at shutdown give their alerts back to the queue without using an attempt. A channel that cannot be reached
(connection refused, timeouts, 5xx, 429) rests with growing pauses and its other alerts wait without using
up their attempts; a message the channel refuses outright (4xx, bad address) fails that alert alone. After ``max_attempts``
failed attempts an alert is ``failed`` with its last error; ``monitor alerts retry`` sends it again.

Digest channels (``every:`` / ``daily:``) bundle their pending alerts into one message when due.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from monitor.clock import utcnow
from monitor.config import Settings
from monitor.config_channels import ChannelSettings
from monitor.core.delivery import after_failure, channel_pause, digest_anchor
from monitor.core.render import Message, render_alert, render_digest
from monitor.errors import DeliveryError
from monitor.notify.dispatch import send
from monitor.store import alerts as outbox_rows
from monitor.store.alerts import Claimed
from monitor.store.leases import process_owner
from monitor.store.store import Store

log = logging.getLogger("monitor.alerts")

LEASE = timedelta(minutes=5)
BATCH = 500


@dataclass
class DeliveryReport:
    """What one pass of the loop did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    waiting: int = 0  # claimed, but their channel is resting: back in the queue, no attempt used
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.waiting += other.waiting
        self.errors.extend(other.errors)

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def _is_outage(error: DeliveryError) -> bool:
    """The channel as a whole is unreachable or overloaded (not this one message refused)."""
    return error.retryable and (error.status is None or error.status >= 500 or error.status == 429)


class Outbox:
    """Delivers the outbox; one instance per process (it remembers which channels are resting)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        lease: timedelta = LEASE,
        batch: int = BATCH,
        concurrency_per_channel: int = 4,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.lease = lease
        self.batch = batch
        self.concurrency = max(1, concurrency_per_channel)
        self.channels: dict[str, ChannelSettings] = {c.name: c for c in settings.channels}
        self.owner = process_owner()
        self._resting: dict[str, tuple[datetime, int]] = {}  # channel -> (until, outages in a row)
        self._client: httpx.AsyncClient | None = None
        self._busy: set[str] = set()  # channels a pass is delivering now: other passes leave them alone
        self._passes: set[asyncio.Task[None]] = set()  # passes started by start_pass, still running

    def reconfigure(self, settings: Settings) -> None:
        """Deliver through a reloaded config's channels from the next pass on."""
        self.settings = settings
        self.channels = {c.name: c for c in settings.channels}

    async def aclose(self) -> None:
        await self._cancel_passes()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _db(self, work: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(work, *args)

    # --- the loop -----------------------------------------------------------------------------

    async def deliver_due(self, *, digests: bool = True) -> DeliveryReport:
        """One pass: send every due alert (and every due digest), each channel on its own.

        A channel that another pass is still delivering (a slow receiver) is left to that pass, so passes
        can overlap and a slow channel holds up only its own alerts.
        """
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        now = self.clock()
        report = DeliveryReport()
        due = await self._db(
            outbox_rows.due_channels, self.store, now
        )  # a read: an idle pass takes no write lock
        if not due:
            return report
        resting = {name for name, (until, _) in self._resting.items() if until > now}
        ready = [n for n in due if n in self.channels and n not in resting and n not in self._busy]
        self._busy.update(ready)  # before the next await: no other pass takes these channels
        try:
            immediate = [n for n in ready if self.channels[n].mode == "immediate"]
            claimed: list[Claimed] = (
                await self._db(self._claim, now, immediate, self.batch) if immediate else []
            )
            by_channel: dict[str, list[Claimed]] = {}
            for alert in claimed:
                by_channel.setdefault(alert.channel, []).append(alert)
            jobs = [self._deliver_immediate(name, items) for name, items in by_channel.items()]
            if digests:
                jobs.extend(self._deliver_digest(n, now) for n in ready if self.channels[n].mode == "digest")
            for part in await asyncio.gather(*jobs):
                report.add(part)
        finally:
            self._busy.difference_update(ready)
        unknown = [n for n in due if n not in self.channels]
        if unknown:
            report.failed += await self._db(outbox_rows.fail_unknown_channels, self.store, now, unknown)
        return report

    async def start_pass(self) -> None:
        """The daemon's periodic job: start a pass in the background and return at once.

        Each pass takes only the channels no running pass is delivering, so a receiver that drips its
        answer delays its own channel, never the others.
        """
        task = asyncio.create_task(self.run_once(), name="outbox-pass")
        self._passes.add(task)
        task.add_done_callback(self._passes.discard)

    async def finish(self, seconds: float) -> None:
        """At shutdown: stop the passes in flight (their alerts go back to the queue, no attempt used),
        then one last pass for what the last polls queued, given at most `seconds`."""
        await self._cancel_passes()
        last = asyncio.create_task(self.run_once(), name="outbox-last-pass")
        _done, pending = await asyncio.wait([last], timeout=seconds)
        if pending:
            log.warning(
                "alert delivery stopped after %gs at shutdown; the rest go after the restart", seconds
            )
            last.cancel()
            await asyncio.wait([last])

    async def _cancel_passes(self) -> None:
        running = list(self._passes)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)

    async def deliver_all(self, *, digests: bool = False, max_passes: int = 1000) -> DeliveryReport:
        """Passes until nothing due is left (or every channel with work is resting): `monitor poll`."""
        total = DeliveryReport()
        for _ in range(max_passes):
            report = await self.deliver_due(digests=digests)
            total.add(report)
            if report.sent == 0 or report.attempted == 0:
                break
        return total

    async def run_once(self) -> None:
        """The daemon's periodic job: one pass, logging what happened; never raises."""
        try:
            report = await self.deliver_due()
        except Exception:
            log.exception("alert delivery pass failed; retrying on the next pass")
            return
        if report.attempted:
            log.info(
                "alerts: %d sent, %d to retry, %d failed%s",
                report.sent,
                report.retrying,
                report.failed,
                f" ({report.waiting} waiting for a resting channel)" if report.waiting else "",
            )

    # --- immediate channels -------------------------------------------------------------------

    async def _deliver_immediate(self, name: str, items: list[Claimed]) -> DeliveryReport:
        channel = self.channels[name]
        report = DeliveryReport()
        queue = list(items)
        stop = asyncio.Event()
        unfinished = {a.id for a in items}  # released if the pass is cancelled (shutdown)

        async def worker() -> None:
            while queue and not stop.is_set():
                alert = queue.pop(0)
                outcome = await self._deliver_one(channel, alert, report, unfinished)
                if outcome == "outage":
                    stop.set()

        try:
            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(items)))))
        except asyncio.CancelledError:
            await self._give_back(unfinished)
            raise
        if queue:  # the channel is resting: give the rest back without using an attempt
            until = self._resting[name][0]
            await self._db(outbox_rows.release_alerts, self.store, [a.id for a in queue], until)
            report.waiting += len(queue)
        return report

    async def _give_back(self, ids: set[int]) -> None:
        """Cancelled sends: their alerts are due again at once, without using an attempt (the same
        delivery id goes again, so a receiver that got one before the cut sees a repeat it can drop)."""
        if ids:
            await asyncio.shield(self._db(outbox_rows.release_alerts, self.store, sorted(ids), self.clock()))

    async def _deliver_one(
        self, channel: ChannelSettings, alert: Claimed, report: DeliveryReport, unfinished: set[int]
    ) -> str:
        now = self.clock()
        try:
            context = await self._db(outbox_rows.alert_context, self.store, alert)
            message = render_alert(context, channel.templates, channel=channel.name, tz=channel.tz)
            result = await send(channel, message, http_client=self._client)
        except DeliveryError as error:
            error.channel = error.channel or channel.name
            unfinished.discard(alert.id)
            return await self._failed([alert], channel, error, report, now)
        except Exception as exc:  # a template or data problem: this alert alone, retried later
            problem = DeliveryError(
                f"{type(exc).__name__}: {exc}", retryable=True, status=0, channel=channel.name
            )  # status 0: not an outage of the channel
            unfinished.discard(alert.id)
            return await self._failed([alert], channel, problem, report, now)
        unfinished.discard(alert.id)  # accepted: marked sent even if the pass is cancelled meanwhile
        await asyncio.shield(self._db(outbox_rows.mark_sent, self.store, [alert.id], self.clock()))
        self._resting.pop(channel.name, None)
        report.sent += 1
        log.info(
            "alert %d sent: watch %s, channel %s (%s, %s)",
            alert.id,
            alert.watch,
            channel.name,
            result.detail,
            alert.delivery_id,
        )
        return "sent"

    async def _failed(
        self,
        items: Sequence[Claimed],
        channel: ChannelSettings,
        error: DeliveryError,
        report: DeliveryReport,
        now: datetime,
    ) -> str:
        message = f"channel {channel.name!r}: {error.message}"
        outage = _is_outage(error)
        if outage:
            _, outages = self._resting.get(channel.name, (now, 0))
            pause = channel_pause(outages + 1, self.rng, error.retry_after)
            self._resting[channel.name] = (now + pause, outages + 1)
        results = [
            after_failure(
                a.attempts,
                channel.max_attempts,
                retryable=error.retryable,
                now=now,
                rng=self.rng,
                retry_after=error.retry_after,
            )
            for a in items
        ]
        await self._db(outbox_rows.mark_failed, self.store, [a.id for a in items], results, message)
        for alert, result in zip(items, results, strict=True):
            if result.gives_up:
                report.failed += 1
                log.error(
                    "alert %d failed for good after %d attempts: %s", alert.id, result.attempts, message
                )
            else:
                report.retrying += 1
                log.warning(
                    "alert %d: %s; attempt %d of %d, next at %s",
                    alert.id,
                    message,
                    result.attempts,
                    channel.max_attempts,
                    result.retry_at.isoformat(timespec="seconds") if result.retry_at else "-",
                )
        report.errors.append(message)
        return "outage" if outage else "refused"

    # --- digest channels ----------------------------------------------------------------------

    async def _deliver_digest(self, name: str, now: datetime) -> DeliveryReport:
        channel = self.channels[name]
        report = DeliveryReport()
        claimed: list[Claimed] = await self._db(self._claim_digest, channel, now)
        if not claimed:
            return report
        try:
            contexts = [await self._db(outbox_rows.alert_context, self.store, a) for a in claimed]
            message: Message = render_digest(contexts, channel.templates, channel=name, tz=channel.tz)
            result = await send(channel, message, http_client=self._client)
        except asyncio.CancelledError:
            await self._give_back({a.id for a in claimed})
            raise
        except DeliveryError as error:
            error.channel = error.channel or name
            await self._failed(claimed, channel, error, report, now)
            return report
        await asyncio.shield(
            self._db(outbox_rows.mark_sent, self.store, [a.id for a in claimed], self.clock())
        )
        self._resting.pop(name, None)
        report.sent += len(claimed)
        log.info("digest of %d alerts sent: channel %s (%s)", len(claimed), name, result.detail)
        return report

    # --- store work (runs in threads) ---------------------------------------------------------

    def _claim_digest(self, channel: ChannelSettings, now: datetime) -> list[Claimed]:
        last_sent, oldest = outbox_rows.digest_times(self.store, channel.name)
        if oldest is None:
            return []
        anchor = digest_anchor(last_sent, [oldest])
        due = channel.next_digest_at(anchor) if anchor else None
        if due is None or due > now:
            return []
        return self._claim(now, [channel.name], self.batch)

    def _claim(self, now: datetime, channels: list[str], limit: int) -> list[Claimed]:
        return outbox_rows.claim_alerts(self.store, now, channels, limit, self.owner, now + self.lease)
