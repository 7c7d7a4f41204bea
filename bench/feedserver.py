"""A lean asyncio HTTP/1.1 server for benchmarks: serves prebuilt bodies with ETags, in its own process."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
from multiprocessing.connection import Connection


class _Protocol(asyncio.Protocol):
    def __init__(self, routes: dict[bytes, tuple[bytes, bytes]]) -> None:
        self.routes = routes
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            path = lines[0].split(b" ")[1]
            inm = b""
            for line in lines[1:]:
                if line[:14].lower() == b"if-none-match:":
                    inm = line[14:].strip()
            self._respond(path, inm)

    def _respond(self, path: bytes, inm: bytes) -> None:
        assert self.transport is not None
        found = self.routes.get(path)
        if found is None:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return
        body, etag = found
        if inm == etag:
            self.transport.write(
                b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\nContent-Length: 0\r\n\r\n"
            )
            return
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\nETag: "
            + etag
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )


def _serve(bodies: dict[str, bytes], ready: Connection) -> None:
    routes = {
        path.encode(): (body, b'"' + hashlib.sha1(body).hexdigest()[:20].encode() + b'"')
        for path, body in bodies.items()
    }

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Protocol(routes), "127.0.0.1", 0, backlog=1024)
        ready.send(server.sockets[0].getsockname()[1])
        await asyncio.Future()

    asyncio.run(main())


class FeedServer:
    """Start with the bodies to serve by path; `base` is its http://127.0.0.1:PORT."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        parent, child = multiprocessing.get_context("spawn").Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(bodies, child), daemon=True
        )
        self._process.start()
        self.port: int = parent.recv()
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(5)
