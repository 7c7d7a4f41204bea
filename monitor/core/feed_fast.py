"""The fast feed path: fastfeedparser's output mapped the way feedparser, the reference, reads a feed (pure).

fastfeedparser (lxml plus a small compiled core) is ~100x feedparser per feed on the real-feeds corpus,
but it is trusted only with what it reads as feedparser would: well-formed UTF-8 XML without entity
declarations, from a response whose HTTP charset cannot disagree with the document. Anything else, an
exception, no entries, or an entry with neither id nor link, returns None and `core/feeds.parse_feed`
hands the bytes to feedparser. The mapping reads the XML tree once more (`_Document`) for what
fastfeedparser's output hides: its made-up summaries, ids and dates are dropped, a long description it
files as content stays a summary, dates are cut to the second like feedparser's struct_time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fastfeedparser
from lxml import etree

from monitor.core.feed_fields import header_value, html_to_text, resolve_url, ttl_seconds
from monitor.core.normalize import normalize_text
from monitor.models import FeedEntry, ParsedFeed

_WELL_FORMED = etree.XMLParser(
    recover=False, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)
_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'").lower() or None
    return None


_ATOM = ("http://www.w3.org/2005/Atom", "http://purl.org/atom/ns#")
_CONTENT_TAGS = ("{http://purl.org/rss/1.0/modules/content/}encoded", *(f"{{{ns}}}content" for ns in _ATOM))
_GUID_TAGS = ("guid", "{http://purl.org/rss/1.0/}guid", *(f"{{{ns}}}id" for ns in _ATOM))
_DESCRIPTION_TAGS = (
    "description",
    "{http://purl.org/rss/1.0/}description",
    *(f"{{{ns}}}summary" for ns in _ATOM),
)
_RSS1_ITEM = "{http://purl.org/rss/1.0/}item"
_ITEM_TAGS = frozenset({"item", _RSS1_ITEM, *(f"{{{ns}}}entry" for ns in _ATOM)})
_RDF_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"
_DC_DATE = "{http://purl.org/dc/elements/1.1/}date"
_DATE_NAMES = frozenset(
    {"pubDate", "date", "published", "updated", "issued", "modified", "created", "lastBuildDate"}
)
_PUBLISHED_TAGS = ("pubDate", "{http://purl.org/rss/1.0/}pubDate", *(f"{{{ns}}}published" for ns in _ATOM))


@dataclass(frozen=True, slots=True)
class _Document:
    """What the XML tree says that fastfeedparser's output hides, to map it the way feedparser would."""

    has_content: bool  # content:encoded or Atom content somewhere: else a "content" is the description
    has_description: bool  # description or Atom summary somewhere: else a description is made up
    described: tuple[bool, ...]  # per item, in document order: has it a description of its own?
    dated: tuple[bool, ...]  # per item: has it a date element? (else fastfeedparser may read the guid)
    guids: frozenset[str]  # ids the document carries: any other id fastfeedparser made up from the link
    permalinks: frozenset[str]  # ids not marked isPermaLink="false": the entry's link when it has none
    dc_dates_only: bool  # dc:date and no pubDate/published: feedparser calls those dates "updated"


def _document(root: Any) -> _Document:
    has_content = next(root.iter(*_CONTENT_TAGS), None) is not None
    items = list(root.iter(*_ITEM_TAGS))
    described_items = {el.getparent() for el in root.iter(*_DESCRIPTION_TAGS)}
    described = tuple(item in described_items for item in items)
    dated = tuple(
        any(isinstance(c.tag, str) and etree.QName(c).localname in _DATE_NAMES for c in item)
        for item in items
    )
    guids = frozenset(
        text.strip() for el in root.iter(*_GUID_TAGS) if isinstance(text := el.text, str) and text.strip()
    ) | frozenset(about.strip() for el in root.iter(_RSS1_ITEM) if (about := el.get(_RDF_ABOUT)))
    dc_dates_only = (
        next(root.iter(_DC_DATE), None) is not None and next(root.iter(*_PUBLISHED_TAGS), None) is None
    )
    permalinks = frozenset(
        text.strip()
        for el in root.iter(*_GUID_TAGS)
        if isinstance(text := el.text, str) and text.strip() and el.get("isPermaLink", "").lower() != "false"
    )
    return _Document(has_content, any(described), described, dated, guids, permalinks, dc_dates_only)


def parse_feed_fast(body: bytes, headers: Mapping[str, str], base_url: str) -> ParsedFeed | None:
    """The fast path (fastfeedparser), or None when only feedparser can be trusted with these bytes."""
    charset = _charset(header_value(headers, "content-type"))
    if charset is not None and charset not in _UTF8:
        return None  # feedparser weighs an HTTP charset against the document's own declaration
    try:
        # Well-formed XML only: feedparser's loose parser recovers more of a broken document, and says so.
        root = etree.fromstring(body, _WELL_FORMED)
    except (etree.XMLSyntaxError, ValueError):
        return None
    docinfo = root.getroottree().docinfo
    if (docinfo.encoding or "utf-8").lower() not in _UTF8:
        return None  # feedparser knows the windows-1252 characters that iso-8859-1 feeds really carry
    if docinfo.internalDTD is not None:
        return None  # entities declared in the document: feedparser expands them, lxml here does not
    try:
        result = fastfeedparser.parse(body, include_media=True, include_enclosures=False)
    except Exception:  # hostile bytes: whatever fastfeedparser raises, feedparser gets its turn
        return None
    raw_entries = result.get("entries") or []
    if not raw_entries:
        return None
    document = _document(root)
    feed = result.get("feed") or {}
    link = feed.get("link")
    try:
        entries = tuple(_fast_entry(raw, base_url, document, n) for n, raw in enumerate(raw_entries))
    except (AttributeError, TypeError, KeyError, ValueError):  # a shape fastfeedparser did not promise
        return None
    if any(entry.guid is None and entry.url is None for entry in entries):
        return None  # an entry with no identity here: feedparser may find one (it reads more id forms)
    return ParsedFeed(
        title=normalize_text(feed.get("title") or "") or None,
        link=resolve_url(base_url, link) if isinstance(link, str) and link else None,
        entries=entries,
        ttl_seconds=ttl_seconds(root.findtext("channel/ttl")),  # fastfeedparser does not read <ttl>
        problem=None,
    )


def _iso(value: Any) -> datetime | None:
    """fastfeedparser's ISO date, to the second like feedparser's struct_time."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed.replace(microsecond=0)


def _fast_entry(raw: Mapping[str, Any], base_url: str, document: _Document, n: int) -> FeedEntry:
    link = raw.get("link")
    url = resolve_url(base_url, link) if isinstance(link, str) and link.strip() else None
    guid = raw.get("id")
    guid = guid.strip() if isinstance(guid, str) and guid.strip() in document.guids else None
    if url is None and guid is not None and guid in document.permalinks:
        url = resolve_url(base_url, guid)  # feedparser's guidislink
    contents = [item["value"] for item in (raw.get("content") or []) if item.get("value")]
    description = raw.get("description") or ""
    if contents and not document.has_content:
        # fastfeedparser files a long description under content too; feedparser keeps it a summary.
        description, contents = contents[0], []
    elif contents and not (
        document.described[n] if len(document.described) > n else document.has_description
    ):
        description = ""  # fastfeedparser's summary made from the content's first 512 characters
    if not description and not contents:
        media = [m.get("description") for m in (raw.get("media_content") or []) if m.get("description")]
        description = media[0] if media else ""
    content = "\n\n".join(html_to_text(value) for value in contents)
    summary = html_to_text(description)
    if content and summary == content:
        summary = ""
    author = raw.get("author")
    tags = tuple(
        dict.fromkeys(
            normalize_text(term)
            for tag in (raw.get("tags") or [])
            if (term := tag.get("term") or tag.get("label"))
        )
    )
    dated = document.dated[n] if len(document.dated) > n else True
    published = _iso(raw.get("published")) if dated else None
    updated = _iso(raw.get("updated")) if dated else None
    if document.dc_dates_only and updated is None:
        updated = published
    return FeedEntry(
        guid=guid,
        url=url,
        title=normalize_text(raw.get("title") or ""),
        summary=summary,
        author=normalize_text(author) if isinstance(author, str) and author else None,
        published=published or updated,
        updated=updated,
        tags=tags,
        content=content or None,
    )
