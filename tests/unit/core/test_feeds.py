"""Feed parsing: golden files of real-shaped feeds, identities, text normalisation, malformed input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from monitor.cli.output import plain
from monitor.core.feed_fields import html_to_text
from monitor.core.feeds import entry_drafts, entry_key, parse_feed, parse_feed_drafts
from monitor.errors import ParseError
from tests.fixtures.feeds import MT_BASE, Item, mt_news_feed, mt_rss, other_outlet_atom
from tests.fixtures.seeds import MT_PATH, mt_seed, other_seed

GOLDEN = Path(__file__).parents[2] / "golden" / "feeds"


@pytest.mark.parametrize(
    ("name", "make", "base"),
    [
        ("moscow-times-news.xml", lambda: mt_news_feed(extra=3), "https://www.themoscowtimes.com/rss/news"),
        ("kyiv-post.atom", other_outlet_atom, "https://www.kyivpost.example/feed.atom"),
    ],
)
def test_golden_feeds(name: str, make: object, base: str) -> None:
    feed_file = GOLDEN / name
    expected_file = GOLDEN / (name + ".json")
    if os.environ.get("UPDATE_GOLDEN"):
        feed_file.write_bytes(make())  # type: ignore[operator]
    parsed = parse_feed(feed_file.read_bytes(), {"Content-Type": "application/xml"}, base)
    got = plain({"feed": parsed, "drafts": entry_drafts(parsed)})
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == json.loads(expected_file.read_text(encoding="utf-8"))


def test_moscow_times_item_fields() -> None:
    feed = parse_feed(mt_news_feed(extra=2), {}, "https://www.themoscowtimes.com/rss/news")
    assert feed.title == "The Moscow Times - Independent News From Russia"
    assert feed.ttl_seconds == 600
    assert feed.problem is None
    first = feed.entries[0]
    assert first.title == mt_seed().title
    assert first.guid == first.url == MT_BASE + MT_PATH
    assert first.summary == mt_seed().excerpt  # padding newlines and tabs are gone
    assert first.published is not None and first.published.isoformat() == "2024-10-18T09:12:00+00:00"


def test_atom_full_content_becomes_body_paragraphs() -> None:
    feed = parse_feed(other_outlet_atom(), {}, "https://www.kyivpost.example/feed.atom")
    entry = feed.entries[0]
    assert entry.content is not None
    assert entry.content.split("\n\n") == list(other_seed().paragraphs)
    assert entry.author == "Staff"
    (draft,) = entry_drafts(feed)
    assert draft.key == "tag:kyivpost.example,2024:post-40291"
    assert draft.body == entry.content


def test_titles_spread_over_lines_are_normalised() -> None:
    item = Item(
        "Anna  Ivanova\n\t and Boris Petrov:\n  A Title", "https://x.example/a", "x", mt_seed().published
    )
    (entry,) = parse_feed(mt_rss([item]), {}, "https://x.example/rss").entries
    assert entry.title == "Anna Ivanova and Boris Petrov: A Title"


def test_identity_is_guid_else_canonical_url() -> None:
    items = [
        Item("A", "https://www.x.example/a?utm_source=rss&id=7#top", "x", mt_seed().published, guid=None),
    ]
    body = mt_rss(items).replace(b"<guid>https://www.x.example/a?utm_source=rss&amp;id=7#top</guid>", b"")
    (entry,) = parse_feed(body, {}, "https://x.example/rss").entries
    assert entry.guid is None
    assert entry_key(entry) == "https://x.example/a?id=7"


def test_duplicate_entries_keep_the_first() -> None:
    seed = mt_seed()
    items = [
        Item("First", "https://x.example/a", "one", seed.published),
        Item("Second", "https://x.example/a", "two", seed.published),
    ]
    drafts = entry_drafts(parse_feed(mt_rss(items), {}, "https://x.example/rss"))
    assert [d.title for d in drafts] == ["First"]


def test_not_a_feed_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="not an RSS or Atom feed"):
        parse_feed(
            b"<html><body><p>Service temporarily unavailable</p></body></html>", {}, "https://x.example/"
        )
    with pytest.raises(ParseError):
        parse_feed(b"", {}, "https://x.example/")


def test_a_url_shaped_body_is_never_fetched() -> None:
    with pytest.raises(ParseError):
        parse_feed(b"http://127.0.0.1:9/feed", {}, "https://x.example/")


def test_truncated_feed_keeps_what_parsed_and_says_so() -> None:
    body = mt_news_feed(extra=3)
    broken = body[: body.index(b"</item>", len(body) // 2)]
    feed = parse_feed(broken, {}, "https://x.example/rss")
    assert feed.entries
    assert feed.problem is not None


def test_html_to_text_keeps_paragraphs_drops_scripts() -> None:
    html = "<p>One &amp; two</p><script>evil()</script><div>Three<br>four</div> tail"
    assert html_to_text(html) == "One & two\n\nThree\n\nfour\n\ntail"


def test_fingerprint_ignores_whitespace_only_changes() -> None:
    seed = mt_seed()
    a = mt_rss([Item(seed.title, "https://x.example/a", seed.excerpt, seed.published)])
    b = mt_rss([Item(seed.title, "https://x.example/a", seed.excerpt.replace(" ", "  "), seed.published)])
    c = mt_rss([Item(seed.title + "!", "https://x.example/a", seed.excerpt, seed.published)])
    hashes = [parse_feed_drafts(x, {}, "https://x.example/rss")[1][0].content_hash for x in (a, b, c)]
    assert hashes[0] == hashes[1] != hashes[2]


def test_a_json_feed_item_with_an_unreadable_url_keeps_the_rest() -> None:
    """A hostile '[' in an item's host must not lose the feed: that item has no link, the others do."""
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "J",
            "items": [
                {"id": "1", "url": "http://[bad/x", "title": "Bad link"},
                {"id": "2", "url": "/ok", "title": "Good link"},
            ],
        }
    ).encode()
    feed = parse_feed(body, {"content-type": "application/feed+json"}, "https://example.org/feed.json")
    assert [(e.guid, e.url) for e in feed.entries] == [("1", None), ("2", "https://example.org/ok")]
