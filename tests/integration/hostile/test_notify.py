"""Hostile alert receivers: a webhook that drips its answer or answers with half a gigabyte."""

from __future__ import annotations

import resource
import socket
import time
from typing import Any

import pytest

from monitor.config_channels import WebhookChannel, parse_channel
from monitor.core.render import Message, render_alert
from monitor.errors import DeliveryError
from monitor.notify.dispatch import send
from tests.fixtures.alerts import make_alert
from tests.fixtures.hostile import RawServer, drip


def channel(url: str, **overrides: Any) -> WebhookChannel:
    data: dict[str, Any] = {"name": "hook", "type": "webhook", "url": url, "timeout": "2s", **overrides}
    settings = parse_channel(data)
    assert isinstance(settings, WebhookChannel)
    return settings


def message() -> Message:
    return render_alert(make_alert(), channel="test")


async def test_a_dripping_receiver_is_cut_off_at_the_timeout() -> None:
    with RawServer(lambda conn: drip(conn, every=0.5, count=120)) as raw:
        started = time.monotonic()
        with pytest.raises(DeliveryError, match=r"timed out after 2s") as caught:
            await send(channel(raw.url("/hook")), message())
        elapsed = time.monotonic() - started
    assert caught.value.retryable
    assert elapsed < 15  # generous; the drip alone lasts 60 s


def _huge_answer(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\nContent-Length: 536870912\r\n\r\n")
    block = b"x" * (1 << 20)
    for _ in range(512):
        conn.sendall(block)


async def test_a_huge_answer_is_not_read_whole() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with RawServer(_huge_answer) as raw, pytest.raises(DeliveryError, match="answered HTTP 500") as caught:
        await send(channel(raw.url("/hook"), timeout="20s"), message())
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert "xxxx" in str(caught.value) and grown_mib < 200  # the answer is 512 MiB
