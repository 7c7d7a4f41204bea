"""Entry identity without guid or link, JSON Feed, and salvage of feeds with characters XML forbids (pure)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.core.feed_salvage import clean_feed_bytes
from monitor.core.feeds import entry_drafts, entry_key, parse_feed, parse_feed_drafts
from monitor.models import FeedEntry

REAL = Path(__file__).resolve().parents[4] / "shared" / "corpora" / "real-feeds"
WHEN = datetime(2026, 2, 13, 9, 0, tzinfo=UTC)


def entry(**fields: object) -> FeedEntry:
    base: dict[str, object] = {
        "guid": None,
        "url": None,
        "title": "Budget vote delayed",
        "summary": "The council put off its vote.",
        "author": None,
        "published": WHEN,
        "updated": None,
        "tags": (),
        "content": None,
    }
    return FeedEntry(**{**base, **fields})  # type: ignore[arg-type]


def test_identity_is_the_guid_else_the_canonical_link_else_a_hash_of_title_and_date() -> None:
    assert entry_key(entry(guid="tag:x,2026:1", url="https://x.example/a")) == "tag:x,2026:1"
    assert entry_key(entry(url="https://x.example/a?utm_source=rss")) == "https://x.example/a"
    hashed = entry_key(entry())
    assert hashed is not None and hashed.startswith("entry:")
    assert entry_key(entry(summary="An edited summary.")) == hashed  # a dated entry: title and date only
    assert entry_key(entry(published=datetime(2026, 2, 14, tzinfo=UTC))) != hashed
    assert entry_key(entry(title="Budget vote held")) != hashed
    undated = entry_key(entry(published=None))
    assert undated != hashed and entry_key(entry(published=None, summary="Another.")) != undated
    assert entry_key(entry(title="", summary="", published=None)) is None


def test_the_hash_does_not_depend_on_where_the_feed_lives() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>A</title>'
        b"<pubDate>Fri, 13 Feb 2026 09:00:00 GMT</pubDate><description>d</description></item></channel></rss>"
    )
    _, (one,) = parse_feed_drafts(body, {}, "https://old.example/feed")
    _, (two,) = parse_feed_drafts(body, {}, "https://new.example/rss.xml")
    assert one.key == two.key and not one.has_page


def test_clean_feed_bytes_removes_only_what_xml_forbids() -> None:
    body = "<t>a&#xD800;b&#55296;c&#x1F600;&#9;&#0;d\x00e\x0bf\ud83d</t>".encode("utf-8", "surrogatepass")
    cleaned, dropped = clean_feed_bytes(body)
    assert cleaned == b"<t>abc&#x1F600;&#9;def</t>"
    assert dropped == "3 character references XML forbids and 3 control or surrogate characters"
    assert clean_feed_bytes(b"<t>fine &#233;</t>") == (b"<t>fine &#233;</t>", None)
    wide = "<t>\x00</t>".encode("utf-16")
    assert clean_feed_bytes(wide) == (wide, None)


def test_a_lone_surrogate_costs_one_character_not_the_feed() -> None:
    items = "".join(f"<item><title>Story {i}{' &#xDC00;' if i == 3 else ''}</title></item>" for i in range(6))
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    feed = parse_feed(body.encode(), {}, "https://x.example/")
    assert [e.title for e in feed.entries] == [f"Story {i}" for i in range(6)]
    assert feed.problem == "removed 1 character reference XML forbids"


def test_a_json_feed_is_read() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "Notes", "home_page_url": "https://n.example/",'
        b' "items": [{"id": "1", "url": "/posts/1", "title": "One", "content_html": "<p>Body <b>one</b></p>",'
        b' "summary": "S", "date_published": "2026-02-13T09:00:00Z", "authors": [{"name": "Ann"}],'
        b' "tags": ["a"]}, {"id": 2, "content_text": "Two"}, "junk"]}'
    )
    feed = parse_feed(body, {}, "https://n.example/feed.json")
    drafts = entry_drafts(feed)
    assert feed.title == "Notes" and feed.link == "https://n.example/"
    first, second = feed.entries
    assert (first.guid, first.url, first.title, first.content, first.summary) == (
        "1",
        "https://n.example/posts/1",
        "One",
        "Body one",
        "S",
    )
    assert first.published == WHEN and first.author == "Ann" and first.tags == ("a",)
    assert second.guid == "2" and second.content == "Two" and second.url is None
    assert [d.key for d in drafts] == ["1", "2"]


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/corpora/real-feeds is not here")
@pytest.mark.parametrize(
    ("name", "entries"), [("cc314ce5dfbb3adc", 1046), ("d4b7ab74da763119", 10), ("72fea1ebfd02e90a", 11)]
)
def test_real_feeds_keep_every_entry_once(name: str, entries: int) -> None:
    """The feed with neither guid nor link, a JSON Feed, and a feed that lists each story up to 4 times."""
    body = gzip.decompress((REAL / f"{name}.xml.gz").read_bytes())
    _, drafts = parse_feed_drafts(body, {"content-type": "application/rss+xml"}, "https://x.example/feed")
    assert len(drafts) == entries and len({d.key for d in drafts}) == entries
    _, again = parse_feed_drafts(body, {}, "https://moved.example/feed")
    assert [d.key for d in again] == [d.key for d in drafts]


def test_story_terms_take_odd_digits_and_huge_numbers() -> None:
    """Two real feeds carry '❶' (a digit int() refuses) and a 12,042-digit number: no crash, a term each."""
    from monitor.core.story_terms import terms

    assert terms("Step ❶ then " + "9" * 12042 + " and 42")
