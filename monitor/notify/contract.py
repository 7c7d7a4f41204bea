"""The sender contract: what every channel's sender takes and gives back.

A sender is an async function taking its channel's settings (monitor/config_channels.py) and a rendered
message; it returns a DeliveryResult once the other side accepted the message, else raises DeliveryError
(monitor/errors.py) saying whether a retry can help. Senders import this module, never the dispatcher.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from monitor.config_channels import AppriseChannel as AppriseChannel
from monitor.config_channels import ChannelBase as ChannelBase
from monitor.config_channels import ChannelSettings as ChannelSettings
from monitor.config_channels import EmailChannel as EmailChannel
from monitor.config_channels import WebhookChannel as WebhookChannel
from monitor.core.render import Message as Message
from monitor.errors import DeliveryError as DeliveryError

if TYPE_CHECKING:
    import httpx

SettingsT = TypeVar("SettingsT", bound=ChannelBase, contravariant=True)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """A delivery the other side accepted."""

    channel: str
    delivery_id: str
    detail: str  # what the server said: "HTTP 200", "250 2.0.0 Ok: queued", ...
    status: int | None = None  # HTTP status or SMTP reply code
    elapsed: float = 0.0  # seconds


class Sender(Protocol[SettingsT]):
    """Deliver `message` through a channel with these settings: a DeliveryResult, or a DeliveryError.

    `http_client` is an open client the caller shares across deliveries; senders that speak HTTP may use it.
    """

    def __call__(
        self, settings: SettingsT, message: Message, /, *, http_client: httpx.AsyncClient | None = None
    ) -> Awaitable[DeliveryResult]: ...
