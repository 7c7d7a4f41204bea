"""Feed bytes + headers + base URL -> entries, and entries -> article drafts (pure).

feedparser is always handed bytes, never a URL, so it never touches the network. HTML sanitising and
relative-URI rewriting are switched off: we keep plain text only (nothing is ever rendered as the feed's
HTML) and resolve the few URLs we keep ourselves, which roughly halves feedparser's cost per feed.
"""

from __future__ import annotations

import calendar
import dataclasses
import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.html
from lxml import etree

from monitor.core.normalize import article_key, canonical_url, normalize_text, sha256_hex
from monitor.core.versions import content_fingerprint
from monitor.errors import ParseError
from monitor.models import ArticleDraft, FeedEntry, ParsedFeed

_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "table",
        "tr",
        "section",
        "article",
        "figure",
        "figcaption",
        "header",
        "footer",
        "hr",
    }
)
# feedparser complaints about HTTP metadata, not about the feed: the feed parsed fine.
_BENIGN = frozenset({"NonXMLContentType", "CharacterEncodingOverride", "CharacterEncodingUnknown"})
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "svg"})

_MAX_TTL_MINUTES = 7 * 24 * 60


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: paragraphs split by blank lines, scripts and styles dropped."""
    if "<" not in markup:
        return normalize_text(markup)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return normalize_text(markup)
    blocks: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = normalize_text("".join(current))
        if text:
            blocks.append(text)
        current.clear()

    def walk(node: Any) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in _SKIP_TAGS:
            if node.tail:
                current.append(node.tail)
            return
        block = tag in _BLOCK_TAGS
        if block:
            flush()
        if node.text and tag:
            current.append(node.text)
        for child in node:
            walk(child)
        if block:
            flush()
        if node.tail:
            current.append(node.tail)

    walk(root)
    flush()
    return "\n\n".join(blocks)


def _when(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def parse_feed(body: bytes, headers: Mapping[str, str], base_url: str) -> ParsedFeed:
    """Parse RSS/Atom bytes; raise ParseError when the bytes are not a feed at all.

    A feed the XML parser rejects for a few bad characters (a lone surrogate like `&#xD800;`, a NUL,
    another character XML forbids) is cleaned and parsed again, and its `problem` says what was removed:
    one bad character must not cost every entry of the feed. A JSON Feed (jsonfeed.org), which
    feedparser does not read, is read here.
    """
    if body.lstrip()[:1] == b"{":
        json_feed = parse_json_feed(body, base_url)
        if json_feed is not None:
            return json_feed
    try:
        result, problem = _feedparse(body, headers)
    except Exception as exc:  # feedparser itself fails on some characters (a lone surrogate)
        cleaned, dropped = clean_feed_bytes(body)
        if not dropped:
            raise
        try:
            result, retry_problem = _feedparse(cleaned, headers)
        except Exception:
            raise exc from None
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
    ttl: int | None = None  # clamped: a server cannot push a source out for more than a week
    raw_ttl = feed.get("ttl")
    if raw_ttl:
        try:
            ttl = min(max(0, int(str(raw_ttl).strip()[:12])), _MAX_TTL_MINUTES) * 60
        except ValueError:
            ttl = None
    link = feed.get("link")
    return ParsedFeed(
        title=normalize_text(feed.get("title", "")) or None,
        link=urljoin(base_url, link) if link else None,
        entries=tuple(entries),
        ttl_seconds=ttl,
        problem=problem,
    )


def _json_when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_json_feed(body: bytes, base_url: str) -> ParsedFeed | None:
    """A JSON Feed 1.x as a ParsedFeed; None when the body is not one (then it is parsed as XML)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or "jsonfeed.org" not in _json_text(data.get("version")):
        return None
    entries: list[FeedEntry] = []
    items = data.get("items")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        link = _json_text(item.get("url")) or _json_text(item.get("external_url"))
        guid = item.get("id")
        guid_text = str(guid).strip() if isinstance(guid, str | int) and not isinstance(guid, bool) else ""
        html = _json_text(item.get("content_html"))
        content = html_to_text(html or _json_text(item.get("content_text")))  # some put HTML in both
        summary = normalize_text(_json_text(item.get("summary")))
        raw_authors = item.get("authors")
        authors: list[Any] = raw_authors if isinstance(raw_authors, list) else [item.get("author")]
        names = [a["name"] for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str)]
        tags = item.get("tags")
        updated = _json_when(item.get("date_modified"))
        entries.append(
            FeedEntry(
                guid=guid_text or None,
                url=urljoin(base_url, link.strip()) if link.strip() else None,
                title=normalize_text(_json_text(item.get("title"))),
                summary=summary if summary != content else "",
                author=normalize_text(", ".join(names)) if names else None,
                published=_json_when(item.get("date_published")) or updated,
                updated=updated,
                tags=tuple(normalize_text(t) for t in tags if isinstance(t, str))
                if isinstance(tags, list)
                else (),
                content=content or None,
            )
        )
    home = _json_text(data.get("home_page_url"))
    return ParsedFeed(
        title=normalize_text(_json_text(data.get("title"))) or None,
        link=urljoin(base_url, home) if home else None,
        entries=tuple(entries),
    )


def _feedparse(body: bytes, headers: Mapping[str, str]) -> tuple[Any, str | None]:
    """feedparser on bytes, and its complaint about the feed (None when it has none, or only about HTTP)."""
    # No content-location: feedparser would resolve every element against it (~25% of its time); the
    # few URLs we keep are resolved against base_url in _entry.
    response_headers: dict[str, str] = {}
    content_type = _header(headers, "content-type")
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


# Character references to code points XML 1.0 forbids: C0 controls but tab/LF/CR, surrogates, U+FFFE/F.
_BAD_CHAR_REF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{1,8})|0*([0-9]{1,10}));")
# Raw C0 controls (tab, LF and CR are fine) and UTF-8-encoded surrogates and U+FFFE/U+FFFF.
_BAD_RAW = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xed[\xa0-\xbf][\x80-\xbf]|\xef\xbf[\xbe\xbf]")


def _xml_allowed(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def clean_feed_bytes(body: bytes) -> tuple[bytes, str | None]:
    """Remove what XML forbids (bad character references, control bytes, encoded surrogates).

    Returns the cleaned bytes and what was removed (None when nothing was). UTF-16/32 bodies, where a
    NUL byte is part of every character, are left alone.
    """
    refs = 0

    def ref(match: re.Match[bytes]) -> bytes:
        nonlocal refs
        hex_digits, dec_digits = match.group(1), match.group(2)
        code = int(hex_digits, 16) if hex_digits is not None else int(dec_digits)
        if _xml_allowed(code):
            return match.group(0)
        refs += 1
        return b""

    cleaned = _BAD_CHAR_REF.sub(ref, body) if b"&#" in body else body
    raw = 0
    wide = body[:2] in (b"\xff\xfe", b"\xfe\xff") or body[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")
    if not wide and not body.startswith((b"<\x00", b"\x00<")):
        cleaned, raw = _BAD_RAW.subn(b"", cleaned)
    if not refs and not raw:
        return body, None
    parts = []
    if refs:
        parts.append(f"{refs} character reference{'s' if refs != 1 else ''} XML forbids")
    if raw:
        parts.append(f"{raw} control or surrogate character{'s' if raw != 1 else ''}")
    return cleaned, " and ".join(parts)


def _entry(raw: Any, base_url: str) -> FeedEntry:
    # Plain dict lookups: FeedParserDict.get() remaps keys on every call (and warns for updated_parsed).
    def get(key: str) -> Any:
        return dict.get(raw, key)

    link = get("link")
    url = urljoin(base_url, link.strip()) if link else None
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
    body: bytes, headers: Mapping[str, str], base_url: str
) -> tuple[ParsedFeed, tuple[ArticleDraft, ...]]:
    """Parse a feed and build its drafts in one call (the unit of work sent to a parse worker)."""
    feed = parse_feed(body, headers, base_url)
    drafts = entry_drafts(feed)
    empty = sum(1 for entry in feed.entries if entry_key(entry) is None)
    if empty:
        dropped = (
            f"{empty} entr{'ies' if empty != 1 else 'y'} with no title, date, summary or content dropped"
        )
        feed = dataclasses.replace(feed, problem=f"{feed.problem}; {dropped}" if feed.problem else dropped)
    return feed, drafts
