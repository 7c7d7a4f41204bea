"""Apprise channel: one message to any Apprise URL(s) (Slack, Telegram, Discord, ntfy, Matrix, ...)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import apprise

from monitor.config_channels import apprise_scheme, quiet_imghdr
from monitor.notify.contract import AppriseChannel, DeliveryError, DeliveryResult, Message

if TYPE_CHECKING:
    import httpx

_FORMATS = {
    "text": apprise.NotifyFormat.TEXT,
    "markdown": apprise.NotifyFormat.MARKDOWN,
    "html": apprise.NotifyFormat.HTML,
}
_DETAIL_MAX = 1000
_LEVELS = logging.getLevelNamesMapping()

quiet_imghdr()  # before Apprise loads its plugins


def _body(settings: AppriseChannel, message: Message) -> str:
    # The text body marks hits with **...**, which reads as plain text and renders as markdown bold.
    return message.html if settings.body_format == "html" else message.text


def _failure_detail(result: apprise.AppriseResult) -> str:
    """The warnings and errors Apprise logged for this call (it reports failures only through its log)."""
    lines: list[str] = []
    for entry in result.logs():
        if _LEVELS.get(entry.level, 0) >= logging.WARNING and entry.message not in lines:
            lines.append(entry.message)
    detail = " | ".join(lines) or f"Apprise reported {result.status.name} without details"
    return detail[:_DETAIL_MAX]


async def send_apprise(
    settings: AppriseChannel, message: Message, /, *, http_client: httpx.AsyncClient | None = None
) -> DeliveryResult:
    """Notify every URL of the channel; DeliveryError with Apprise's own log lines when any fails.

    (A sender of monitor/notify/contract.py: `http_client` is not used, Apprise makes its own requests.)
    """
    notifier = apprise.Apprise()
    for url in settings.all_urls:
        if not notifier.add(url):
            raise DeliveryError(
                f"Apprise cannot use the URL {apprise_scheme(url)}", retryable=False, channel=settings.name
            )
    started = time.monotonic()
    result = await notifier.async_notify(
        body=_body(settings, message),
        title=message.subject,
        body_format=_FORMATS[settings.body_format],
        timeout=settings.timeout.total_seconds(),
        log_level=logging.INFO,
    )
    with result:
        if result.status is apprise.AppriseResultStatus.SUCCESS:
            return DeliveryResult(
                channel=settings.name,
                delivery_id=message.delivery_id,
                detail=f"Apprise: {result.success_count} of {len(settings.all_urls)} notified",
                elapsed=time.monotonic() - started,
            )
        # Apprise gives no status code, so a failure is worth retrying unless nothing loaded. A partial
        # failure is retried too: a retry notifies every URL again (one URL per channel avoids that).
        raise DeliveryError(
            f"Apprise {result.status.name.lower()}: {_failure_detail(result)}",
            retryable=result.status is not apprise.AppriseResultStatus.NOMATCH,
            channel=settings.name,
        )
