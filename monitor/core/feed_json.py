"""JSON Feed (jsonfeed.org) bytes -> a ParsedFeed, which neither XML parser reads (pure).

Its items go through the same text step as the XML paths (`core/feed_fields.html_to_text`): some feeds
put HTML in both content_html and content_text, so either is read as HTML.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from monitor.core.feed_fields import html_to_text, resolve_url
from monitor.core.normalize import normalize_text
from monitor.models import FeedEntry, ParsedFeed


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
                url=resolve_url(base_url, link) if link.strip() else None,
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
        link=resolve_url(base_url, home) if isinstance(home, str) and home else None,
        entries=tuple(entries),
    )
