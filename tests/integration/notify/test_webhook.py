"""The webhook channel against a real HTTP(S) receiver on loopback: signature, headers, status classes, outages."""

from __future__ import annotations

import json
import threading
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from monitor.config_channels import WebhookChannel, parse_channel
from monitor.core.render import Message, render_digest
from monitor.errors import DeliveryError
from monitor.notify.dispatch import send
from monitor.notify.webhook import USER_AGENT, encode_payload, sign, verify_signature
from tests.fixtures.alerts import make_alert
from tests.fixtures.notify import TLS, Receiver, Reply
from tests.fixtures.server import free_port

SECRET = "webhook-shared-secret"


def channel(url: str, **overrides: Any) -> WebhookChannel:
    data: dict[str, Any] = {"name": "hook", "type": "webhook", "url": url, "secret": SECRET, "timeout": "5s"}
    data.update(overrides)
    settings = parse_channel(data)
    assert isinstance(settings, WebhookChannel)
    return settings


async def test_delivers_signed_json_with_delivery_headers(receiver: Receiver, message: Message) -> None:
    settings = channel(
        receiver.url("/in?token=abc"), headers={"Authorization": "Bearer t0k", "X-Team": "news"}
    )
    result = await send(settings, message)

    assert result.status == 200 and result.detail == "HTTP 200 OK"
    [request] = receiver.requests
    assert request.path == "/in?token=abc"
    assert verify_signature(SECRET, request.body, request.headers["x-monitor-signature"])
    assert request.headers["x-monitor-signature"].startswith("sha256=")
    assert request.headers["x-monitor-delivery"] == "alert-42-7-3"
    assert request.headers["x-monitor-event"] == "new_version"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["authorization"] == "Bearer t0k"
    assert request.headers["x-team"] == "news"
    assert request.json() == message.payload
    assert request.body == encode_payload(message.payload)
    assert b"\xd0\x97\xd0\xb5\xd1\x80" in request.body  # "Зер": compact UTF-8, not \u escapes
    assert b", " not in request.body[:200] and b": " not in request.body[:200]


async def test_without_a_secret_there_is_no_signature(receiver: Receiver, message: Message) -> None:
    await send(channel(receiver.url(), secret=None), message)
    [request] = receiver.requests
    assert "x-monitor-signature" not in request.headers
    assert request.headers["x-monitor-delivery"] == message.delivery_id


async def test_server_errors_are_retryable_and_retries_keep_the_delivery_id(
    receiver: Receiver, message: Message
) -> None:
    receiver.reply(Reply(500, b"database is down"), Reply(502, b""))
    settings = channel(receiver.url())
    for status in (500, 502):
        with pytest.raises(DeliveryError) as caught:
            await send(settings, message)
        assert caught.value.retryable
        assert caught.value.status == status
        assert caught.value.retry_after is None
    await send(settings, message)

    assert [r.headers["x-monitor-delivery"] for r in receiver.requests] == [message.delivery_id] * 3
    bodies = {r.body for r in receiver.requests}
    assert len(bodies) == 1  # the same bytes, so the same signature, on every attempt
    assert all(verify_signature(SECRET, r.body, r.headers["x-monitor-signature"]) for r in receiver.requests)


async def test_error_message_names_status_and_body_but_not_the_path(
    receiver: Receiver, message: Message
) -> None:
    receiver.reply(Reply(500, b"database is down"))
    with pytest.raises(DeliveryError) as caught:
        await send(channel(receiver.url("/secret-token-path")), message)
    text = str(caught.value)
    assert "HTTP 500" in text and "database is down" in text
    assert "secret-token-path" not in text
    assert text.startswith("channel 'hook': http://127.0.0.1:")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_client_errors_are_permanent(receiver: Receiver, message: Message, status: int) -> None:
    receiver.reply(Reply(status, b"bad payload"))
    with pytest.raises(DeliveryError) as caught:
        await send(channel(receiver.url()), message)
    assert not caught.value.retryable
    assert caught.value.status == status


@pytest.mark.parametrize("status", [408, 429])
async def test_timeout_and_rate_limit_statuses_are_retryable(
    receiver: Receiver, message: Message, status: int
) -> None:
    receiver.reply(Reply(status))
    with pytest.raises(DeliveryError) as caught:
        await send(channel(receiver.url()), message)
    assert caught.value.retryable


async def test_429_retry_after_seconds_is_reported(receiver: Receiver, message: Message) -> None:
    receiver.reply(Reply(429, b"slow down", {"Retry-After": "120"}))
    with pytest.raises(DeliveryError) as caught:
        await send(channel(receiver.url()), message)
    assert caught.value.retryable
    assert caught.value.retry_after == 120


async def test_503_retry_after_http_date_is_reported(receiver: Receiver, message: Message) -> None:
    import time

    receiver.reply(Reply(503, b"maintenance", {"Retry-After": formatdate(time.time() + 600, usegmt=True)}))
    with pytest.raises(DeliveryError) as caught:
        await send(channel(receiver.url()), message)
    assert caught.value.retryable
    assert caught.value.retry_after is not None and 590 <= caught.value.retry_after <= 600


async def test_redirect_is_not_followed_and_is_permanent(receiver: Receiver, message: Message) -> None:
    receiver.reply(Reply(308, b"", {"Location": "https://elsewhere.example/hook"}))
    with pytest.raises(DeliveryError) as caught:
        await send(channel(receiver.url()), message)
    assert not caught.value.retryable
    assert "https://elsewhere.example/hook" in str(caught.value)
    assert len(receiver.requests) == 1


async def test_connection_refused_is_retryable_then_delivered_once_when_the_receiver_is_up(
    message: Message,
) -> None:
    port = free_port()
    settings = channel(f"http://127.0.0.1:{port}/hook")
    with pytest.raises(DeliveryError) as caught:
        await send(settings, message)
    assert caught.value.retryable

    receiver = Receiver(port=port)
    try:
        await send(settings, message)
        assert [r.headers["x-monitor-delivery"] for r in receiver.requests] == [message.delivery_id]
    finally:
        receiver.stop()


async def test_a_slow_receiver_times_out_retryably(receiver: Receiver, message: Message) -> None:
    hold = threading.Event()
    receiver.reply(Reply(hold=hold))
    try:
        with pytest.raises(DeliveryError) as caught:
            await send(channel(receiver.url(), timeout="0.3s"), message)
    finally:
        hold.set()
    assert caught.value.retryable
    assert "timed out after 0.3s" in str(caught.value)


async def test_a_shared_client_is_used_and_left_open(receiver: Receiver, message: Message) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(str(request.url))

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
        await send(channel(receiver.url()), message, http_client=client)
        await send(channel(receiver.url()), message, http_client=client)
        assert not client.is_closed
    assert seen == [receiver.url()] * 2
    assert len(receiver.requests) == 2


async def test_https_with_a_private_ca(https_receiver: Receiver, tls: TLS, message: Message) -> None:
    await send(channel(https_receiver.url(), ca_file=tls.ca_file), message)
    assert len(https_receiver.requests) == 1


async def test_https_untrusted_certificate_is_permanent_unless_verify_is_off(
    https_receiver: Receiver, message: Message
) -> None:
    async with httpx.AsyncClient() as shared:  # the channel's TLS settings win over a shared client
        with pytest.raises(DeliveryError) as caught:
            await send(channel(https_receiver.url()), message, http_client=shared)
        assert not caught.value.retryable
        assert "not trusted" in str(caught.value)
        assert https_receiver.requests == []

        await send(channel(https_receiver.url(), verify=False), message, http_client=shared)
    assert len(https_receiver.requests) == 1


async def test_digest_delivery(receiver: Receiver) -> None:
    digest = render_digest([make_alert(), make_alert(delivery_id="alert-43", watch="ports")], channel="hook")
    await send(channel(receiver.url()), digest)
    [request] = receiver.requests
    assert request.headers["x-monitor-event"] == "digest"
    assert request.headers["x-monitor-delivery"] == digest.delivery_id
    body = request.json()
    assert body["schema"] == "news-monitor/digest@1"
    assert [a["delivery_id"] for a in body["alerts"]] == ["alert-42-7-3", "alert-43"]


def test_verify_signature_rejects_wrong_secret_tampered_body_and_missing_header() -> None:
    body = json.dumps({"a": 1}).encode()
    header = sign(SECRET, body)
    assert verify_signature(SECRET, body, header)
    assert verify_signature(SECRET.encode(), body, header)
    assert not verify_signature("other", body, header)
    assert not verify_signature(SECRET, body + b" ", header)
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, "")
    assert not verify_signature(SECRET, body, header.replace("sha256=", "sha1="))
    # A known vector, so receivers in other languages can check their implementation.
    assert sign("key", b"The quick brown fox jumps over the lazy dog") == (
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )
