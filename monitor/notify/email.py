"""Email channel: a multipart/alternative (text + HTML) message sent over SMTP with aiosmtplib."""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import TYPE_CHECKING, Any

import aiosmtplib

from monitor.encode import header_value
from monitor.notify.contract import DeliveryError, DeliveryResult, EmailChannel, Message

if TYPE_CHECKING:
    import httpx

_ATOM = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def message_id(delivery_id: str, sender: str) -> str:
    """A Message-ID derived from the delivery id, so a retried alert is the same message to mail clients."""
    local = delivery_id if _ATOM.match(delivery_id) else hashlib.sha256(delivery_id.encode()).hexdigest()[:32]
    domain = parseaddr(sender)[1].rpartition("@")[2].strip().lower()
    if not re.match(r"^[a-z0-9.-]+$", domain):
        domain = "news-monitor.invalid"
    return f"<news-monitor.{local}@{domain}>"


def build_email(settings: EmailChannel, message: Message) -> EmailMessage:
    """The email for a rendered message: text and HTML alternatives, threading-stable Message-ID."""
    email = EmailMessage()
    email["Subject"] = header_value(message.subject)  # one line, no control characters from a feed
    email["From"] = settings.from_
    email["To"] = ", ".join(settings.to)
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = message_id(message.delivery_id, settings.from_)
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to alerts
    email["X-Monitor-Delivery"] = message.delivery_id
    email["X-Monitor-Event"] = message.event
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _classify(exc: Exception, settings: EmailChannel) -> DeliveryError:
    """SMTP 4xx, timeouts and lost connections are worth retrying; 5xx and TLS/config problems are not."""
    where = f"{settings.host}:{settings.smtp_port}"
    if cert := _cause(exc, ssl.SSLCertVerificationError):
        return DeliveryError(
            f"TLS certificate of {where} not trusted: {cert} (set ca_file, or verify: false)",
            retryable=False,
            channel=settings.name,
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(
            f"{where} refused every recipient: {detail}",
            retryable=any(400 <= c < 500 for c in codes),
            status=codes[0] if codes else None,
            channel=settings.name,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code < 0:
        # Not SMTP at all: aiosmtplib reports a reply over 32 KiB or without a code this way.
        return DeliveryError(
            f"{where}: the server's answer is not SMTP: {exc.message}", retryable=True, channel=settings.name
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # A 4xx reply is temporary by definition; 5xx (bad credentials, rejected sender) needs a human.
        kind = (
            "authentication failed" if isinstance(exc, aiosmtplib.SMTPAuthenticationError) else "SMTP error"
        )
        return DeliveryError(
            f"{where}: {kind}: {exc.code} {exc.message}",
            retryable=400 <= exc.code < 500 or exc.code < 0,
            status=exc.code,
            channel=settings.name,
        )
    if isinstance(exc, aiosmtplib.SMTPNotSupported) or (
        type(exc) is aiosmtplib.SMTPException and "not supported" in str(exc)
    ):
        # The server lacks STARTTLS or AUTH that the channel asks for: a configuration problem.
        return DeliveryError(f"{where}: {exc}", retryable=False, channel=settings.name)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return DeliveryError(f"{where}: timed out: {exc}", retryable=True, channel=settings.name)
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return DeliveryError(f"{where}: {exc}", retryable=True, channel=settings.name)
    return DeliveryError(f"{where}: {type(exc).__name__}: {exc}", retryable=True, channel=settings.name)


async def _closed(sock: Any, wait: float = 2.0) -> None:
    """Let the connection finish closing: a TLS close needs a round trip with the server, and a caller
    that stops its event loop right away would otherwise leave the socket behind."""
    if sock is None:
        return
    step = 0.005
    for _ in range(int(wait / step)):
        if sock.fileno() == -1:
            return
        await asyncio.sleep(step)


async def send_email(
    settings: EmailChannel, message: Message, /, *, http_client: httpx.AsyncClient | None = None
) -> DeliveryResult:
    """Send a rendered message to every recipient; DeliveryError when the server does not take it.

    (A sender of monitor/notify/contract.py: `http_client` is not used, SMTP has its own connection.)
    """
    email = build_email(settings, message)
    started = time.monotonic()
    smtp = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.smtp_port,
        use_tls=settings.security == "tls",
        start_tls=settings.security == "starttls",
        validate_certs=settings.verify,
        cert_bundle=settings.ca_file,
        timeout=settings.timeout.total_seconds(),
    )
    sock: Any = None
    total = settings.timeout.total_seconds()
    try:
        # The timeout bounds the whole exchange, not each read: a server dripping its answers (each line in
        # time) is cut off there. aiosmtplib itself caps one reply at 32 KiB ("Response too long").
        async with asyncio.timeout(total), smtp:
            sock = smtp.transport.get_extra_info("socket") if smtp.transport is not None else None
            if settings.username is not None and settings.password is not None:
                await smtp.login(settings.username, settings.password.get_secret_value())
            refused, reply = await smtp.send_message(
                email,
                sender=parseaddr(settings.from_)[1],
                recipients=[parseaddr(to)[1] for to in settings.to],
            )
    except TimeoutError as exc:
        where = f"{settings.host}:{settings.smtp_port}"
        raise DeliveryError(
            f"{where}: timed out after {total:g}s (the whole exchange)", retryable=True, channel=settings.name
        ) from exc
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise _classify(exc, settings) from exc
    finally:
        await _closed(sock)
    detail = reply.strip()
    if refused:
        # Some recipients took it: retrying would mail them twice, so report the rest and succeed.
        detail += "; refused: " + "; ".join(f"{addr}: {r.code} {r.message}" for addr, r in refused.items())
    return DeliveryResult(
        channel=settings.name,
        delivery_id=message.delivery_id,
        detail=detail,
        status=250,
        elapsed=time.monotonic() - started,
    )
