"""Channel settings: the models `channels:` entries validate into (email, webhook, apprise).

They belong to the configuration: config.py validates with them and monitor/notify's senders consume them.
They know nothing of the store or of sending, so loading a config loads no SMTP or HTTP client; Apprise
is imported only to check an Apprise URL, when a config has one.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from email.utils import parseaddr
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.core.durations import parse_duration
from monitor.core.render import TemplateKind, Templates, check_template
from monitor.errors import RenderError

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_RESERVED_HEADERS = {"content-type", "content-length", "host", "transfer-encoding", "connection"}
_DAILY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def quiet_imghdr() -> None:
    """Import `imghdr` once, quietly: Apprise's email plugin imports it and it is deprecated since Python
    3.11, so loading Apprise's plugins would warn (tests run with warnings as errors)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
        with contextlib.suppress(ImportError):  # Python 3.13 removed it; Apprise then does without
            import imghdr  # noqa: F401


def apprise_scheme(url: str) -> str:
    """The URL's scheme only, for messages: Apprise URLs usually carry tokens."""
    return url.split("://", 1)[0] + "://…" if "://" in url else "(no scheme)"


def check_apprise_url(url: str) -> None:
    """Raise ValueError unless Apprise can load this URL (the error names only its scheme: URLs hold tokens)."""
    import apprise  # loaded only when a config has an Apprise channel

    quiet_imghdr()
    if apprise.Apprise.instantiate(url) is None:
        raise ValueError(
            f"Apprise cannot use the URL {apprise_scheme(url)} (see the Apprise wiki for its format)"
        )


def _to_tuple(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


def _parse_daily(value: Any) -> Any:
    if isinstance(value, time) or value is None:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 8:00 as the sexagesimal number 480.
        raise ValueError('write the time in quotes, e.g. daily: "08:00"')
    if not isinstance(value, str) or not (match := _DAILY.match(value.strip())):
        raise ValueError(f'{value!r} is not a time of day; use "HH:MM", e.g. "08:00"')
    return time(int(match.group(1)), int(match.group(2)))


class ChannelBase(BaseModel):
    """What every channel has: a name, immediate or digest delivery, retries and template overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=200)
    mode: Literal["immediate", "digest"] = "immediate"
    every: Duration | None = None
    daily: Annotated[time | None, BeforeValidator(_parse_daily)] = None
    timezone: str = "UTC"
    max_attempts: int = Field(default=8, ge=1, le=100)
    subject_template: str | None = None
    body_template: str | None = None
    html_template: str | None = None
    digest_subject_template: str | None = None
    digest_body_template: str | None = None
    digest_html_template: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _digest_when_scheduled(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "mode" not in data and (data.get("every") or data.get("daily")):
            return {**data, "mode": "digest"}
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known IANA time zone (e.g. Europe/Berlin, UTC)") from None
        return value

    @field_validator("every")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("every must be longer than zero")
        return value

    @field_validator(
        "subject_template",
        "body_template",
        "html_template",
        "digest_subject_template",
        "digest_body_template",
        "digest_html_template",
    )
    @classmethod
    def _template_compiles(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        field = info.field_name or ""
        digest = field.startswith("digest_")
        kind: TemplateKind = "subject" if "subject" in field else "html" if "html" in field else "text"
        try:
            check_template(value, kind, channel=str(info.data.get("name", "?")), digest=digest)
        except RenderError as exc:
            where = f"line {exc.line}: " if exc.line else ""
            raise ValueError(f"template does not compile: {where}{exc.detail}") from None
        return value

    @model_validator(mode="after")
    def _schedule_fits_mode(self) -> ChannelBase:
        if self.mode == "digest" and (self.every is None) == (self.daily is None):
            raise ValueError(
                "a digest channel needs exactly one of 'every:' (e.g. 30m) or 'daily:' (e.g. \"08:00\")"
            )
        if self.mode == "immediate" and (self.every is not None or self.daily is not None):
            raise ValueError("'every:' and 'daily:' need 'mode: digest'")
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The channel's time zone, for formatting times and scheduling daily digests."""
        return ZoneInfo(self.timezone)

    @property
    def templates(self) -> Templates:
        """The template overrides as the renderer takes them."""
        return Templates(
            subject=self.subject_template,
            text=self.body_template,
            html=self.html_template,
            digest_subject=self.digest_subject_template,
            digest_text=self.digest_body_template,
            digest_html=self.digest_html_template,
        )

    def next_digest_at(self, after: datetime) -> datetime | None:
        """When the next digest is due strictly after `after` (UTC); None for immediate channels.

        `every`: `after` (the last digest) plus the interval. `daily`: the next HH:MM in the channel's
        time zone, so a digest stays at 08:00 local time across DST changes.
        """
        if after.tzinfo is None:
            after = after.replace(tzinfo=UTC)
        if self.every is not None:
            return (after + self.every).astimezone(UTC)
        if self.daily is None:
            return None
        tz = self.tz
        day = after.astimezone(tz).date()
        while True:
            candidate = datetime.combine(day, self.daily, tzinfo=tz).astimezone(UTC)
            if candidate > after:
                return candidate
            day += timedelta(days=1)


def _check_address(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{value!r} contains a line break")
    _, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        raise ValueError(f"{value!r} is not an email address")
    return value


class EmailChannel(ChannelBase):
    """Multipart text + HTML email over SMTP: plain, STARTTLS or implicit TLS, with optional AUTH."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from")
    to: Annotated[tuple[str, ...], BeforeValidator(_to_tuple)] = Field(min_length=1)
    timeout: Duration = timedelta(seconds=30)
    verify: bool = True  # verify the server's certificate (STARTTLS and TLS)
    ca_file: str | None = None  # a PEM bundle to trust instead of the system's

    @field_validator("from_")
    @classmethod
    def _from_address(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("to")
    @classmethod
    def _to_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_address(v) for v in value)

    @model_validator(mode="after")
    def _credentials_pair(self) -> EmailChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both 'username:' and 'password:', or neither")
        return self

    @property
    def smtp_port(self) -> int:
        """The port, defaulting by security: 25 (none), 587 (starttls), 465 (tls)."""
        return self.port or {"none": 25, "starttls": 587, "tls": 465}[self.security]


class WebhookChannel(ChannelBase):
    """A JSON POST, signed with HMAC-SHA256 of the body when a secret is set."""

    type: Literal["webhook"]
    url: str
    secret: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = timedelta(seconds=10)
    verify: bool = True
    ca_file: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in _RESERVED_HEADERS or name.lower().startswith("x-monitor-"):
                raise ValueError(f"header {name!r} is set by news-monitor and cannot be overridden")
            if "\r" in header or "\n" in header:
                raise ValueError(f"header {name!r} contains a line break")
        return value


class AppriseChannel(ChannelBase):
    """Any Apprise URL or URLs (Slack, Telegram, Discord, ntfy, Matrix, ...)."""

    type: Literal["apprise"]
    url: str | None = Field(default=None, repr=False)  # Apprise URLs usually carry tokens
    urls: tuple[str, ...] = Field(default=(), repr=False)
    body_format: Literal["text", "markdown", "html"] = "text"
    timeout: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _some_url(self) -> AppriseChannel:
        if not self.all_urls:
            raise ValueError("give 'url:' or 'urls:'")
        return self

    @field_validator("url", "urls")
    @classmethod
    def _apprise_understands(cls, value: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        for url in (value,) if isinstance(value, str) else value or ():
            check_apprise_url(url)
        return value

    @property
    def all_urls(self) -> tuple[str, ...]:
        return ((self.url,) if self.url else ()) + self.urls


ChannelSettings = Annotated[EmailChannel | WebhookChannel | AppriseChannel, Field(discriminator="type")]
CHANNEL_ADAPTER: TypeAdapter[EmailChannel | WebhookChannel | AppriseChannel] = TypeAdapter(ChannelSettings)


def parse_channel(data: Mapping[str, Any]) -> EmailChannel | WebhookChannel | AppriseChannel:
    """Validate one `channels:` entry into its settings model (pydantic.ValidationError on problems)."""
    return CHANNEL_ADAPTER.validate_python(dict(data))
