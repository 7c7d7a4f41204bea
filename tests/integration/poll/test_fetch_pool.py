"""The fetcher's connection pool sweeps its connections in linear time and decides as httpcore's does; its
streams say whether an idle connection was closed as anyio's do."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpcore
import pytest

from monitor.core.normalize import sha256_hex
from monitor.fetch import Fetcher, FetchLimits, LinearPool, guarded_transport
from monitor.netpolicy import GuardedBackend, SocketStream
from tests.fixtures.server import LoopbackServer, Route


class FakeConnection:
    def __init__(self, name: str, state: str, origin: Any = "http://a") -> None:
        self.name, self.state, self.origin = name, state, origin

    def is_closed(self) -> bool:
        return self.state == "closed"

    def has_expired(self) -> bool:
        return self.state == "expired"

    def is_idle(self) -> bool:
        return self.state == "idle"

    def is_available(self) -> bool:
        return self.state in {"idle", "available"}

    def can_handle_request(self, origin: Any) -> bool:
        return bool(self.origin == origin)


class FakeRequest:
    def __init__(self, name: str, origin: str) -> None:
        self.name, self.assigned = name, None
        self.request = type("R", (), {"url": type("U", (), {"origin": origin})()})()

    def is_queued(self) -> bool:
        return self.assigned is None

    def assign_to_connection(self, connection: FakeConnection) -> None:
        self.assigned = connection.name  # type: ignore[assignment]


def sweep(
    cls: type[httpcore.AsyncConnectionPool],
    states: list[tuple[str, str]],
    queued: list[str],
    limit: int,
    keep: int,
) -> Any:
    pool = cls(max_connections=limit, max_keepalive_connections=keep)
    made = itertools.count()
    pool.create_connection = lambda origin: FakeConnection(f"new{next(made)}", "busy", origin)  # type: ignore[method-assign,assignment,return-value]
    pool._connections = [FakeConnection(f"c{i}", state, origin) for i, (state, origin) in enumerate(states)]  # type: ignore[misc]
    requests = [FakeRequest(f"r{i}", origin) for i, origin in enumerate(queued)]
    pool._requests = requests  # type: ignore[assignment]
    closing = pool._assign_requests_to_connections()
    return (
        [c.name for c in pool._connections],  # type: ignore[attr-defined]
        [c.name for c in closing],  # type: ignore[attr-defined]
        [r.assigned for r in requests],
    )


STATES = ["closed", "expired", "idle", "available", "busy"]


@pytest.mark.parametrize("limit,keep", [(3, 3), (3, 1), (5, 2), (6, 6), (2, 0)])
def test_the_linear_sweep_decides_as_httpcores(limit: int, keep: int) -> None:
    origins = ["http://a", "http://b"]
    cases = 0
    for n in range(5):
        for states in itertools.product(STATES, repeat=n):
            conns = [(s, origins[i % 2]) for i, s in enumerate(states)]
            for queued in ([], ["http://a"], ["http://b", "http://a", "http://b"]):
                expected = sweep(httpcore.AsyncConnectionPool, conns, queued, limit, keep)
                assert sweep(LinearPool, conns, queued, limit, keep) == expected, (conns, queued)
                cases += 1
    assert cases > 2000


def test_the_fetcher_uses_it_and_many_requests_share_few_connections() -> None:
    limits = FetchLimits(user_agent="test", concurrency=3, per_host=3)
    assert type(guarded_transport(limits)._pool) is LinearPool

    async def run(base: str) -> list[int | None]:
        async with Fetcher(limits) as fetcher:
            responses = await asyncio.gather(*(fetcher.fetch(f"{base}/f{i % 4}") for i in range(24)))
            return [r.status for r in responses]

    with LoopbackServer() as server:
        for i in range(4):
            server.routes[f"/f{i}"] = Route(body=b"<rss/>" * 100, delay=0.01)
        assert asyncio.run(run(server.base)) == [200] * 24


def test_the_fetcher_hashes_a_200_body_as_sha256_hex_of_it() -> None:
    """The hash the poll uses (core.decide.body_hash) is worked out once, by the fetcher: the plain one."""

    async def run(base: str) -> list[tuple[bytes | None, str | None]]:
        async with Fetcher(FetchLimits(user_agent="test")) as fetcher:
            responses = [await fetcher.fetch(f"{base}/{path}") for path in ("feed", "gone")]
            return [(r.body, r.body_sha256) for r in responses]

    with LoopbackServer() as server:
        server.routes["/feed"] = Route(body=b"<rss>\xc3\xa9</rss>" * 50)
        server.routes["/gone"] = Route(status=410, body=b"gone")
        (body, digest), gone = asyncio.run(run(server.base))
    assert body is not None and digest == sha256_hex(body)
    assert gone == (None, None)


def test_a_connections_stream_answers_is_readable_as_anyio_does() -> None:
    async def run() -> list[tuple[bool, bool]]:
        peers: list[asyncio.StreamWriter] = []
        accepted = asyncio.Event()

        def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peers.append(writer)
            accepted.set()

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stream = await GuardedBackend().connect_tcp("127.0.0.1", port, timeout=5)
        assert isinstance(stream, SocketStream)
        inner = stream._inner
        seen = []

        def both() -> tuple[bool, bool]:
            return stream.get_extra_info("is_readable"), inner.get_extra_info("is_readable")

        await asyncio.wait_for(accepted.wait(), 5)
        seen.append(both())  # idle and open
        peers[0].write(b"x")
        await peers[0].drain()
        await asyncio.sleep(0.05)
        seen.append(both())  # data waiting
        assert await stream.read(10) == b"x"
        seen.append(both())  # read again
        peers[0].close()
        await asyncio.sleep(0.05)
        seen.append(both())  # the peer closed
        assert stream.get_extra_info("server_addr") == inner.get_extra_info("server_addr")
        await stream.aclose()
        server.close()
        return seen

    assert asyncio.run(run()) == [(False, False), (True, True), (False, False), (True, True)]
