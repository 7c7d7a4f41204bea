"""The field steps every feed parser shares: HTML fragments to plain text, URLs resolved, <ttl> clamped.

Every path behind `core/feeds.parse_feed` (fastfeedparser, feedparser, JSON Feed) sends each title,
summary and body through `html_to_text`, so one feed reads the same whichever parser read it: scripts,
styles and markup are dropped, and nothing of a feed is ever rendered as HTML. Links are resolved here
against the feed's base URL (feedparser's own relative-URI rewriting is off), and a hostile URL urllib
cannot read becomes no URL rather than an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from monitor.core.normalize import normalize_text

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


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A response header by its lower-case name, whatever case the server wrote it in."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def resolve_url(base_url: str, link: str) -> str | None:
    """An absolute URL, or None for one urllib cannot read (a hostile '[' in the host)."""
    try:
        return urljoin(base_url, link.strip())
    except ValueError:
        return None


def ttl_seconds(raw_ttl: Any) -> int | None:
    """The feed's <ttl> in seconds, clamped: a server cannot push a source out for more than a week."""
    if not raw_ttl:
        return None
    try:
        return min(max(0, int(str(raw_ttl).strip()[:12])), _MAX_TTL_MINUTES) * 60
    except ValueError:
        return None
