"""Atom feeds a feed reader can subscribe to: one per watch (its matches) and one of article changes."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from monitor import __version__
from monitor.core.history import History
from monitor.core.versions import WordDiff
from monitor.encode import safe_href, xml_text
from monitor.store.archive import load_history, recent_changes
from monitor.store.findings import watch_feed_matches
from monitor.store.listings import unknown_watches
from monitor.store.store import Store
from monitor.web.deps import MAX_LIMIT, StoreDep, watch_names, web_state

ATOM = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
TAG = "tag:news-monitor,2024:"  # RFC 4151 ids: stable whatever host or port the server answers on
CONTEXT_WORDS = 12

ET.register_namespace("", ATOM)
router = APIRouter(prefix="/feeds", tags=["feeds"])
FeedLimit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    updated: datetime
    published: datetime | None
    author: str
    link: str
    page: str
    summary: str
    content_html: str
    categories: Sequence[str] = ()


def _el(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    # Archive text is hostile: one ESC or SOH in a title would make the whole document invalid XML.
    child = ET.SubElement(parent, f"{{{ATOM}}}{name}", {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        child.text = xml_text(text)
    return child


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom_document(
    *, feed_id: str, title: str, subtitle: str, self_url: str, site_url: str, entries: Iterable[Entry]
) -> bytes:
    """An Atom 1.0 document (RFC 4287); ElementTree does the escaping."""
    items = list(entries)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _el(feed, "id", feed_id)
    _el(feed, "title", title)
    _el(feed, "subtitle", subtitle)
    _el(feed, "updated", _when(max((e.updated for e in items), default=datetime.now(UTC))))
    _el(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _el(feed, "link", rel="alternate", type="text/html", href=site_url)
    _el(_el(feed, "author"), "name", "news-monitor")
    _el(feed, "generator", "news-monitor", version=__version__)
    for item in items:
        entry = _el(feed, "entry")
        _el(entry, "id", item.id)
        _el(entry, "title", item.title)
        _el(entry, "updated", _when(item.updated))
        if item.published:
            _el(entry, "published", _when(item.published))
        _el(_el(entry, "author"), "name", item.author)
        link = safe_href(item.link)  # a javascript: link from a feed must not become clickable
        if link:
            _el(entry, "link", rel="alternate", type="text/html", href=link)
        _el(entry, "link", rel="related", type="text/html", href=item.page)
        for term in item.categories:
            _el(entry, "category", term=term)
        _el(entry, "summary", item.summary)
        _el(entry, "content", item.content_html, type="html")
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


FALLBACK_BASE = "http://localhost/"


def _urls(request: Request) -> tuple[str, str]:
    """This feed's own URL (without a token in it) and the site's root, from base_url: never the Host header."""
    site = web_state(request).base_url or FALLBACK_BASE
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    own = (
        site
        + quote(request.url.path.lstrip("/"), safe="/@:.-_~")
        + ("?" + urlencode(params) if params else "")
    )
    return own, site


def html_diff(diff: WordDiff, context: int = CONTEXT_WORDS) -> str:
    """<del>/<ins> markup, escaped, with long unchanged runs cut to `context` words each side."""
    parts: list[str] = []
    for index, op in enumerate(diff.ops):
        if op.op == "equal":
            words = list(op.old)
            if len(words) > 2 * context:
                head = words[:context] if index else []
                tail = words[-context:] if index < len(diff.ops) - 1 else []
                words = [*head, "…", *tail]
            parts.append(html.escape(" ".join(words)))
            continue
        if op.old:
            parts.append("<del>" + html.escape(" ".join(op.old)) + "</del>")
        if op.new:
            parts.append("<ins>" + html.escape(" ".join(op.new)) + "</ins>")
    return " ".join(p for p in parts if p)


# --- a watch's matches ----------------------------------------------------------------------------


def watch_known(store: Store, request: Request, name: str) -> bool:
    """A watch that is configured or has recorded matches (one since removed from the config)."""
    return bool(name) and not unknown_watches(store, [name], watch_names(request))


@router.get("/watch/{name}.atom", response_class=Response, responses={200: {"content": {ATOM_TYPE: {}}}})
def watch_feed(request: Request, store: StoreDep, name: str, limit: FeedLimit = 50) -> Response:
    """A watch's matches, newest first: each entry is the matching article version, its snippet and terms."""
    if not watch_known(store, request, name):
        raise HTTPException(status_code=404, detail=f"no watch named {name!r}")
    own, site = _urls(request)
    entries = []
    for row in watch_feed_matches(store, name, limit):
        page = f"{site}articles/{row.article_id}?to={row.n}"
        terms = row.terms
        version = f"version {row.n}" if row.n > 1 else "new article"
        entries.append(
            Entry(
                id=f"{TAG}watch/{quote(name, safe='')}/version/{row.version_id}",
                title=row.title or row.article_title,
                updated=row.created_at,
                published=row.published,
                author=row.source,
                link=row.url,
                page=page,
                summary=row.snippet,
                content_html=(
                    f"<p>{html.escape(row.snippet)}</p>"
                    f"<p>Matched: {html.escape(', '.join(terms))}</p>"
                    f'<p>{html.escape(row.source)}, {version}: <a href="{html.escape(page)}">'
                    "versions and changes</a></p>"
                ),
                categories=terms,
            )
        )
    body = atom_document(
        feed_id=f"{TAG}watch/{quote(name, safe='')}",
        title=f"news-monitor: {name}",
        subtitle=f"Articles matching the watch {name!r}, newest first",
        self_url=own,
        site_url=site,
        entries=entries,
    )
    return Response(body, media_type=ATOM_TYPE)


# --- article changes ------------------------------------------------------------------------------


def change_entry(found: History, n: int, version_id: int, site: str) -> Entry:
    article = found.article
    new = found.version(n)
    changes = found.diff(n - 1, n)
    added = changes.title.added + changes.body.added
    removed = changes.title.removed + changes.body.removed
    notes = [f"+{added} / -{removed} words"]
    if changes.headline_changed:
        notes.append("headline changed")
    if new["reverts_to"] is not None:
        notes.append(f"back to version {new['reverts_to']}")
    summary = f"Version {n} of {article['source']}'s article: " + "; ".join(notes)
    page = f"{site}articles/{article['id']}?from={n - 1}&to={n}"
    parts = [f"<p>{html.escape(summary)}</p>"]
    if changes.headline_changed:
        parts.append(f"<h2>{html_diff(changes.title)}</h2>")
    if changes.body.changed:
        parts.append(f"<p>{html_diff(changes.body)}</p>")
    parts.append(f'<p><a href="{html.escape(page)}">All versions</a></p>')
    return Entry(
        id=f"{TAG}version/{version_id}",
        title=f"{new['title']} (version {n})",
        updated=new["seen_at"],
        published=None,
        author=article["source"],
        link=article["url"],
        page=page,
        summary=summary,
        content_html="".join(parts),
    )


@router.get("/changes.atom", response_class=Response, responses={200: {"content": {ATOM_TYPE: {}}}})
def changes_feed(request: Request, store: StoreDep, limit: FeedLimit = 50) -> Response:
    """New versions (n >= 2) of any article, newest first, with a word diff summary as content."""
    own, site = _urls(request)
    histories: dict[int, History] = {}
    entries = []
    for row in recent_changes(store, limit):
        if row.article_id not in histories:
            histories[row.article_id] = load_history(store, row.article_id)
        entries.append(change_entry(histories[row.article_id], row.n, row.version_id, site))
    body = atom_document(
        feed_id=f"{TAG}changes",
        title="news-monitor: article changes",
        subtitle="Edits to articles already seen, newest first, with what changed",
        self_url=own,
        site_url=site,
        entries=entries,
    )
    return Response(body, media_type=ATOM_TYPE)
