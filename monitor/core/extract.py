"""Article pages -> title, authors, dates and main text; listing pages -> article links (pure).

Structured data first, where publishers put it for search engines (JSON-LD NewsArticle, og:/article:
meta, <time datetime>), trafilatura's metadata for what is missing; the main text from maintext.py.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from monitor.core.maintext import main_text
from monitor.core.normalize import canonical_url, normalize_text
from monitor.errors import ParseError
from monitor.models import crosses_processes

# The version of the article-text extraction (this module, maintext.py, pageread.py). BUMP IT whenever a
# change can make the same page yield different text: each article stores the version its baseline text
# was extracted with, and a check under a newer version re-baselines an unchanged page silently instead
# of recording an edit (see core/track.py decide_page_check).
EXTRACTOR_VERSION = 1

MIN_WORDS = 20  # less than this is a stub, a paywall or a navigation page, not an article
_DATED_PATH = re.compile(r"/(19|20)\d{2}/\d{1,2}/\d{1,2}/[^/]+")
_ID_SLUG = re.compile(r"/[a-z0-9]+(?:-[a-z0-9]+){3,}(?:-a?\d+)?/?$|/\d{5,}(?:[-/][^/]*)?$", re.I)
_NOT_ARTICLE = re.compile(
    r"/(tag|tags|author|authors|category|section|topic|topics|search|page|login|about|contact)(/|$)", re.I
)


@crosses_processes
@dataclass(frozen=True, slots=True)
class ExtractedArticle:
    """What an article page says about itself."""

    title: str
    text: str  # paragraphs separated by blank lines
    author: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    language: str | None = None


def _parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = datetime.strptime(text[:10], "%Y-%m-%d")
        except ValueError:
            return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _json_ld(root: Any) -> dict[str, Any]:
    for script in root.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        items = (
            data if isinstance(data, list) else data.get("@graph", [data]) if isinstance(data, dict) else []
        )
        for item in items:
            kind = item.get("@type") if isinstance(item, dict) else None
            kinds = kind if isinstance(kind, list) else [kind]
            if any(k in ("NewsArticle", "Article", "ReportageNewsArticle", "BlogPosting") for k in kinds):
                return dict(item)
    return {}


def _meta(root: Any, *names: str) -> str | None:
    for name in names:
        found = root.xpath(f'//meta[@property="{name}" or @name="{name}"]/@content')
        if found and found[0].strip():
            return normalize_text(found[0])
    return None


def _text_of(value: Any) -> str | None:
    """A structured-data value as one line of text: publishers put lists and objects where text belongs."""
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    if isinstance(value, list):
        value = ", ".join(filter(None, (_text_of(v) for v in value)))
    return normalize_text(value) or None if isinstance(value, str) else None


def _authors(ld: dict[str, Any]) -> str | None:
    raw = ld.get("author")
    people = raw if isinstance(raw, list) else [raw] if raw else []
    names = [name for name in (_text_of(p) for p in people) if name]
    return ", ".join(dict.fromkeys(names)) or None


def _root(html: bytes | str) -> Any:
    try:
        return lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError) as exc:
        raise ParseError(f"not an HTML page ({exc})") from None


def _load_tree(html: bytes | str) -> Any:
    """Parse as trafilatura does (its encoding detection beats lxml's guess on real pages)."""
    from trafilatura.utils import load_html

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = load_html(html)
    if tree is None:
        raise ParseError("not an HTML page")
    return tree


def _fallback_metadata(tree: Any, url: str) -> dict[str, Any]:
    """trafilatura's metadata (title, date, author, language): slow, so only for what the page lacks."""
    from trafilatura.metadata import extract_metadata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = extract_metadata(tree, default_url=url, extensive=False)
    return dict(found.as_dict()) if found is not None else {}


def extract_article(html: bytes | str, url: str) -> ExtractedArticle:
    """Extract one article page; raise ParseError with the reason when there is no article text."""
    if not html.strip():
        raise ParseError("empty page")
    root = _load_tree(html)
    text = main_text(root, url)
    if len(text.split()) < MIN_WORDS:
        raise ParseError("no article text found")
    ld = _json_ld(root)
    title = _text_of(ld.get("headline")) or _meta(root, "og:title", "twitter:title")
    published = (
        _parse_date(ld.get("datePublished"))
        or _parse_date(_meta(root, "article:published_time"))
        or _parse_date(next(iter(root.xpath("//time/@datetime")), None))
    )
    updated = _parse_date(ld.get("dateModified")) or _parse_date(_meta(root, "article:modified_time"))
    author = _authors(ld) or _meta(root, "author", "article:author")
    language = root.get("lang")
    if not (title and published and author and language):
        found = _fallback_metadata(root, url)
        title = title or _text_of(found.get("title"))
        published = published or _parse_date(found.get("date"))
        author = author or _text_of(found.get("author"))
        language = language or found.get("language")
    first, _, rest = text.partition("\n\n")
    if rest and first == title:  # the headline repeated as the first paragraph
        text = rest
    return ExtractedArticle(title or "", text, author, published, updated, language)


def _is_article_link(href: str, base_host: str) -> bool:
    parts = urlsplit(href)
    if parts.scheme not in ("http", "https") or (parts.hostname or "").removeprefix("www.") != base_host:
        return False
    path = parts.path
    if _NOT_ARTICLE.search(path):
        return False
    return bool(_DATED_PATH.search(path) or _ID_SLUG.search(path))


def extract_links(html: bytes | str, base_url: str) -> list[str]:
    """Article links of a listing or section page: absolute, canonical, de-duplicated, in page order.

    Links inside <nav>, <header>, <footer> and <aside> are skipped; the rest count when their URL looks
    like an article's (a /YYYY/MM/DD/ path, or a long slug ending in an id) on the page's own site.
    """
    root = _root(html)
    base_host = (urlsplit(base_url).hostname or "").removeprefix("www.")
    seen: dict[str, None] = {}
    for anchor in root.xpath("//a[@href]"):
        if anchor.xpath("ancestor::nav or ancestor::header or ancestor::footer or ancestor::aside"):
            continue
        try:  # a hostile href ("http://[bad/") must cost one link, not the listing
            href = urljoin(base_url, anchor.get("href").strip())
            is_article = _is_article_link(href, base_host)
        except ValueError:
            continue
        if is_article:
            seen.setdefault(
                canonical_url(href).replace("://", "://www.", 1)
                if "://www." in href
                else canonical_url(href),
                None,
            )
    return list(seen)


def looks_like_listing(html: bytes | str, url: str) -> bool:
    """A page is a listing when it links to two or more articles and does not say it is an article."""
    root = _root(html)
    if root.xpath('//meta[@property="og:type" and @content="article"]') or _json_ld(root):
        return False
    return len(extract_links(html, url)) >= 2
