"""Webhook channel: a signed JSON POST (schema in docs/webhook-payload.schema.json).

Headers: `X-Monitor-Delivery` (the same on every retry, so receivers can drop repeats), `X-Monitor-Event`,
and with a secret `X-Monitor-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from monitor import __version__
from monitor.bounded import UnsupportedEncoding, read_body
from monitor.core.schedule import parse_retry_after
from monitor.notify.contract import DeliveryError, DeliveryResult, Message, WebhookChannel

USER_AGENT = f"news-monitor/{__version__} (webhook; +https://github.com/news-monitor/news-monitor)"
SIGNATURE_HEADER = "X-Monitor-Signature"
DELIVERY_HEADER = "X-Monitor-Delivery"
EVENT_HEADER = "X-Monitor-Event"
_RETRYABLE_4XX = {408, 425, 429}
_EXCERPT = 300


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The request body: compact UTF-8 JSON (these exact bytes are what the signature covers)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, body: bytes) -> str:
    """The `X-Monitor-Signature` value: "sha256=" + hex HMAC-SHA256 of the body with the secret."""
    return "sha256=" + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """For receivers: does the `X-Monitor-Signature` header match this body? (constant-time compare)"""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def request_headers(settings: WebhookChannel, message: Message, body: bytes) -> dict[str, str]:
    """Every header of a delivery: the configured extras, then ours (extras cannot override ours)."""
    headers = dict(settings.headers)
    headers.update(
        {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: message.delivery_id,
            EVENT_HEADER: message.event,
        }
    )
    if settings.secret is not None:
        headers[SIGNATURE_HEADER] = sign(settings.secret.get_secret_value(), body)
    return headers


def _where(url: str) -> str:
    """scheme://host[:port] of a URL: webhook paths often carry tokens, so errors leave them out."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _retry_after(response: httpx.Response) -> float | None:
    delta = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
    return None if delta is None else delta.total_seconds()


def _status_error(settings: WebhookChannel, response: httpx.Response, content: bytes) -> DeliveryError:
    status = response.status_code
    excerpt = " ".join(content.decode("utf-8", "replace")[:_EXCERPT].split())
    message = f"{_where(settings.url)} answered HTTP {status} {response.reason_phrase}".rstrip()
    if 300 <= status < 400:
        location = response.headers.get("Location", "?")
        return DeliveryError(
            f"{message}: redirected to {location}; update the channel's url",
            retryable=False,
            status=status,
            channel=settings.name,
        )
    if excerpt:
        message += f": {excerpt}"
    retryable = status >= 500 or status in _RETRYABLE_4XX
    return DeliveryError(
        message,
        retryable=retryable,
        retry_after=_retry_after(response) if retryable else None,
        status=status,
        channel=settings.name,
    )


def _transport_error(settings: WebhookChannel, exc: httpx.HTTPError) -> DeliveryError:
    where = _where(settings.url)
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, ssl.SSLCertVerificationError):
            return DeliveryError(
                f"TLS certificate of {where} not trusted: {current.verify_message} (set ca_file, or verify: false)",
                retryable=False,
                channel=settings.name,
            )
        current = current.__cause__ or current.__context__
    if isinstance(exc, httpx.TimeoutException):
        seconds = settings.timeout.total_seconds()
        return DeliveryError(
            f"{where} timed out after {seconds:g}s ({type(exc).__name__})",
            retryable=True,
            channel=settings.name,
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return DeliveryError(f"{where}: {exc}", retryable=False, channel=settings.name)
    reason = str(exc) or type(exc).__name__
    return DeliveryError(f"{where}: {reason}", retryable=True, channel=settings.name)


def _verify(settings: WebhookChannel) -> ssl.SSLContext | bool:
    if settings.ca_file is None:
        return settings.verify
    context = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


RESPONSE_MAX_BYTES = 64 * 1024  # a receiver's answer is only shown as an excerpt


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], read_timeout: float
) -> tuple[httpx.Response, bytes]:
    async with client.stream(
        "POST", url, content=body, headers=headers, timeout=read_timeout, follow_redirects=False
    ) as response:
        return response, await read_body(response, RESPONSE_MAX_BYTES, truncate=True)


async def send_webhook(
    settings: WebhookChannel, message: Message, /, *, http_client: httpx.AsyncClient | None = None
) -> DeliveryResult:
    """POST the message's payload; 2xx is delivered, anything else a DeliveryError (retryable or not).

    A shared `http_client` is used unless the channel has its own TLS settings (`verify: false`, `ca_file`),
    which an httpx client fixes at creation; then a client is made for this delivery.
    """
    body = encode_payload(message.payload)
    headers = request_headers(settings, message, body)
    timeout = settings.timeout.total_seconds()
    client = http_client
    own = client is None or settings.ca_file is not None or not settings.verify
    started = time.monotonic()
    try:
        # The whole exchange, not each read, must end within the timeout: a receiver dripping its answer
        # a byte at a time must not hold the channel; only the first RESPONSE_MAX_BYTES are read.
        async with asyncio.timeout(timeout):
            if own:
                async with httpx.AsyncClient(verify=_verify(settings), timeout=timeout) as own_client:
                    response, content = await _post(own_client, settings.url, body, headers, timeout)
            else:
                assert client is not None
                response, content = await _post(client, settings.url, body, headers, timeout)
    except TimeoutError as exc:
        raise DeliveryError(
            f"{_where(settings.url)} timed out after {timeout:g}s (the whole request)",
            retryable=True,
            channel=settings.name,
        ) from exc
    except httpx.HTTPError as exc:
        raise _transport_error(settings, exc) from exc
    except ssl.SSLError as exc:
        raise DeliveryError(f"{_where(settings.url)}: {exc}", retryable=False, channel=settings.name) from exc
    except UnsupportedEncoding as exc:
        raise DeliveryError(f"{_where(settings.url)}: {exc}", retryable=True, channel=settings.name) from exc
    if not response.is_success:
        raise _status_error(settings, response, content)
    return DeliveryResult(
        channel=settings.name,
        delivery_id=message.delivery_id,
        detail=f"HTTP {response.status_code} {response.reason_phrase}".rstrip(),
        status=response.status_code,
        elapsed=time.monotonic() - started,
    )
