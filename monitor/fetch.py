"""One httpx.AsyncClient for every request: limits, conditional GET, redirects, size cap, robots.txt."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from protego import Protego

from monitor.bounded import TooLarge, UnsupportedEncoding, read_body
from monitor.core.normalize import sha256_hex
from monitor.core.schedule import parse_retry_after
from monitor.models import FetchResponse
from monitor.netpolicy import (
    BlockedAddress,
    FetchPolicy,
    GuardedBackend,
    check_url,
    guard_connections,
    reset_guard,
)

MAX_REDIRECTS = 8
PERMANENT = frozenset({301, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
ROBOTS_TTL = 3600.0
ROBOTS_RETRY = 300.0  # an unreachable robots.txt is asked for again this soon
ROBOTS_MAX_BYTES = 512_000
_ROBOTS_CACHE_SIZE = 4096
MAX_SHARED_REST = 6 * 3600.0  # a Retry-After shared with the fleet is capped at six hours


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """How hard and how long the fetcher may pull."""

    user_agent: str
    timeout: float = 20.0
    connect_timeout: float = 10.0
    max_bytes: int = 10_000_000
    concurrency: int = 32
    per_host: int = 2


class HostGate(Protocol):
    """What a fleet shares about hosts: request slots in flight, Retry-After rests, robots.txt."""

    async def acquire(self, host: str) -> int:
        """Wait for one of the host's fleet-wide request slots; return its number."""
        ...

    async def release(self, host: str, slot: int) -> None: ...

    async def rest(self, origin: str, seconds: float) -> None:
        """The host asked to be left alone this long (429/503 with Retry-After)."""
        ...

    async def robots(self, origin: str) -> tuple[str | None, bool, float] | None:
        """(text, readable, seconds still fresh) of robots.txt as another process read it, if fresh."""
        ...

    async def save_robots(self, origin: str, text: str | None, ok: bool, ttl: float) -> None: ...


def host_key(url: str) -> str:
    """The host a per-host limit counts: host and port, as the URL gives them (lower case)."""
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2].lower()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(found) < 8:
        found.append(seen)
        seen = seen.__cause__ or seen.__context__
    return found


def _describe(exc: Exception, timeout: float, url: str) -> str:
    chain = _chain(exc)
    text = " | ".join(str(e) for e in chain)
    if "Name or service not known" in text or "name resolution" in text or "nodename nor servname" in text:
        return f"cannot resolve host {urlsplit(url).hostname}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in text:
        return f"connection refused by {urlsplit(url).netloc}"
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, httpx.ConnectError):
        reason = str(exc) or type(exc).__name__
        return f"connection failed: {reason}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error: {exc}"
    if isinstance(exc, httpx.DecodingError):
        return f"cannot decode response: {exc}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"invalid URL: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class LinearPool(httpcore.AsyncConnectionPool):
    """httpcore's connection pool with its sweep of the connections made linear, the same decisions.

    httpcore 1.0 sweeps every connection each time a request starts or a response closes, and for each idle
    one counts all the connections by building a list of them: with 50 connections that was 2,500 calls
    per sweep, a quarter of the event loop's CPU. Here the count is `len`; the rest is upstream's code.
    """

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing_connections: list[httpcore.AsyncConnectionInterface] = []
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif connection.has_expired() or (
                connection.is_idle() and len(self._connections) > self._max_keepalive_connections
            ):
                self._connections.remove(connection)
                closing_connections.append(connection)
        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            available = [c for c in self._connections if c.can_handle_request(origin) and c.is_available()]
            if available:
                pool_request.assign_to_connection(available[0])
                continue
            if len(self._connections) >= self._max_connections:
                idle = next((c for c in self._connections if c.is_idle()), None)
                if idle is None:
                    continue
                self._connections.remove(idle)
                closing_connections.append(idle)
            connection = self.create_connection(origin)
            self._connections.append(connection)
            pool_request.assign_to_connection(connection)
        return closing_connections


def guarded_transport(limits: FetchLimits) -> httpx.AsyncHTTPTransport:
    """httpx's transport whose new connections go through GuardedBackend (the address actually used), its
    pool a LinearPool when httpcore is the 1.0 it was written against."""
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=limits.concurrency, max_keepalive_connections=limits.concurrency),
        http2=False,
    )
    pool = transport._pool
    if not isinstance(pool, httpcore.AsyncConnectionPool):  # pragma: no cover - httpx changed
        raise RuntimeError("httpx's transport has no connection pool to guard")
    pool._network_backend = GuardedBackend(pool._network_backend)
    if type(pool) is httpcore.AsyncConnectionPool and httpcore.__version__.startswith("1.0."):
        pool.__class__ = LinearPool
    return transport


class Fetcher:
    """Polite concurrent GETs. Never raises for network trouble: errors come back in FetchResponse."""

    def __init__(
        self,
        limits: FetchLimits,
        transport: httpx.AsyncBaseTransport | None = None,
        gate: HostGate | None = None,
    ) -> None:
        self.limits = limits
        self.gate = gate
        self._client = httpx.AsyncClient(
            transport=transport if transport is not None else guarded_transport(limits),
            headers={"User-Agent": limits.user_agent, "Accept-Encoding": "gzip, deflate, br"},
            timeout=httpx.Timeout(limits.timeout, connect=min(limits.connect_timeout, limits.timeout)),
            limits=httpx.Limits(
                max_connections=limits.concurrency, max_keepalive_connections=limits.concurrency
            ),
            follow_redirects=False,
            http2=False,
        )
        self._global = asyncio.Semaphore(limits.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._robots: OrderedDict[str, tuple[float, Protego | None]] = (
            OrderedDict()
        )  # origin -> (expires, rules)
        self._robots_locks: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def _host_semaphore(self, host: str) -> asyncio.Semaphore:
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = asyncio.Semaphore(self.limits.per_host)
        return slot

    @contextlib.asynccontextmanager
    async def _host_slot(self, url: str) -> AsyncIterator[None]:
        """A request slot at the URL's host: this process's, then (with a gate) the fleet's."""
        host = host_key(url)
        async with self._host_semaphore(host):
            if self.gate is None:
                yield
                return
            slot = await self.gate.acquire(host)
            try:
                yield
            finally:
                await asyncio.shield(self.gate.release(host, slot))

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        obey_robots: bool = False,
        read_timeout: float | None = None,
        accept: str = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8",
        policy: FetchPolicy | None = None,
    ) -> FetchResponse:
        """GET a URL with conditional headers, following redirects hop by hop within host limits.

        With a policy, every hop is checked before it is requested and its new connections go only to
        addresses the policy allows. The whole request (connect, headers, body, redirects) must finish
        within the timeout, besides the per-read timeout.
        """
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        total = read_timeout if read_timeout is not None else self.limits.timeout
        current = url
        all_permanent = True
        deadline: float | None = None
        blocked = False
        try:
            for _ in range(MAX_REDIRECTS + 1):
                guarded = await check_url(current, policy)
                if obey_robots and not await self.allowed(current, policy):
                    return FetchResponse(
                        url=url,
                        final_url=current,
                        status=None,
                        error=f"blocked by robots.txt for {current}",
                        duration_ms=(time.perf_counter() - started) * 1000,
                        started_at=started_at,
                    )
                async with self._global, self._host_slot(current):
                    if deadline is None:
                        deadline = asyncio.get_running_loop().time() + total
                    token = guard_connections(guarded)
                    try:
                        async with asyncio.timeout_at(deadline):
                            response, body = await self._get(current, headers, read_timeout)
                    finally:
                        reset_guard(token)
                if response.status_code in (429, 503) and self.gate is not None:
                    await self._share_rest(current, response.headers.get("retry-after"))
                if response.status_code in REDIRECTS and "location" in response.headers:
                    all_permanent = all_permanent and response.status_code in PERMANENT
                    current = urljoin(current, response.headers["location"])
                    continue
                return FetchResponse(
                    url=url,
                    final_url=current,
                    status=response.status_code,
                    body=body if response.status_code == 200 else None,
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                    cache_control=response.headers.get("cache-control"),
                    retry_after=response.headers.get("retry-after"),
                    content_type=response.headers.get("content-type"),
                    permanent_redirect=current if current != url and all_permanent else None,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    size=len(body),
                    started_at=started_at,
                    body_sha256=sha256_hex(body) if response.status_code == 200 else None,
                )
            error = f"more than {MAX_REDIRECTS} redirects"
        except BlockedAddress as exc:
            error, blocked = str(exc), True
        except TooLarge:
            error = f"response larger than {self.limits.max_bytes} bytes"
        except UnsupportedEncoding as exc:
            error = f"cannot decode response: {exc}"
        except TimeoutError:
            error = f"timed out after {total:g}s"
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
            error = _describe(exc, total, current)
        return FetchResponse(
            url=url,
            final_url=current,
            status=None,
            error=error,
            duration_ms=(time.perf_counter() - started) * 1000,
            started_at=started_at,
            blocked=blocked,
        )

    async def _get(
        self, url: str, headers: dict[str, str], read_timeout: float | None
    ) -> tuple[httpx.Response, bytes]:
        options: dict[str, Any] = {}
        if read_timeout is not None:
            options["timeout"] = httpx.Timeout(
                read_timeout, connect=min(self.limits.connect_timeout, read_timeout)
            )
        async with self._client.stream("GET", url, headers=headers, **options) as response:
            if response.status_code in REDIRECTS or response.status_code != 200:
                return response, b""
            return response, await read_body(response, self.limits.max_bytes)

    async def _share_rest(self, url: str, retry_after: str | None) -> None:
        assert self.gate is not None
        rest = parse_retry_after(retry_after, datetime.now(UTC))
        if rest is not None and rest.total_seconds() > 0:
            await self.gate.rest(_origin(url), min(rest.total_seconds(), MAX_SHARED_REST))

    async def allowed(self, url: str, policy: FetchPolicy | None = None) -> bool:
        """Whether robots.txt lets our user agent fetch this URL (RFC 9309; cached per origin)."""
        origin = _origin(url)
        cached = self._robots.get(origin)
        now = time.monotonic()
        if cached is None or now > cached[0]:
            lock = self._robots_locks.setdefault(origin, asyncio.Lock())
            async with lock:
                cached = self._robots.get(origin)
                if cached is None or now > cached[0]:
                    cached = await self._fleet_robots(origin, now, policy)
                    self._robots[origin] = cached
                    self._robots.move_to_end(origin)
                    while len(self._robots) > _ROBOTS_CACHE_SIZE:
                        self._robots.popitem(last=False)
        rules = cached[1]
        if rules is None:
            return False
        return bool(rules.can_fetch(url, self.limits.user_agent))

    async def _fleet_robots(
        self, origin: str, now: float, policy: FetchPolicy | None
    ) -> tuple[float, Protego | None]:
        """robots.txt as another process of the fleet read it, else read here (and shared)."""
        if self.gate is not None:
            shared = await self.gate.robots(origin)
            if shared is not None:
                text, ok, fresh_for = shared
                return now + fresh_for, Protego.parse(text or "") if ok else None
        rules, text = await self._load_robots(origin, policy)
        ttl = ROBOTS_TTL if rules is not None else ROBOTS_RETRY
        if self.gate is not None:
            await self.gate.save_robots(origin, text, rules is not None, ttl)
        return now + ttl, rules

    async def _load_robots(
        self, origin: str, policy: FetchPolicy | None
    ) -> tuple[Protego | None, str | None]:
        """The parsed rules and text; allow-all for a missing file (4xx); None when unreachable (5xx).

        Only the first ROBOTS_MAX_BYTES are read (RFC 9309 asks for at least 500 KiB), within the timeout.
        """
        target = f"{origin}/robots.txt"
        status = 0
        body = b""
        try:
            async with asyncio.timeout(self.limits.timeout):
                for _ in range(5):
                    guarded = await check_url(target, policy)
                    async with self._global, self._host_slot(target):
                        token = guard_connections(guarded)
                        try:
                            async with self._client.stream(
                                "GET", target, headers={"Accept": "text/plain"}
                            ) as response:
                                status = response.status_code
                                location = response.headers.get("location")
                                if status == 200:
                                    body = await read_body(response, ROBOTS_MAX_BYTES, truncate=True)
                        finally:
                            reset_guard(token)
                    if status in REDIRECTS and location:
                        target = urljoin(target, location)
                        continue
                    break
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError, TimeoutError):
            return None, None
        except (BlockedAddress, UnsupportedEncoding):
            return None, None
        if 400 <= status < 500:
            return Protego.parse(""), ""
        if status != 200:
            return None, None
        text = body.decode("utf-8", errors="replace")
        return Protego.parse(text), text
