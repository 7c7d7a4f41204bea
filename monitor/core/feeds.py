"""Feed bytes + headers + base URL -> entries, and entries -> article drafts (pure): the parser seam.

Two parsers behind one seam, `parse_feed`. The fast path is fastfeedparser (`core/feed_fast.py`, ~100x
feedparser per feed on the real-feeds corpus); feedparser (`core/feed_reference.py`) is the reference and
takes over whenever the fast path cannot vouch for its result: the bytes are not well-formed XML, the HTTP
charset may disagree with the document's, fastfeedparser raises or finds no entries. A JSON Feed is read
by `core/feed_json.py`. Every path sends its fields through the same steps (`core/feed_fields.py`: HTML
to text, URL resolution), so a feed reads the same whichever parser read it.

Here too: the identity of an entry within its source (`entry_key`), the drafts a poll stores, and the
unit of work a parse worker runs (`parse_feed_drafts`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

from monitor.core.feed_fast import parse_feed_fast
from monitor.core.feed_json import parse_json_feed
from monitor.core.feed_reference import parse_feed_reference
from monitor.core.normalize import article_key, canonical_url, sha256_hex
from monitor.core.versions import content_fingerprint
from monitor.models import ArticleDraft, FeedEntry, ParsedFeed

Parser = Literal["hybrid", "feedparser"]
PARSERS: tuple[Parser, ...] = ("hybrid", "feedparser")


def parse_feed(
    body: bytes, headers: Mapping[str, str], base_url: str, parser: Parser = "hybrid"
) -> ParsedFeed:
    """Parse RSS/Atom/JSON Feed bytes; raise ParseError when the bytes are not a feed at all.

    The fast parser reads well-formed UTF-8 XML; everything else goes to feedparser, the reference,
    which salvages feeds a few bad characters break (see parse_feed_reference). A JSON Feed
    (jsonfeed.org), which neither reads, is read by parse_json_feed.
    """
    if body.lstrip()[:1] == b"{":
        json_feed = parse_json_feed(body, base_url)
        if json_feed is not None:
            return json_feed
    if parser == "hybrid":
        fast = parse_feed_fast(body, headers, base_url)
        if fast is not None:
            return fast
    return parse_feed_reference(body, headers, base_url)


def entry_key(entry: FeedEntry) -> str | None:
    """The article identity within its source: the guid, else the canonical URL, else a content hash.

    An entry with neither guid nor link (valid RSS 2.0) is known by a hash of its title and date, and of
    its summary when it has no date, as mature readers degrade; the hash is stable across polls and
    restarts, and the store scopes every key to its source id, so a feed that moves keeps its articles.
    Only an entry with no title, date, summary or content at all has no identity.
    """
    if entry.guid:
        return article_key(entry.guid)
    if entry.url:
        return article_key(canonical_url(entry.url))
    when = entry.published.isoformat() if entry.published else ""
    parts = [entry.title, when]
    if not when:
        parts += [entry.summary, "" if entry.title or entry.summary else entry.content or ""]
    if not any(parts):
        return None
    return "entry:" + sha256_hex("\x1f".join(parts).encode("utf-8"))


def entry_drafts(feed: ParsedFeed) -> tuple[ArticleDraft, ...]:
    """One draft per distinct entry identity, first occurrence wins; only empty entries are dropped.

    An entry without a link of its own points at the feed's site and has no page to follow.
    """
    drafts: dict[str, ArticleDraft] = {}
    for entry in feed.entries:
        key = entry_key(entry)
        if key is None or key in drafts:
            continue
        url = entry.url or (key if entry.guid else None) or feed.link or ""
        body = entry.content or ""
        text = f"{entry.summary}\n\n{body}" if body else entry.summary
        drafts[key] = ArticleDraft(
            key=key,
            url=url,
            title=entry.title,
            summary=entry.summary,
            body=body,
            author=entry.author,
            published=entry.published,
            updated=entry.updated,
            tags=entry.tags,
            content_hash=content_fingerprint(entry.title, text),
            has_page=entry.url is not None,
        )
    return tuple(drafts.values())


def parse_feed_drafts(
    body: bytes, headers: Mapping[str, str], base_url: str, parser: Parser = "hybrid"
) -> tuple[ParsedFeed, tuple[ArticleDraft, ...]]:
    """The unit of work a parse worker runs: a pure function of the bytes, sent to the worker once.

    What comes back is compact: the feed without its entries (the drafts carry everything a poll keeps),
    so no text crosses the process boundary twice. Work that depends only on a draft (story features,
    watch matching) belongs here too, on the worker's core rather than the writer's. Entries with no
    identity at all (no title, date, summary or content) are dropped, and the feed's problem says so.
    """
    feed = parse_feed(body, headers, base_url, parser)
    drafts = entry_drafts(feed)
    empty = sum(1 for entry in feed.entries if entry_key(entry) is None)
    if empty:
        dropped = (
            f"{empty} entr{'ies' if empty != 1 else 'y'} with no title, date, summary or content dropped"
        )
        feed = dataclasses.replace(feed, problem=f"{feed.problem}; {dropped}" if feed.problem else dropped)
    return dataclasses.replace(feed, entries=()), drafts
