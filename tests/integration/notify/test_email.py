"""The email channel against a real aiosmtpd server on loopback: plain, STARTTLS, implicit TLS, AUTH, failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from monitor.config_channels import EmailChannel, parse_channel
from monitor.core.render import Message, render_alert
from monitor.errors import DeliveryError
from monitor.notify.dispatch import send
from monitor.notify.email import build_email, message_id
from tests.fixtures.alerts import make_alert
from tests.fixtures.notify import SMTP_PASSWORD, SMTP_USER, TLS, SMTPServer
from tests.fixtures.server import free_port

RECIPIENTS = ["Desk <desk@example.org>", "oncall@example.net"]


def channel(server_port: int, **overrides: Any) -> EmailChannel:
    data: dict[str, Any] = {
        "name": "mail",
        "type": "email",
        "host": "127.0.0.1",
        "port": server_port,
        "security": "none",
        "from": "news-monitor <monitor@example.org>",
        "to": RECIPIENTS,
        "timeout": "5s",
    }
    data.update(overrides)
    settings = parse_channel(data)
    assert isinstance(settings, EmailChannel)
    return settings


async def test_plain_smtp_delivers_multipart_text_and_html(
    smtp_server: Callable[..., SMTPServer], message: Message
) -> None:
    server = smtp_server()
    result = await send(channel(server.port), message)

    assert result.status == 250 and "queued" in result.detail
    assert result.delivery_id == "alert-42-7-3"
    [received] = server.received
    assert received.mail_from == "monitor@example.org"
    assert received.rcpt_tos == ["desk@example.org", "oncall@example.net"]
    assert not received.tls
    email = received.email
    assert email["Subject"] == message.subject
    assert email["From"] == "news-monitor <monitor@example.org>"
    assert email["To"] == "Desk <desk@example.org>, oncall@example.net"
    assert email["Message-ID"] == "<news-monitor.alert-42-7-3@example.org>"
    assert email["X-Monitor-Delivery"] == "alert-42-7-3"
    assert email["X-Monitor-Event"] == "new_version"
    assert email["Auto-Submitted"] == "auto-generated"
    assert email["Date"]
    assert email.get_content_type() == "multipart/alternative"
    text = email.get_body(preferencelist=("plain",))
    html = email.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == message.text
    assert html.get_content().replace("\r\n", "\n") == message.html
    assert "<mark>grain</mark>" in html.get_content()
    assert "Зерновой коридор продлён" in text.get_content()  # non-ASCII survives the transfer encoding


async def test_starttls_with_auth_and_a_self_signed_certificate(
    smtp_server: Callable[..., SMTPServer], tls: TLS, message: Message
) -> None:
    server = smtp_server(security="starttls", auth=True)
    settings = channel(
        server.port, security="starttls", username=SMTP_USER, password=SMTP_PASSWORD, ca_file=tls.ca_file
    )
    await send(settings, message)

    [received] = server.received
    assert received.tls
    assert received.login == SMTP_USER.encode()
    assert received.email["Subject"] == message.subject


async def test_wrong_password_is_a_permanent_error(
    smtp_server: Callable[..., SMTPServer], tls: TLS, message: Message
) -> None:
    server = smtp_server(security="starttls", auth=True)
    settings = channel(
        server.port, security="starttls", username=SMTP_USER, password="wrong", ca_file=tls.ca_file
    )
    with pytest.raises(DeliveryError) as caught:
        await send(settings, message)

    assert not caught.value.retryable
    assert caught.value.status == 535
    assert "authentication failed" in str(caught.value)
    assert str(caught.value).startswith("channel 'mail': ")
    assert SMTP_PASSWORD not in str(caught.value) and "wrong" not in str(caught.value)
    assert server.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_auth_without_tls_when_the_server_allows_it(
    smtp_server: Callable[..., SMTPServer], message: Message
) -> None:
    server = smtp_server(security="none", auth=True)
    await send(channel(server.port, username=SMTP_USER, password=SMTP_PASSWORD), message)
    assert [r.login for r in server.received] == [SMTP_USER.encode()]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_server_requiring_auth_refuses_an_anonymous_sender(
    smtp_server: Callable[..., SMTPServer], message: Message
) -> None:
    server = smtp_server(security="none", auth=True)
    with pytest.raises(DeliveryError) as caught:
        await send(channel(server.port), message)
    assert caught.value.status == 530
    assert not caught.value.retryable


async def test_untrusted_certificate_is_permanent_unless_verify_is_off(
    smtp_server: Callable[..., SMTPServer], message: Message
) -> None:
    server = smtp_server(security="starttls")
    with pytest.raises(DeliveryError) as caught:
        await send(channel(server.port, security="starttls"), message)
    assert not caught.value.retryable
    assert "not trusted" in str(caught.value)
    assert server.received == []

    await send(channel(server.port, security="starttls", verify=False), message)
    assert len(server.received) == 1 and server.received[0].tls


async def test_implicit_tls(smtp_server: Callable[..., SMTPServer], tls: TLS, message: Message) -> None:
    server = smtp_server(security="tls")
    await send(channel(server.port, security="tls", ca_file=tls.ca_file), message)
    [received] = server.received
    assert received.email["X-Monitor-Delivery"] == message.delivery_id


async def test_starttls_channel_refuses_a_server_without_starttls(
    smtp_server: Callable[..., SMTPServer], message: Message
) -> None:
    server = smtp_server(security="none")
    with pytest.raises(DeliveryError) as caught:
        await send(channel(server.port, security="starttls"), message)
    assert not caught.value.retryable
    assert server.received == []


async def test_temporary_rejection_is_retryable_and_the_retry_is_the_same_message(
    smtp_server: Callable[..., SMTPServer], message: Message
) -> None:
    server = smtp_server()
    server.recorder.data_reply = "451 4.3.0 Mail server temporarily busy"
    with pytest.raises(DeliveryError) as caught:
        await send(channel(server.port), message)
    assert caught.value.retryable
    assert caught.value.status == 451
    assert "temporarily busy" in str(caught.value)

    server.recorder.data_reply = None
    await send(channel(server.port), message)
    await send(channel(server.port), message)
    ids = {r.email["Message-ID"] for r in server.received}
    assert len(server.received) == 2 and ids == {"<news-monitor.alert-42-7-3@example.org>"}


async def test_every_recipient_refused_permanently(
    smtp_server: Callable[..., SMTPServer], message: Message
) -> None:
    server = smtp_server()
    server.recorder.refuse_rcpt = {
        "desk@example.org": "550 5.1.1 No such user",
        "oncall@example.net": "550 5.1.1 No such user",
    }
    with pytest.raises(DeliveryError) as caught:
        await send(channel(server.port), message)
    assert not caught.value.retryable
    assert "desk@example.org: 550" in str(caught.value)


async def test_one_refused_recipient_still_delivers_to_the_other(
    smtp_server: Callable[..., SMTPServer], message: Message
) -> None:
    server = smtp_server()
    server.recorder.refuse_rcpt = {"oncall@example.net": "550 5.1.1 No such user"}
    result = await send(channel(server.port), message)
    assert [r.rcpt_tos for r in server.received] == [["desk@example.org"]]
    assert "refused: oncall@example.net: 550" in result.detail


async def test_connection_refused_is_retryable(message: Message) -> None:
    with pytest.raises(DeliveryError) as caught:
        await send(channel(free_port()), message)
    assert caught.value.retryable
    assert "127.0.0.1" in str(caught.value)


async def test_silent_server_times_out_retryably(silent_port: int, message: Message) -> None:
    with pytest.raises(DeliveryError) as caught:
        await send(channel(silent_port, timeout="0.3s"), message)
    assert caught.value.retryable
    assert "timed out" in str(caught.value)


def test_message_id_is_stable_and_safe() -> None:
    assert message_id("alert-1", "a@news.example") == "<news-monitor.alert-1@news.example>"
    odd = message_id("digest/<weird> id", "Name <a@news.example>")
    assert odd == message_id("digest/<weird> id", "Name <a@news.example>")
    assert odd.startswith("<news-monitor.") and "<weird>" not in odd


def test_digest_email_has_the_digest_delivery_id() -> None:
    from monitor.core.render import render_digest

    digest = render_digest([make_alert(), make_alert(delivery_id="other")], channel="mail")
    email = build_email(channel(25), digest)
    assert email["X-Monitor-Event"] == "digest"
    assert email["Message-ID"] == message_id(digest.delivery_id, "monitor@example.org")
    assert email["Subject"] == digest.subject == "news-monitor: 2 edited articles for watch grain exports"


def test_header_injection_through_the_subject_is_impossible() -> None:
    alert = make_alert(
        article=make_alert().article.__class__(id=1, url="u", title="Hi\r\nBcc: x@evil", source="S")
    )
    email = build_email(channel(25), render_alert(alert, channel="mail"))
    assert email["Bcc"] is None
    assert "\n" not in email["Subject"]
