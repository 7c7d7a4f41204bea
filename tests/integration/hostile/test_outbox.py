"""Hostile alert receivers against the outbox: a dripping webhook holds up neither other channels nor
shutdown, and an SMTP server answering without end is cut off with one clear line."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config_channels import EmailChannel, parse_channel
from monitor.core.render import render_alert
from monitor.errors import DeliveryError
from monitor.notify.dispatch import send
from monitor.outbox import Outbox
from monitor.store.store import Store
from monitor.store.tables import alerts
from tests.fixtures.alerts import make_alert
from tests.fixtures.cli import start_daemon
from tests.fixtures.hostile import RawServer, drip
from tests.fixtures.notify import Receiver
from tests.fixtures.runtime import poll_watching, wait_for
from tests.fixtures.server import LoopbackServer
from tests.integration.notify.test_outbox import alert_rows, config_data, hook, serve_seeds, settings_of


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()


def _rows(store: Store, channel: str) -> list[Any]:
    return [r for r in alert_rows(store) if r.channel == channel]


def _set_due(store: Store, channel: str, when: datetime) -> None:
    with store.write() as conn:
        conn.execute(alerts.update().where(alerts.c.channel == channel).values(next_attempt_at=when))


def test_a_dripping_channel_holds_up_only_its_own_alerts(
    store: Store, server: LoopbackServer, receiver: Receiver
) -> None:
    serve_seeds(server)
    with RawServer(lambda conn: drip(conn, every=0.5, count=240)) as slow:
        data = config_data(
            server, [hook("slow", slow.url("/hook"), timeout="60s"), hook("fast", receiver.url())]
        )
        settings = settings_of(data)
        poll_watching(settings, store)
        fast_count = len(_rows(store, "fast"))
        assert fast_count >= 1 and len(_rows(store, "slow")) == fast_count
        _set_due(
            store, "fast", datetime.now(UTC) + timedelta(days=1)
        )  # only the slow channel is due at first

        async def go() -> None:
            outbox = Outbox(settings, store)
            try:
                await outbox.start_pass()  # the daemon's periodic job: the pass runs in the background
                await asyncio.to_thread(wait_for, lambda: slow.connections >= 1, what="the slow receiver")
                _set_due(store, "fast", datetime.now(UTC))  # new alerts for the healthy channel
                await outbox.start_pass()  # the next tick, while the slow channel still drips
                await asyncio.to_thread(
                    wait_for,
                    lambda: len(receiver.requests) == fast_count,
                    timeout=30,  # generous: the drip lasts 120 s
                    what="the healthy channel's alerts",
                )
                assert slow.connections == 1  # still in its first send
            finally:
                await outbox.aclose()  # shutdown: cancels the slow send

        asyncio.run(go())
    assert all(r.status == "sent" for r in _rows(store, "fast"))
    cancelled = _rows(store, "slow")
    assert all(r.status == "pending" and r.lease_owner is None and r.attempts == 0 for r in cancelled)

    # Later the slow channel's receiver is healthy: every cancelled alert arrives, once.
    settings = settings_of(
        config_data(server, [hook("slow", receiver.url("/slow")), hook("fast", receiver.url())])
    )

    async def later() -> None:
        outbox = Outbox(settings, store)
        try:
            await outbox.deliver_all()
        finally:
            await outbox.aclose()

    asyncio.run(later())
    assert all(r.status == "sent" and r.attempts == 1 for r in _rows(store, "slow"))
    ids = [r.headers["x-monitor-delivery"] for r in receiver.requests if r.path == "/slow"]
    assert len(ids) == len(cancelled) == len(set(ids))


def test_sigterm_exits_in_time_while_a_receiver_drips(
    db_url: str, store: Store, server: LoopbackServer, tmp_path: Path
) -> None:
    serve_seeds(server)
    with RawServer(lambda conn: drip(conn, every=0.5, count=1200)) as slow:
        data = config_data(server, [hook("slow", slow.url("/hook"), timeout="600s")])
        config = tmp_path / "feeds.yaml"
        config.write_text(yaml.safe_dump(data), encoding="utf-8")
        log = tmp_path / "daemon.log"
        daemon = start_daemon(config, db_url, log)
        try:
            wait_for(lambda: slow.connections >= 1, timeout=60, what="the first delivery attempt")
            stopped_at = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=40) == 0  # deploy's TimeoutStopSec is 45 s; the send would take 600 s
            assert time.monotonic() - stopped_at < 40
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait(10)
    rows = alert_rows(store)
    assert rows and all(r.status == "pending" and r.lease_owner is None and r.attempts == 0 for r in rows)
    assert "Traceback" not in log.read_text()


def smtp_channel(port: int, timeout: str = "5s", to: list[str] | None = None) -> EmailChannel:
    data: dict[str, Any] = {
        "name": "mail",
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "monitor@example.org",
        "to": to or ["desk@example.org"],
        "timeout": timeout,
    }
    settings = parse_channel(data)
    assert isinstance(settings, EmailChannel)
    return settings


class SMTPLiar:
    """A raw SMTP 'server' on 127.0.0.1 that greets with whatever `greet` writes, then hangs up."""

    def __init__(self, greet: Any) -> None:
        self.greet = greet
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return
        with conn, contextlib.suppress(OSError):
            self.greet(conn)

    def __enter__(self) -> SMTPLiar:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._sock.close()
        self._thread.join(10)


def _huge_greeting(conn: socket.socket) -> None:
    conn.sendall(b"220 ")
    block = b"x" * (1 << 20)
    for _ in range(512):  # a 512 MiB line
        conn.sendall(block)


def _slow_dialog(conn: socket.socket) -> None:
    """A well-formed SMTP dialog, each reply 1.5 s late: in time for a per-reply timeout of 2 s, but the
    whole exchange (greeting, EHLO, MAIL, 20 RCPT, DATA, the message, QUIT) takes over 35 s."""
    stop = threading.Event()
    reader = conn.makefile("rb")

    def reply(line: bytes) -> bool:
        if stop.wait(1.5):
            return False
        conn.sendall(line + b"\r\n")
        return True

    reply(b"220 slow.example ESMTP")
    for line in reader:
        command = line[:4].upper()
        if command == b"QUIT":
            reply(b"221 bye")
            return
        if command == b"DATA":
            reply(b"354 go on")
            for body_line in reader:
                if body_line in (b".\r\n", b".\n"):
                    break
            reply(b"250 queued")
            continue
        if not reply(b"250 ok"):
            return


async def test_a_huge_smtp_answer_gives_one_line_and_bounded_memory() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with SMTPLiar(_huge_greeting) as liar, pytest.raises(DeliveryError) as caught:
        await send(smtp_channel(liar.port, "30s"), render_alert(make_alert(), channel="test"))
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    text = str(caught.value)
    assert (
        "answer is not SMTP: Response too long" in text
        and "\n" not in text
        and len(text) < 300
        and caught.value.retryable
    )
    assert grown_mib < 200  # the answer is 512 MiB


async def test_a_slow_smtp_server_is_cut_off_at_the_whole_exchange_timeout() -> None:
    started = time.monotonic()
    desks = [f"desk{i}@example.org" for i in range(20)]
    with (
        SMTPLiar(_slow_dialog) as liar,
        pytest.raises(DeliveryError, match=r"timed out after 2s \(the whole"),
    ):
        await send(smtp_channel(liar.port, "2s", to=desks), render_alert(make_alert(), channel="test"))
    assert time.monotonic() - started < 20  # generous; the dialog lasts over 35 s
