"""The parser seam: the fast path (fastfeedparser) against feedparser, the reference, on 189 real feeds.

Every real feed keeps every entry and every date feedparser finds; identities, links, titles, dates and
the normalised text (the content hash) are equal, except the differences listed below, each justified.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from monitor.config import parse_settings
from monitor.core.feed_fast import parse_feed_fast
from monitor.core.feed_fields import html_to_text
from monitor.core.feed_json import parse_json_feed
from monitor.core.feed_reference import parse_feed_reference
from monitor.core.feeds import parse_feed, parse_feed_drafts
from monitor.errors import ConfigError, ParseError
from monitor.models import ArticleDraft, ParsedFeed
from tests.fixtures.feeds import mt_news_feed

REAL_FEEDS = Path(__file__).parents[4] / "shared" / "corpora" / "real-feeds"
BASE = "https://feed.example/rss"

# Text (content hash) differences: feedparser files a media caption as the entry's text.
MEDIA_CAPTIONS = {
    "660a52f7dc6a1948": "EL PAÍS: feedparser puts media:text (the photo caption) first in the content",
    "16dc10cf98d1ee82": "TheWeek: feedparser puts media:text (the photo caption) first in the content",
    "5357198db71ce075": "ABC: feedparser takes media:description (the photo caption) as a second content",
    "14333881097406c7": "Rest of World: feedparser's summary is media:description, not the description",
}
# fastfeedparser makes a summary from the content when an item has none; feedparser leaves it empty.
# The per-item check cannot tell for these (channel-level and item-level shapes mixed).
MADE_UP_SUMMARY = {
    "d6b581ced4b263b3": "two items: summary made from the first 512 characters of the content",
    "c81b774804d7fd57": "one item: summary made from the first 512 characters of the content",
}
# The document's title is literally mojibake ("Martine Ã©crit", a post about it); feedparser's
# encoding repair turns it into "écrit". The fast path keeps the bytes' own text.
TITLE = {"0346e81559b251eb": "a title that is mojibake in the document itself"}


def _real_feeds() -> list[Path]:
    if not REAL_FEEDS.is_dir():
        pytest.skip(f"no real-feeds corpus at {REAL_FEEDS}")
    return sorted(REAL_FEEDS.glob("*.xml.gz"))


def _drafts(feed: ParsedFeed) -> dict[str, ArticleDraft]:
    from monitor.core.feeds import entry_drafts

    return {d.key: d for d in entry_drafts(feed)}


def test_no_real_feed_loses_an_entry_or_a_date_and_drafts_agree() -> None:
    files = _real_feeds()
    assert len(files) == 189
    fast_paths = 0
    problems: list[str] = []
    for path in files:
        name = path.name.split(".")[0]
        body = gzip.decompress(path.read_bytes())
        try:
            reference = parse_feed_reference(body, {}, BASE)
        except ParseError:
            if parse_json_feed(body, BASE) is not None:
                continue  # a JSON Feed: feedparser cannot read it, parse_feed does
            with pytest.raises(ParseError):
                parse_feed(body, {}, BASE)
            continue
        hybrid = parse_feed(body, {}, BASE)
        fast_paths += parse_feed_fast(body, {}, BASE) is not None
        assert len(hybrid.entries) == len(reference.entries), name
        ref, got = _drafts(reference), _drafts(hybrid)
        assert got.keys() == ref.keys(), name
        for key, want in ref.items():
            have = got[key]
            for field in ("url", "published", "updated"):
                if getattr(have, field) != getattr(want, field):
                    problems.append(f"{name} {key} {field}: {getattr(have, field)} != {getattr(want, field)}")
            if have.title != want.title and name not in TITLE:
                problems.append(f"{name} {key} title: {have.title!r} != {want.title!r}")
            if have.content_hash != want.content_hash and name not in {
                **MEDIA_CAPTIONS,
                **MADE_UP_SUMMARY,
                **TITLE,
            }:
                problems.append(f"{name} {key} text: {have.summary[:80]!r}/{have.body[:80]!r}")
    assert problems == []
    assert fast_paths >= 175  # the fast path serves nearly every real feed (179 of 189 when written)


def test_listed_differences_are_still_differences() -> None:
    """A listed exception that no longer differs must leave the list (the list stays true)."""
    files = {p.name.split(".")[0]: p for p in _real_feeds()}
    for name in {**MEDIA_CAPTIONS, **MADE_UP_SUMMARY, **TITLE}:
        body = gzip.decompress(files[name].read_bytes())
        ref = _drafts(parse_feed_reference(body, {}, BASE))
        got = _drafts(parse_feed(body, {}, BASE))
        assert any(got[k].content_hash != ref[k].content_hash for k in ref), name


def test_malformed_xml_goes_to_feedparser_which_says_what_broke() -> None:
    body = mt_news_feed(extra=3)
    broken = body[: body.index(b"</item>", len(body) // 2)]
    assert parse_feed_fast(broken, {}, BASE) is None
    feed = parse_feed(broken, {}, BASE)
    assert feed.entries and feed.problem is not None


def test_other_charsets_and_empty_feeds_go_to_feedparser() -> None:
    body = mt_news_feed(extra=1)
    assert parse_feed_fast(body, {"Content-Type": "text/xml; charset=windows-1251"}, BASE) is None
    assert parse_feed_fast(body, {"Content-Type": "application/rss+xml; charset=utf-8"}, BASE) is not None
    latin = b'<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><item><title>caf\xe9</title><link>https://x.example/a</link></item></channel></rss>'
    assert parse_feed_fast(latin, {}, BASE) is None
    assert parse_feed(latin, {}, BASE).entries[0].title == "café"
    empty = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    assert parse_feed_fast(empty, {}, BASE) is None


def test_fast_path_html_goes_through_the_same_text_step() -> None:
    item = (
        b"<item><title>A &amp; B</title><link>https://x.example/a</link><guid>g1</guid>"
        b"<description>&lt;p&gt;Hi&lt;/p&gt;&lt;script&gt;evil()&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
        b"</description></item>"
    )
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>' + item + b"</channel></rss>"
    fast = parse_feed_fast(body, {}, BASE)
    assert fast is not None
    (entry,) = fast.entries
    assert entry.summary == "Hi" == html_to_text("<p>Hi</p><script>evil()</script>")
    assert entry.title == "A & B" and entry.guid == "g1"
    assert parse_feed_reference(body, {}, BASE).entries == fast.entries


def test_hostile_link_is_dropped_not_raised() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>x</title><guid>g</guid><link>http://[::1/x</link></item></channel></rss>"
    )
    (entry,) = parse_feed(body, {}, BASE).entries
    assert entry.guid == "g" and entry.url in (None, "https://feed.example/g")


LINKLESS = (
    b'<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
    b"<channel><title>t</title><item><title>x</title><guid>a/1</guid><description>Short.</description>"
    b"<content:encoded><![CDATA[<p>The report.</p>]]></content:encoded></item></channel></rss>"
)
MOJIBAKE = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title><item>'
    '<title>Martine \u00c3\u00a9crit</title><guid isPermaLink="false">g</guid></item></channel></rss>'
).encode()


def test_results_come_back_compact_and_a_guid_that_is_a_link_is_the_link() -> None:
    feed, (draft,) = parse_feed_drafts(LINKLESS, {}, BASE)
    assert feed.entries == () and feed.title == "t"  # the drafts carry the entries' text, once
    assert (draft.summary, draft.body, draft.url) == ("Short.", "The report.", "https://feed.example/a/1")
    assert parse_feed_drafts(LINKLESS, {}, BASE, "feedparser")[1] == (draft,)


def test_parser_setting_chooses_the_path() -> None:
    # A document whose title is mojibake: feedparser repairs it, the fast path keeps the document's text.
    assert parse_feed_drafts(MOJIBAKE, {}, BASE)[1][0].title == "Martine \u00c3\u00a9crit"
    assert parse_feed_drafts(MOJIBAKE, {}, BASE, "feedparser")[1][0].title == "Martine \u00e9crit"


def test_parser_setting_is_checked() -> None:
    assert (
        parse_settings("defaults: {parser: feedparser}\n", "f.yaml", env={}).defaults.parser == "feedparser"
    )
    assert parse_settings("{}\n", "f.yaml", env={}).defaults.parser == "hybrid"
    with pytest.raises(ConfigError) as caught:
        parse_settings("defaults: {parser: fastest}\n", "f.yaml", env={})
    assert "defaults.parser" in caught.value.problems[0]


def test_external_entities_are_never_read() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY leak SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><title>t</title><item><title>a &leak; b</title><guid>g</guid>'
        b"<description>&leak;</description></item></channel></rss>"
    )
    for parser in ("hybrid", "feedparser"):
        _, drafts = parse_feed_drafts(body, {}, BASE, parser)  # type: ignore[arg-type]
        assert all("root:" not in d.title + d.summary + d.body for d in drafts)
