"""The Apprise channel, through Apprise's own json:// and form:// notifiers to the loopback receiver."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs

import pytest
from pydantic import ValidationError

from monitor.config_channels import AppriseChannel, parse_channel
from monitor.core.render import Message
from monitor.errors import DeliveryError
from monitor.notify.dispatch import send
from tests.fixtures.notify import Receiver, Reply
from tests.fixtures.server import free_port


def channel(**overrides: Any) -> AppriseChannel:
    data: dict[str, Any] = {"name": "chat", "type": "apprise", "timeout": "5s"}
    data.update(overrides)
    settings = parse_channel(data)
    assert isinstance(settings, AppriseChannel)
    return settings


def json_url(receiver: Receiver, path: str = "/apprise") -> str:
    return f"json://127.0.0.1:{receiver.port}{path}"


async def test_json_notifier_receives_title_and_text_body(receiver: Receiver, message: Message) -> None:
    result = await send(channel(url=json_url(receiver)), message)

    assert result.channel == "chat" and result.delivery_id == message.delivery_id
    [request] = receiver.requests
    assert request.path == "/apprise"
    body = request.json()
    assert body["title"] == message.subject
    assert body["message"] == message.text.rstrip()  # Apprise trims trailing whitespace
    assert "**grain**" in body["message"]
    assert body["type"] == "info"


async def test_html_body_format_sends_the_html_body(receiver: Receiver, message: Message) -> None:
    await send(channel(url=json_url(receiver), body_format="html"), message)
    [request] = receiver.requests
    assert request.json()["message"] == message.html.rstrip()


async def test_several_urls_are_all_notified(receiver: Receiver, message: Message) -> None:
    urls = [json_url(receiver, "/one"), f"form://127.0.0.1:{receiver.port}/two"]
    result = await send(channel(urls=urls), message)

    assert sorted(r.path for r in receiver.requests) == ["/one", "/two"]
    form = next(r for r in receiver.requests if r.path == "/two")
    fields = parse_qs(form.body.decode())
    assert fields["title"] == [message.subject]
    assert "2 of 2" in result.detail


async def test_a_failing_endpoint_is_a_retryable_error_with_apprise_s_log(
    receiver: Receiver, message: Message
) -> None:
    receiver.reply(Reply(500, b"boom"))
    with pytest.raises(DeliveryError) as caught:
        await send(channel(url=json_url(receiver)), message)
    assert caught.value.retryable
    text = str(caught.value)
    assert text.startswith("channel 'chat': Apprise failure: ")
    assert "500" in text  # from Apprise's own log: "Failed to send JSON POST notification: ... error=500."


async def test_connection_refused_is_retryable(message: Message) -> None:
    with pytest.raises(DeliveryError) as caught:
        await send(channel(url=f"json://127.0.0.1:{free_port()}/x"), message)
    assert caught.value.retryable
    assert "connection error" in str(caught.value).lower()


async def test_a_slow_endpoint_times_out(receiver: Receiver, message: Message) -> None:
    hold = threading.Event()
    receiver.reply(Reply(hold=hold))
    try:
        with pytest.raises(DeliveryError) as caught:
            await send(channel(url=json_url(receiver) + "?rto=0.3&cto=0.3"), message)
    finally:
        hold.set()
    assert caught.value.retryable


def test_an_unknown_apprise_url_is_a_config_error_that_hides_the_token() -> None:
    with pytest.raises(ValidationError) as caught:
        channel(url="nosuchservice://secret-token@host")
    [error] = caught.value.errors()  # the config loader reports `msg` with the YAML path and line
    assert error["loc"] == ("apprise", "url")
    assert "Apprise cannot use the URL nosuchservice://…" in error["msg"]
    assert "secret-token" not in error["msg"]


def test_apprise_urls_are_not_in_the_repr() -> None:
    settings = channel(url="json://user:hunter2@127.0.0.1/x")
    assert "hunter2" not in repr(settings)
    assert settings.all_urls == ("json://user:hunter2@127.0.0.1/x",)


def test_a_channel_needs_a_url() -> None:
    with pytest.raises(ValidationError, match="give 'url:' or 'urls:'"):
        channel()
