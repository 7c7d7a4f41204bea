"""Channel settings: the discriminated union, defaults, validation messages and the digest schedule."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from monitor.config_channels import AppriseChannel, EmailChannel, WebhookChannel, parse_channel
from monitor.core.render import Templates

EMAIL: dict[str, Any] = {
    "name": "mail",
    "type": "email",
    "host": "smtp.example.org",
    "from": "news-monitor <monitor@example.org>",
    "to": "desk@example.org",
}
WEBHOOK: dict[str, Any] = {"name": "hook", "type": "webhook", "url": "https://hooks.example/in"}


def messages(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_channel(data)
    return [error["msg"] for error in caught.value.errors()]


def test_the_type_picks_the_model() -> None:
    assert isinstance(parse_channel(EMAIL), EmailChannel)
    assert isinstance(parse_channel(WEBHOOK), WebhookChannel)
    assert isinstance(
        parse_channel({"name": "a", "type": "apprise", "url": "json://127.0.0.1/x"}), AppriseChannel
    )
    with pytest.raises(ValidationError, match="expected tags: 'email', 'webhook', 'apprise'"):
        parse_channel({"name": "x", "type": "sms"})


def test_email_defaults_and_the_from_alias() -> None:
    settings = parse_channel(EMAIL)
    assert isinstance(settings, EmailChannel)
    assert settings.from_ == "news-monitor <monitor@example.org>"
    assert settings.to == ("desk@example.org",)
    assert settings.security == "starttls" and settings.smtp_port == 587
    assert settings.timeout == timedelta(seconds=30) and settings.verify
    assert settings.mode == "immediate" and settings.max_attempts == 8
    assert settings.model_dump(by_alias=True)["from"] == settings.from_
    for security, port in (("none", 25), ("starttls", 587), ("tls", 465)):
        assert parse_channel({**EMAIL, "security": security}).smtp_port == port  # type: ignore[union-attr]
    assert parse_channel({**EMAIL, "security": "tls", "port": 2465}).smtp_port == 2465  # type: ignore[union-attr]


def test_email_validation() -> None:
    assert any(
        "is not an email address" in m for m in messages({**EMAIL, "to": ["desk@example.org", "nobody"]})
    )
    assert any("line break" in m for m in messages({**EMAIL, "from": "a@b.c\r\nBcc: x@y.z"}))
    assert any("both 'username:' and 'password:'" in m for m in messages({**EMAIL, "username": "u"}))
    assert messages({**EMAIL, "to": []})
    assert messages({**EMAIL, "security": "ssl"})
    assert messages({**EMAIL, "hostname": "typo"})  # unknown keys are errors, not silently ignored


def test_secrets_stay_out_of_repr() -> None:
    email = parse_channel({**EMAIL, "username": "u", "password": "hunter2"})
    hook = parse_channel({**WEBHOOK, "secret": "hmac-key"})
    assert "hunter2" not in repr(email) and "hmac-key" not in repr(hook)
    assert isinstance(hook, WebhookChannel) and hook.secret is not None
    assert hook.secret.get_secret_value() == "hmac-key"


def test_webhook_validation() -> None:
    settings = parse_channel({**WEBHOOK, "headers": {"Authorization": "Bearer x"}, "timeout": "1m"})
    assert isinstance(settings, WebhookChannel) and settings.timeout == timedelta(minutes=1)
    assert any("http(s) URL" in m for m in messages({**WEBHOOK, "url": "ftp://x"}))
    assert any(
        "cannot be overridden" in m for m in messages({**WEBHOOK, "headers": {"X-Monitor-Delivery": "1"}})
    )
    assert any(
        "cannot be overridden" in m for m in messages({**WEBHOOK, "headers": {"content-type": "text/plain"}})
    )
    assert any("not a valid header name" in m for m in messages({**WEBHOOK, "headers": {"Bad Header": "x"}}))
    assert any("line break" in m for m in messages({**WEBHOOK, "headers": {"X-A": "a\r\nX-B: b"}}))
    assert any("not a duration" in m for m in messages({**WEBHOOK, "timeout": "soon"}))


def test_digest_mode_follows_every_or_daily() -> None:
    every = parse_channel({**WEBHOOK, "every": "1h30m"})
    assert every.mode == "digest" and every.every == timedelta(hours=1, minutes=30)
    daily = parse_channel({**WEBHOOK, "daily": "8:05", "timezone": "Europe/Kyiv"})
    assert daily.mode == "digest" and daily.daily == time(8, 5)
    assert any("exactly one of 'every:'" in m for m in messages({**WEBHOOK, "mode": "digest"}))
    assert any("exactly one of 'every:'" in m for m in messages({**WEBHOOK, "every": "1h", "daily": "08:00"}))
    assert any("need 'mode: digest'" in m for m in messages({**WEBHOOK, "mode": "immediate", "every": "1h"}))
    assert any("write the time in quotes" in m for m in messages({**WEBHOOK, "daily": 480}))  # YAML's 8:00
    assert any("not a time of day" in m for m in messages({**WEBHOOK, "daily": "25:00"}))
    assert any("longer than zero" in m for m in messages({**WEBHOOK, "every": "0s"}))
    assert any("not a known IANA time zone" in m for m in messages({**WEBHOOK, "timezone": "Mars/Olympus"}))
    assert messages({**WEBHOOK, "max_attempts": 0})


def test_next_digest_every() -> None:
    settings = parse_channel({**WEBHOOK, "every": "30m"})
    last = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
    assert settings.next_digest_at(last) == datetime(2024, 10, 18, 12, 30, tzinfo=UTC)
    assert parse_channel(WEBHOOK).next_digest_at(last) is None


def test_next_daily_digest_keeps_local_time_across_dst() -> None:
    settings = parse_channel({**WEBHOOK, "daily": "08:00", "timezone": "Europe/Berlin"})
    # Winter (CET, UTC+1): 08:00 local is 07:00 UTC.
    assert settings.next_digest_at(datetime(2024, 3, 29, 6, 0, tzinfo=UTC)) == datetime(
        2024, 3, 29, 7, 0, tzinfo=UTC
    )
    # Exactly at the time: the next one is tomorrow.
    assert settings.next_digest_at(datetime(2024, 3, 29, 7, 0, tzinfo=UTC)) == datetime(
        2024, 3, 30, 7, 0, tzinfo=UTC
    )
    # Clocks go forward on 31 March: 08:00 CEST is 06:00 UTC.
    assert settings.next_digest_at(datetime(2024, 3, 30, 7, 0, tzinfo=UTC)) == datetime(
        2024, 3, 31, 6, 0, tzinfo=UTC
    )
    # Naive times are UTC.
    assert settings.next_digest_at(datetime(2024, 3, 29, 6, 0)) == datetime(2024, 3, 29, 7, 0, tzinfo=UTC)


def test_template_overrides_are_checked_when_the_config_loads() -> None:
    settings = parse_channel(
        {**EMAIL, "subject_template": "{{ watch }}", "digest_html_template": "<p>{{ count }}</p>"}
    )
    assert settings.templates == Templates(subject="{{ watch }}", digest_html="<p>{{ count }}</p>")
    [message] = messages({**EMAIL, "body_template": "ok\n{% for x in y %}"})
    assert message.startswith("Value error, template does not compile: line 2: ")
