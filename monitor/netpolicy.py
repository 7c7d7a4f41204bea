"""Where the fetcher may connect: discovered links never reach private addresses (SSRF), in any spelling.

The operator's own source URLs are trusted as written. Links the project discovers (entry links, listing
links, redirects) may reach loopback, private, link-local, multicast or reserved addresses only when they
point at the same host and port as their configured source, or the source says `allow_private: true`.
The check runs twice: before a request (every spelling of a literal address, every address the name
resolves to) and again on the address a new connection actually goes to (`GuardedBackend`), so a name
that resolves to a public address first and a private one next (DNS rebinding) is still refused.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import re
import select
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Digits, hex and dots only: the forms inet_aton reads (2130706433, 0x7f000001, 127.1, 0177.0.0.1).
_INET_ATON_FORM = re.compile(r"^(0[xX][0-9a-fA-F]+|[0-9]+)(\.(0[xX][0-9a-fA-F]+|[0-9]+)){0,3}$")


class BlockedAddress(Exception):
    """A discovered link points at an address the policy forbids; the message is the one line to show."""


def parse_address(host: str) -> Address | None:
    """The address a host names when it is an IP literal in any spelling the resolver accepts, else None."""
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.split("%", 1)[0]  # an IPv6 zone id
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _INET_ATON_FORM.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_restricted(address: Address) -> bool:
    """Loopback, private, link-local, multicast, reserved, unspecified or otherwise not global."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_restricted(embedded)
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _show(address: Address, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def _port(parts: Any) -> int:
    try:
        port = parts.port
    except ValueError:
        port = None
    return port if port is not None else (443 if parts.scheme == "https" else 80)


def host_port(url: str) -> tuple[str, int]:
    """The normalised host (an address in its canonical form when it is one) and port of a URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    address = parse_address(host)
    return (str(address) if address is not None else host.rstrip(".").lower()), _port(parts)


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """What one fetch may reach: the configured source's own host and port, and private only if allowed."""

    source_url: str
    allow_private: bool = False

    def trusts(self, url: str) -> bool:
        """Whether this URL may reach a restricted address: same host and port as the source, or allowed."""
        return self.allow_private or host_port(url) == host_port(self.source_url)


_GUARD: contextvars.ContextVar[bool] = contextvars.ContextVar("monitor_fetch_guard", default=False)


def guard_connections(on: bool) -> contextvars.Token[bool]:
    """Make connections opened by this task refuse restricted addresses (or allow them again)."""
    return _GUARD.set(on)


def reset_guard(token: contextvars.Token[bool]) -> None:
    _GUARD.reset(token)


async def resolve(host: str, port: int) -> list[Address]:
    """Every address a host name (or literal) resolves to; [] when it does not resolve."""
    literal = parse_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found: list[Address] = []
    for info in infos:
        try:
            found.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    return found


def refuse(addresses: Iterable[Address], port: int) -> None:
    """Raise BlockedAddress naming the first restricted address."""
    for address in addresses:
        if is_restricted(address):
            kind = "loopback" if address.is_loopback else "private"
            raise BlockedAddress(f"blocked: {kind} address {_show(address, port)}")


async def check_url(url: str, policy: FetchPolicy | None) -> bool:
    """Raise BlockedAddress if the URL may not be fetched; return whether its connections must be guarded."""
    if policy is None or policy.trusts(url):
        return False
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = _port(parts)
    refuse(await resolve(host, port), port)
    return True


class SocketStream(httpcore.AsyncNetworkStream):
    """A connection's stream that answers "is_readable" from its socket, found once.

    httpcore asks it of every idle connection each time a request starts or a response closes (is the
    keep-alive connection still open?); anyio built a dict of every socket attribute to answer, per call.
    Everything else is the wrapped stream's.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        return SocketStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


def _readable(sock: socket.socket) -> bool:
    """httpcore's is_socket_readable: data (or the peer's close) waiting; a closed socket counts as readable."""
    fd = sock.fileno()
    if fd < 0:
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves once and connects to the checked address itself."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if not _GUARD.get():
            return SocketStream(
                await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
            )
        addresses = await resolve(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve host {host}")
        refuse(addresses, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return SocketStream(
                    await self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
