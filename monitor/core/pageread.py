"""Read a fetched page: a listing's article links or one article's text (pure; runs in parse workers)."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.core.extract import extract_article, extract_links, looks_like_listing
from monitor.core.track import PageText
from monitor.errors import ParseError
from monitor.models import crosses_processes


@crosses_processes
@dataclass(frozen=True, slots=True)
class PageReading:
    """A fetched page read as a listing (its article links) or as one article (its text)."""

    kind: str  # "listing" | "article"
    links: tuple[str, ...] = ()
    page: PageText | None = None
    error: str | None = None


def extract_page_text(body: bytes, url: str) -> tuple[PageText | None, str | None]:
    """Extract an article page; (text, None) or (None, why not). Runs in a parse worker."""
    try:
        found = extract_article(body, url)
    except ParseError as exc:
        return None, str(exc)
    if not found.text.strip():
        return None, "no article text found"
    return found, None


def read_page(body: bytes, url: str) -> PageReading:
    """Read a `page:` source: a listing yields its article links, anything else is one article."""
    try:
        listing = looks_like_listing(body, url)
    except ParseError as exc:
        return PageReading("article", error=str(exc))
    if listing:
        return PageReading("listing", links=tuple(extract_links(body, url)))
    page, error = extract_page_text(body, url)
    return PageReading("article", page=page, error=error)
