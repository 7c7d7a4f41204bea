"""Property: any bytes through the feed parser give drafts or a clear ParseError, never anything else.

Random bytes, and real feeds (../shared/corpora/real-feeds) truncated anywhere and mutated by flipping,
inserting and deleting bytes.
"""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.feeds import parse_feed_drafts
from monitor.errors import ParseError

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpora" / "real-feeds"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpora/real-feeds")


@cache
def real_feeds() -> tuple[bytes, ...]:
    # The 40 smallest keep each example fast; they still span RSS, Atom, encodings and odd markup.
    paths = sorted(CORPUS.glob("*.xml.gz"), key=lambda p: p.stat().st_size)[:40]
    return tuple(gzip.decompress(p.read_bytes()) for p in paths)


def parses_or_refuses(body: bytes) -> None:
    try:
        feed, drafts = parse_feed_drafts(
            body, {"content-type": "application/xml"}, "https://example.org/feed"
        )
    except ParseError as exc:
        assert str(exc)  # a clear message
        return
    for draft in drafts:
        assert draft.key and isinstance(draft.title, str) and len(draft.key.encode()) <= 1000
    assert feed.ttl_seconds is None or 0 <= feed.ttl_seconds <= 7 * 24 * 3600


QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@QUICK
@given(st.binary(max_size=4096))
def test_random_bytes(body: bytes) -> None:
    parses_or_refuses(body)


@QUICK
@given(
    st.text(
        alphabet=st.sampled_from(list("<>/&;\"'= ?!-[]abcrsstitemtlfeedentry\x00\x01\x1b\n")), max_size=600
    )
)
def test_random_markup(text: str) -> None:
    parses_or_refuses(("<?xml version='1.0'?><rss><channel>" + text).encode("utf-8", "surrogatepass"))


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the real-feeds corpus is not here")
@QUICK
@given(st.data())
def test_truncated_and_mutated_real_feeds(data: st.DataObject) -> None:
    feeds = real_feeds()
    body = bytearray(feeds[data.draw(st.integers(0, len(feeds) - 1), label="feed")])
    cut = data.draw(st.integers(0, len(body)), label="cut")
    body = body[:cut] if data.draw(st.booleans(), label="truncate") else body
    for _ in range(data.draw(st.integers(0, 8), label="mutations")):
        if not body:
            break
        at = data.draw(st.integers(0, len(body) - 1))
        kind = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if kind == "flip":
            body[at] ^= data.draw(st.integers(1, 255))
        elif kind == "insert":
            body[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            del body[at : at + data.draw(st.integers(1, 64))]
    parses_or_refuses(bytes(body))


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the real-feeds corpus is not here")
def test_every_real_feed_parses() -> None:
    for body in real_feeds():
        parses_or_refuses(body)
