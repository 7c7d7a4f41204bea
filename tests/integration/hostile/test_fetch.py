"""Hostile servers against the fetcher: SSRF in every spelling, bombs, huge robots.txt, dripping bodies."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard

from monitor.fetch import Fetcher, FetchLimits
from monitor.models import FetchResponse
from monitor.netpolicy import BlockedAddress, FetchPolicy, GuardedBackend, guard_connections, parse_address
from tests.fixtures.cli import run_cli, write_config
from tests.fixtures.hostile import RawServer, drip
from tests.fixtures.pages import mt_listing
from tests.fixtures.server import LoopbackServer, Route

SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "[::1]",
    "2130706433",
    "0x7f000001",
    "127.1",
    "0.0.0.0",
    "user:pass@127.0.0.1",
    "0177.0.0.1",
    "[::ffff:127.0.0.1]",
]


def fetch(url: str, max_bytes: int = 1_000_000, **kwargs: Any) -> FetchResponse:
    async def run() -> FetchResponse:
        async with Fetcher(FetchLimits(user_agent="test", max_bytes=max_bytes)) as fetcher:
            return await fetcher.fetch(url, **kwargs)

    return asyncio.run(run())


@pytest.fixture
def internal() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        server.routes["/secret"] = Route(body=b"internal secret", content_type="text/plain")
        yield server


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_discovered_link_to_another_local_port_is_blocked_in_every_spelling(
    spelling: str, internal: LoopbackServer, server: LoopbackServer
) -> None:
    port = internal.port
    response = fetch(f"http://{spelling}:{port}/secret", policy=FetchPolicy(server.url("/feed")))
    assert response.status is None and response.body is None
    assert response.error is not None and response.error.startswith("blocked: ")
    assert f":{port}" in response.error
    assert response.blocked
    assert internal.requests == []


def test_the_same_host_and_port_as_the_source_and_allow_private_are_fetched(internal: LoopbackServer) -> None:
    same = fetch(internal.url("/secret"), policy=FetchPolicy(internal.url("/feed")))
    assert same.status == 200 and same.body == b"internal secret"
    allowed = fetch(internal.url("/secret"), policy=FetchPolicy("http://example.org/", allow_private=True))
    assert allowed.status == 200


def test_a_redirect_to_another_local_port_is_blocked_before_any_request(
    internal: LoopbackServer, server: LoopbackServer
) -> None:
    server.routes["/feed"] = Route(status=302, headers={"Location": internal.url("/secret")})
    response = fetch(server.url("/feed"), policy=FetchPolicy(server.url("/feed")))
    assert response.error == f"blocked: loopback address 127.0.0.1:{internal.port}"
    assert internal.requests == []


def test_robots_txt_of_a_blocked_origin_is_not_fetched_either(internal: LoopbackServer) -> None:
    response = fetch(internal.url("/secret"), policy=FetchPolicy("http://example.org/"), obey_robots=True)
    assert response.error is not None and response.error.startswith("blocked: ")
    assert internal.requests == []


def test_the_connection_itself_is_checked_so_a_rebound_name_cannot_reach_loopback() -> None:
    async def connect() -> None:
        token = guard_connections(True)
        try:
            await GuardedBackend().connect_tcp("localhost", 9, timeout=2)
        finally:
            token.var.reset(token)

    with pytest.raises(BlockedAddress, match="blocked: loopback address"):
        asyncio.run(connect())


def test_every_spelling_of_an_address_parses_to_it() -> None:
    for spelling in ("2130706433", "0x7f000001", "127.1", "0177.0.0.1", "127.0.0.1.", "[::ffff:127.0.0.1]"):
        address = parse_address(spelling)
        assert address is not None and (str(address) == "127.0.0.1" or address.ipv4_mapped), spelling
    assert parse_address("example.org") is None and parse_address("1.2.3.4.5") is None


def _bomb(encoding: str, size: int) -> bytes:
    data = bytes(size)
    if encoding == "br":
        return bytes(brotli.compress(data, quality=5))
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=6)
    if encoding == "deflate":
        return zlib.compress(data, 6)
    return bytes(zstandard.ZstdCompressor(level=3).compress(data))


@pytest.mark.parametrize("encoding", ["br", "gzip", "deflate", "zstd"])
def test_a_compression_bomb_stops_at_max_bytes(encoding: str, server: LoopbackServer) -> None:
    server.routes["/bomb"] = Route(body=_bomb(encoding, 32 << 20), headers={"Content-Encoding": encoding})
    response = fetch(server.url("/bomb"), max_bytes=1_000_000)
    assert response.error == "response larger than 1000000 bytes"


@pytest.mark.parametrize("encoding", ["br", "gzip", "deflate", "zstd"])
def test_a_compressed_body_under_the_limit_is_decoded(encoding: str, server: LoopbackServer) -> None:
    data = b"<rss>" + b"x" * 200_000 + b"</rss>"
    compressed = {
        "br": lambda: bytes(brotli.compress(data)),
        "gzip": lambda: gzip.compress(data),
        "deflate": lambda: zlib.compress(data),
        "zstd": lambda: bytes(zstandard.ZstdCompressor().compress(data)),
    }[encoding]()
    server.routes["/ok"] = Route(body=compressed, headers={"Content-Encoding": encoding})
    response = fetch(server.url("/ok"))
    assert response.status == 200 and response.body == data


def test_a_corrupt_or_unknown_encoding_is_one_line(server: LoopbackServer) -> None:
    server.routes["/bad"] = Route(body=b"not brotli at all", headers={"Content-Encoding": "br"})
    server.routes["/odd"] = Route(body=b"x", headers={"Content-Encoding": "snappy"})
    assert (fetch(server.url("/bad")).error or "").startswith("cannot decode response")
    assert fetch(server.url("/odd")).error == "cannot decode response: unsupported content-encoding 'snappy'"


def test_robots_txt_is_read_only_up_to_its_cap(server: LoopbackServer) -> None:
    rules = b"User-agent: *\nDisallow: /private\n"
    server.routes["/robots.txt"] = Route(
        body=brotli.compress(rules + b"#" * (64 << 20), quality=5),
        content_type="text/plain",
        headers={"Content-Encoding": "br"},
    )
    server.routes["/private"] = Route(body=b"no")
    response = fetch(server.url("/private"), obey_robots=True)
    assert response.error == f"blocked by robots.txt for {server.url('/private')}"
    assert server.requests_for("/private") == []


def test_a_dripping_body_obeys_the_total_timeout() -> None:
    with RawServer(lambda conn: drip(conn, every=0.5, count=120)) as raw:
        started = time.monotonic()
        response = fetch(raw.url("/feed"), read_timeout=2.0)
        elapsed = time.monotonic() - started
    assert response.error == "timed out after 2s"
    assert elapsed < 15  # generous: the drip alone would take 60 s


@pytest.mark.parametrize("encoding", ["br", "zstd"])
def test_a_one_gib_bomb_keeps_peak_memory_low(encoding: str) -> None:
    script = Path(__file__).with_name("bomb_rss.py")
    root = Path(__file__).parents[3]
    done = subprocess.run(
        [sys.executable, str(script), encoding],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=True,
    )
    _size, error, peak_mib = done.stdout.strip().split("\t")
    assert error == "response larger than 10000000 bytes"
    assert float(peak_mib) < 400  # the bomb decodes to 1,024 MiB


def _cli_json(args: list[str], config: Path, db_url: str) -> Any:
    done = run_cli([*args, "--format", "json"], config, db_url)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("spelling", ["127.0.0.1", "2130706433", "0177.0.0.1", "user:pass@127.0.0.1"])
def test_follow_links_and_listings_record_one_blocked_line_and_stop(
    spelling: str, internal: LoopbackServer, server: LoopbackServer, db_url: str, tmp_path: Path
) -> None:
    link = f"http://{spelling}:{internal.port}/secret"
    server.routes["/feed"] = Route(
        body=(
            '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            f"<item><title>Internal</title><link>{link}</link><description>d</description></item>"
            "</channel></rss>"
        ).encode()
    )
    stories = [
        (f"http://127.0.0.1:{internal.port}/2024/10/18/story-number-{i}-a8674{i}", f"Story {i}")
        for i in range(3)
    ]
    server.routes["/listing"] = Route(body=mt_listing(stories), content_type="text/html")
    config = write_config(
        tmp_path / "feeds.yaml",
        [
            {"name": "feed", "feed": server.url("/feed"), "follow_links": True, "robots": False},
            {"name": "listing", "page": server.url("/listing"), "robots": False},
        ],
    )
    _cli_json(["poll"], config, db_url)
    checked = _cli_json(["poll", "--articles"], config, db_url)
    assert checked and all(
        c["error"] == f"blocked: loopback address 127.0.0.1:{internal.port}" and c["next_check_at"] is None
        for c in checked
    ), checked
    assert internal.requests == []
    assert _cli_json(["poll", "--articles"], config, db_url) == [] or internal.requests == []
