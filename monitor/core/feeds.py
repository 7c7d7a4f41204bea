"""Feed bytes + headers + base URL -> entries, and entries -> article drafts (pure).

Two parsers behind one seam, `parse_feed`. The fast path is fastfeedparser (lxml plus a small compiled
core, ~100x feedparser per feed on the real-feeds corpus); feedparser is the reference and takes over
whenever the fast path cannot vouch for its result: the bytes are not well-formed XML, the HTTP charset
may disagree with the document's, fastfeedparser raises or finds no entries. Both paths feed the same
entry builder below, so every title, summary and body goes through the same HTML-to-text step (scripts,
styles and markup dropped: nothing of a feed is ever rendered as HTML) and the same URL resolution.

feedparser is always handed bytes, never a URL, so it never touches the network. Its HTML sanitising and
relative-URI rewriting are switched off: we keep plain text only and resolve the few URLs we keep
ourselves, which roughly halves feedparser's cost per feed.
"""

from __future__ import annotations

import calendar
import dataclasses
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin

import fastfeedparser
import feedparser
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


_HTML = etree.HTMLParser()


_BREAK = "\ue000"  # a private-use character marks block boundaries in the serialised text


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: paragraphs split by blank lines, scripts and styles dropped."""
    if "<" not in markup:
        return normalize_text(markup)
    # lxml.html.fragment_fromstring's own wrapping, without its element classes (a third of the cost).
    try:
        root = etree.fromstring(f"<html><body>{markup}</body></html>", _HTML)
    except (etree.ParserError, ValueError):
        return normalize_text(markup)
    body = root.find("body") if root is not None else None
    if body is None:
        return normalize_text(markup)
    if _BREAK in markup:
        return _walk_text(body)
    # Mark every block's start and end, drop what is never text, and let libxml2 serialise the rest.
    etree.strip_elements(body, *_SKIP_TAGS, with_tail=False)
    for block in body.iter(*_BLOCK_TAGS):
        block.text = _BREAK + block.text if block.text else _BREAK
        block.tail = _BREAK + block.tail if block.tail else _BREAK
    text = etree.tostring(body, method="text", encoding=str, with_tail=False)
    return "\n\n".join(part for chunk in text.split(_BREAK) if (part := normalize_text(chunk)))


def _walk_text(body: Any) -> str:
    """html_to_text's element walk, for the odd fragment that contains the block marker itself."""
    blocks: list[str] = []
    current: list[str] = []
    append = current.append

    def flush() -> None:
        if current:
            text = normalize_text("".join(current))
            if text:
                blocks.append(text)
            current.clear()

    def walk(node: Any) -> None:
        for child in node:
            tag = child.tag
            if not isinstance(tag, str):  # comments and processing instructions: their tail only
                if child.tail:
                    append(child.tail)
                continue
            if tag in _SKIP_TAGS:
                if child.tail:
                    append(child.tail)
                continue
            block = tag in _BLOCK_TAGS
            if block:
                flush()
            if child.text:
                append(child.text)
            if len(child):
                walk(child)
            if block:
                flush()
            if child.tail:
                append(child.tail)

    if body.text:
        append(body.text)
    walk(body)
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


Parser = Literal["hybrid", "feedparser"]
PARSERS: tuple[Parser, ...] = ("hybrid", "feedparser")


def parse_feed(
    body: bytes, headers: Mapping[str, str], base_url: str, parser: Parser = "hybrid"
) -> ParsedFeed:
    """Parse RSS/Atom/JSON Feed bytes; raise ParseError when the bytes are not a feed at all.

    The fast parser reads well-formed UTF-8 XML; everything else goes to feedparser, the reference,
    which salvages feeds a few bad characters break (see parse_feed_reference). A JSON Feed
    (jsonfeed.org), which neither reads, is read here.
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
    charset = _charset(_header(headers, "content-type"))
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
        link=_join(base_url, link) if isinstance(link, str) and link else None,
        entries=entries,
        ttl_seconds=_ttl(root.findtext("channel/ttl")),  # fastfeedparser does not read <ttl>
        problem=None,
    )


def _join(base_url: str, link: str) -> str | None:
    """An absolute URL, or None for one urllib cannot read (a hostile '[' in the host)."""
    try:
        return urljoin(base_url, link.strip())
    except ValueError:
        return None


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
    url = _join(base_url, link) if isinstance(link, str) and link.strip() else None
    guid = raw.get("id")
    guid = guid.strip() if isinstance(guid, str) and guid.strip() in document.guids else None
    if url is None and guid is not None and guid in document.permalinks:
        url = _join(base_url, guid)  # feedparser's guidislink
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


def _ttl(raw_ttl: Any) -> int | None:
    """The feed's <ttl> in seconds, clamped: a server cannot push a source out for more than a week."""
    if not raw_ttl:
        return None
    try:
        return min(max(0, int(str(raw_ttl).strip()[:12])), _MAX_TTL_MINUTES) * 60
    except ValueError:
        return None


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
        link=_join(base_url, link) if link else None,
        entries=tuple(entries),
        ttl_seconds=_ttl(feed.get("ttl")),
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
        link=_join(base_url, home) if isinstance(home, str) and home else None,
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
    url = _join(base_url, link) if link else None
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
