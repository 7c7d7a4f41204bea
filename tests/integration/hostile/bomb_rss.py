"""Run in a subprocess: fetch a 1 GiB compression bomb with max_bytes 10MB, print the error and peak RSS."""

from __future__ import annotations

import asyncio
import resource
import sys
from pathlib import Path

import brotli
import zstandard

from monitor.fetch import Fetcher, FetchLimits
from tests.fixtures.server import LoopbackServer, Route


def peak_rss_mib() -> float:
    """This process's own peak RSS (VmHWM): ru_maxrss would carry over a big parent's peak across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bomb(encoding: str, mib: int) -> bytes:
    block = bytes(4 << 20)
    if encoding == "br":
        compressor = brotli.Compressor(quality=1)
        parts = [compressor.process(block) for _ in range(mib // 4)]
        return b"".join(parts) + compressor.finish()
    writer = zstandard.ZstdCompressor(level=1).compressobj()
    return b"".join(writer.compress(block) for _ in range(mib // 4)) + writer.flush()


async def main(encoding: str) -> None:
    body = bomb(encoding, 1024)
    with LoopbackServer() as server:
        server.routes["/bomb"] = Route(body=body, headers={"Content-Encoding": encoding})
        async with Fetcher(FetchLimits(user_agent="test", max_bytes=10_000_000)) as fetcher:
            response = await fetcher.fetch(server.url("/bomb"))
    peak_mib = peak_rss_mib()
    print(f"{len(body)}\t{response.error}\t{peak_mib:.0f}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
