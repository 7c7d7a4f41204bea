"""The reference feed path: feedparser on bytes, salvaging what a few bad characters break (pure).

feedparser reads what the fast path will not vouch for (broken XML, other charsets, declared entities)
and says what broke in the feed's `problem`. It is always handed bytes, never a URL, so it
never touches the network. Its HTML sanitising and relative-URI rewriting are switched off: we keep plain
text only (`core/feed_fields.html_to_text`) and resolve the few URLs we keep ourselves, which roughly
halves feedparser's cost per feed.
"""

from __future__ import annotations

import calendar
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.core.feed_fields import header_value, html_to_text, resolve_url, ttl_seconds
from monitor.core.feed_salvage import clean_feed_bytes
from monitor.core.normalize import normalize_text
from monitor.errors import ParseError
from monitor.models import FeedEntry, ParsedFeed

# feedparser complaints about HTTP metadata, not about the feed: the feed parsed fine.
_BENIGN = frozenset({"NonXMLContentType", "CharacterEncodingOverride", "CharacterEncodingUnknown"})


def parse_feed_reference(body: bytes, headers: Mapping[str, str], base_url: str) -> ParsedFeed:
    """Parse with feedparser, the reference: it recovers what it can of broken feeds and says what broke.

    A feed the XML parser rejects for a few bad characters (a lone surrogate like `&#xD800;`, a NUL,
    another character XML forbids) is cleaned and parsed again, and its `problem` says what was removed:
    one bad character must not cost every entry of the feed.
    """
    try:
        result, problem = _feedparse(body, headers)
    except Exception as exc:  # feedparser itself fails on some characters (a lone surrogate)
        cleaned, dropped = clean_feed_bytes(body)
        unreadable = ParseError(
            f"not a readable feed ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
        )
        if not dropped:
            raise unreadable from None
        try:
            result, retry_problem = _feedparse(cleaned, headers)
        except Exception:
            raise unreadable from None
        problem = f"removed {dropped}" + (f"; {retry_problem}" if retry_problem else "")
    else:
        if problem is not None or (not result.get("version") and not result.entries):
            cleaned, dropped = clean_feed_bytes(body)
            if dropped:
                retry, retry_problem = _feedparse(cleaned, headers)
                if (retry.get("version") or retry.entries) and len(retry.entries) >= len(result.entries):
                    result = retry
                    problem = f"removed {dropped}" + (f"; {retry_problem}" if retry_problem else "")
    if not result.get("version") and not result.entries:
        raise ParseError(f"not an RSS or Atom feed ({problem or 'no feed elements'})")
    feed = result.get("feed", {})
    entries: list[FeedEntry] = []
    for raw in result.entries:
        entries.append(_entry(raw, base_url))
    link = feed.get("link")
    return ParsedFeed(
        title=normalize_text(feed.get("title", "")) or None,
        link=resolve_url(base_url, link) if link else None,
        entries=tuple(entries),
        ttl_seconds=ttl_seconds(feed.get("ttl")),
        problem=problem,
    )


def _feedparse(body: bytes, headers: Mapping[str, str]) -> tuple[Any, str | None]:
    """feedparser on bytes, and its complaint about the feed (None when it has none, or only about HTTP)."""
    # No content-location: feedparser would resolve every element against it (~25% of its time); the
    # few URLs we keep are resolved against base_url in _entry.
    response_headers: dict[str, str] = {}
    content_type = header_value(headers, "content-type")
    if content_type:
        response_headers["content-type"] = content_type
    # A stream, not bytes: feedparser treats a string that looks like a URL or path as one to open.
    result = feedparser.parse(
        io.BytesIO(body), response_headers=response_headers, sanitize_html=False, resolve_relative_uris=False
    )
    problem: str | None = None
    exc = result.get("bozo_exception")
    if result.get("bozo") and type(exc).__name__ not in _BENIGN:
        problem = f"{type(exc).__name__}: {exc}".strip() if exc else "malformed feed"
    return result, problem


def _when(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _entry(raw: Any, base_url: str) -> FeedEntry:
    # Plain dict lookups: FeedParserDict.get() remaps keys on every call (and warns for updated_parsed).
    def get(key: str) -> Any:
        return dict.get(raw, key)

    link = get("link")
    url = resolve_url(base_url, link) if link else None
    guid = get("id")
    guid = guid.strip() if isinstance(guid, str) and guid.strip() else None
    content = "\n\n".join(
        html_to_text(item["value"]) for item in (get("content") or []) if dict.get(item, "value")
    )
    summary = html_to_text(get("summary") or "")
    if content and summary == content:
        summary = ""
    author = get("author")
    tags = tuple(
        normalize_text(term)
        for tag in (get("tags") or [])
        if (term := dict.get(tag, "term") or dict.get(tag, "label"))
    )
    updated = _when(get("updated_parsed"))
    return FeedEntry(
        guid=guid,
        url=url,
        title=normalize_text(get("title") or ""),
        summary=summary,
        author=normalize_text(author) if author else None,
        published=_when(get("published_parsed")) or updated,
        updated=updated,
        tags=tags,
        content=content or None,
    )
