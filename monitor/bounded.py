"""Read an HTTP body without trusting it: decompressed bytes are counted as they are produced.

httpx decodes each network chunk whole before a caller sees it, so 1.6 KB of brotli became 2.2 GB
before a size check could run. Here the raw bytes are decoded with output-bounded decompressors
(brotli's `output_buffer_limit`, zlib's `max_length`, zstd fed in small slices), and reading stops the
moment the decoded size passes the limit.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

import brotli
import httpx
import zstandard

_STEP = 64 * 1024  # decoded bytes produced per decompressor call
_ZSTD_SLICE = 64  # compressed bytes fed to zstd per call: its blocks decode to at most 128 KiB each


class TooLarge(Exception):
    """The body (after decoding) is larger than allowed."""


class UnsupportedEncoding(Exception):
    """A Content-Encoding this reader does not decode."""


class _Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def flush(self) -> Iterator[bytes]: ...


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Zlib:
    def __init__(self, wbits: int, *, deflate: bool = False) -> None:
        self._wbits = wbits
        self._deflate = deflate  # "deflate" is zlib-wrapped by the RFC, raw by many servers
        self._first = True
        self._z = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._first and data:
            self._first = False
            if self._deflate:
                try:
                    zlib.decompressobj(self._wbits).decompress(data[:2], 0)
                except zlib.error:
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        while data and not self._z.eof:
            out = self._z.decompress(data, _STEP)
            data = self._z.unconsumed_tail
            if out:
                yield out

    def flush(self) -> Iterator[bytes]:
        while not self._z.eof:
            out = self._z.decompress(b"", _STEP)
            if not out:
                break
            yield out


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._d.is_finished():
            return
        out = self._d.process(data, output_buffer_limit=_STEP)
        while out:
            yield out
            if self._d.is_finished():
                return
            out = self._d.process(b"", output_buffer_limit=_STEP)

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Zstd:
    def __init__(self) -> None:
        self._d = zstandard.ZstdDecompressor().decompressobj()

    def feed(self, data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), _ZSTD_SLICE):
            out = self._d.decompress(data[start : start + _ZSTD_SLICE])
            if out:
                yield out

    def flush(self) -> Iterator[bytes]:
        return iter(())


def _decoder(encoding: str) -> _Decoder:
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip"):
        return _Zlib(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return _Zlib(zlib.MAX_WBITS, deflate=True)
    if encoding == "br":
        return _Brotli()
    if encoding == "zstd":
        return _Zstd()
    raise UnsupportedEncoding(f"unsupported content-encoding {encoding[:40]!r}")


class _Chain:
    """Content-Encoding lists the codings in the order applied; decode in reverse."""

    def __init__(self, header: str) -> None:
        names = [part.strip().lower() for part in header.split(",") if part.strip()]
        if len(names) > 3:
            raise UnsupportedEncoding("too many content-encodings")
        self._decoders = [_decoder(name) for name in reversed(names)] or [_Identity()]

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._run(0, data)

    def _run(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._decoders):
            if data:
                yield data
            return
        for out in self._decoders[index].feed(data):
            yield from self._run(index + 1, out)

    def flush(self) -> Iterator[bytes]:
        for index, decoder in enumerate(self._decoders):
            for out in decoder.flush():
                yield from self._run(index + 1, out)


def _decoding_errors() -> tuple[type[Exception], ...]:
    return (zlib.error, brotli.error, zstandard.ZstdError)


async def read_body(response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
    """The decoded body of a streamed response, at most `limit` bytes: TooLarge (or cut when `truncate`).

    Raises httpx.DecodingError for a corrupt body and UnsupportedEncoding for an unknown coding.
    """
    declared = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "")
    if not truncate and declared.isdigit() and not encoding and int(declared) > limit:
        raise TooLarge
    chain = _Chain(encoding)
    chunks: list[bytes] = []
    size = 0

    async def decoded() -> AsyncIterator[bytes]:
        async for raw in response.aiter_raw():
            for out in chain.feed(raw):
                yield out
        for out in chain.flush():
            yield out

    try:
        async for out in decoded():
            size += len(out)
            if size > limit:
                if truncate:
                    chunks.append(out[: len(out) - (size - limit)])
                    return b"".join(chunks)
                raise TooLarge
            chunks.append(out)
    except _decoding_errors() as exc:
        raise httpx.DecodingError(f"corrupt {encoding} body: {exc}") from None
    return b"".join(chunks)
