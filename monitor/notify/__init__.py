"""Alert channels: settings models and senders (email, webhook, Apprise); plain data in, result or error out."""

from monitor.notify.channels import (
    AppriseChannel,
    ChannelSettings,
    DeliveryError,
    DeliveryResult,
    EmailChannel,
    WebhookChannel,
    parse_channel,
    send,
)

__all__ = [
    "AppriseChannel",
    "ChannelSettings",
    "DeliveryError",
    "DeliveryResult",
    "EmailChannel",
    "WebhookChannel",
    "parse_channel",
    "send",
]
