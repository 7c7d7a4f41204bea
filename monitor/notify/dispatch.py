"""The dispatcher: a rendered message and a channel's settings in, the channel's sender called.

The senders (email.py, webhook.py, apprise_channel.py) implement monitor/notify/contract.py; only this
module knows them all. Each is imported on first use, so a command that never sends loads no SMTP, HTTP
or Apprise client.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from monitor.notify.contract import (
    AppriseChannel,
    ChannelBase,
    DeliveryResult,
    EmailChannel,
    Message,
    Sender,
    WebhookChannel,
)

if TYPE_CHECKING:
    import httpx

S = TypeVar("S", bound=ChannelBase)


async def send(
    settings: EmailChannel | WebhookChannel | AppriseChannel,
    message: Message,
    *,
    http_client: httpx.AsyncClient | None = None,
) -> DeliveryResult:
    """Deliver a rendered message through a channel; raise DeliveryError when it does not arrive.

    `http_client` is shared by webhook deliveries (the delivery loop keeps one open).
    """
    if isinstance(settings, EmailChannel):
        from monitor.notify.email import send_email

        return await _through(send_email, settings, message, http_client)
    if isinstance(settings, WebhookChannel):
        from monitor.notify.webhook import send_webhook

        return await _through(send_webhook, settings, message, http_client)
    from monitor.notify.apprise_channel import send_apprise

    return await _through(send_apprise, settings, message, http_client)


def _through(
    sender: Sender[S], settings: S, message: Message, http_client: httpx.AsyncClient | None
) -> Awaitable[DeliveryResult]:
    return sender(settings, message, http_client=http_client)
