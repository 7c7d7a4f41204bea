"""Dry runs: try a source or a watch query and see what would be stored and alerted, writing nothing.

`try_source` fetches and parses one feed or page (optionally extracting the first entries' pages) and runs
the configured watches over each entry; `try_query` runs a watch query over the archive (a read) and groups
what it finds into stories, one alert each, as a watch would have sent them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from monitor.config import Settings, SourceConfig
from monitor.core.feeds import parse_feed_drafts
from monitor.core.match import MatchDoc, Matcher, compile_watches
from monitor.core.pageread import extract_page_text, read_page
from monitor.errors import FetchError, NotFoundError, ParseError
from monitor.fetch import Fetcher
from monitor.models import SourceKind
from monitor.store.search import SearchHit, SearchQuery, search
from monitor.store.store import Store
from monitor.watching import watch_specs

PAGE_CHECKS = 3  # entries whose pages --pages extracts


@dataclass(frozen=True)
class TriedEntry:
    """One entry as it would be stored: what the feed (or its page) says and the watches it matches."""

    title: str
    url: str
    published: datetime | None
    words: int
    watches: tuple[str, ...]
    page: str | None = None  # with --pages: "extracted N words", or why not


@dataclass(frozen=True)
class TriedSource:
    source: str
    url: str
    status: int | None
    kind: str  # feed | listing | article
    entries: tuple[TriedEntry, ...]
    links: tuple[str, ...] = ()  # a listing page's article links


def _matched(matcher: Matcher, title: str, body: str, source: SourceConfig) -> tuple[str, ...]:
    return tuple(h.watch for h in matcher.match(MatchDoc(title, body, source.name, source.tags)))


async def try_source(
    settings: Settings, source: SourceConfig, fetcher: Fetcher, *, pages: bool
) -> TriedSource:
    """Fetch and parse one source as a poll would, and match the watches; nothing is written."""
    defaults = settings.defaults
    response = await fetcher.fetch(source.url, obey_robots=source.obeys_robots(defaults))
    if response.status is None or response.status >= 400 or response.body is None:
        raise FetchError(f"{source.url}: {response.error or f'status {response.status}'}")
    matcher = compile_watches(watch_specs(settings))
    loop = asyncio.get_running_loop()
    if source.kind is SourceKind.PAGE:
        reading = await loop.run_in_executor(None, read_page, response.body, response.final_url)
        if reading.error:
            raise ParseError(f"{source.url}: {reading.error}")
        if reading.kind == "listing":
            return TriedSource(source.name, source.url, response.status, "listing", (), reading.links)
        assert reading.page is not None
        text = reading.page
        entry = TriedEntry(
            text.title,
            response.final_url,
            text.published,
            len(text.text.split()),
            _matched(matcher, text.title, text.text, source),
        )
        return TriedSource(source.name, source.url, response.status, "article", (entry,))
    headers = {"content-type": response.content_type or ""}
    _feed, drafts = await loop.run_in_executor(
        None, parse_feed_drafts, response.body, headers, response.final_url
    )
    entries: list[TriedEntry] = []
    for index, draft in enumerate(drafts):
        body = draft.body or draft.summary
        note = None
        if pages and index < PAGE_CHECKS:
            fetched = await fetcher.fetch(
                draft.url, obey_robots=source.obeys_robots_for_pages(defaults), accept="text/html,*/*;q=0.8"
            )
            if fetched.body is None or fetched.status is None or fetched.status >= 400:
                note = f"page not fetched: {fetched.error or f'status {fetched.status}'}"
            else:
                page, why = await loop.run_in_executor(
                    None, extract_page_text, fetched.body, fetched.final_url
                )
                if page is None:
                    note = f"page not extracted: {why}"
                else:
                    body = page.text
                    note = f"page: {len(page.text.split())} words"
        entries.append(
            TriedEntry(
                draft.title,
                draft.url,
                draft.published,
                len(body.split()),
                _matched(matcher, draft.title, body, source),
                note,
            )
        )
    return TriedSource(source.name, source.url, response.status, "feed", tuple(entries))


@dataclass
class WouldAlert:
    """One story a watch with this query would have flagged, with the articles it found in it."""

    story_id: int | None
    title: str
    first_seen: datetime
    outlets: list[str] = field(default_factory=list)
    articles: list[SearchHit] = field(default_factory=list)


def try_query(store: Store, query: str, since: datetime | None, limit: int) -> tuple[list[WouldAlert], int]:
    """The archive's articles the query matches (newest `limit`), grouped into stories, oldest story first."""
    page = search(store, SearchQuery(text=query, since=since, limit=limit, sort="newest"))
    stories: dict[object, WouldAlert] = {}
    for hit in sorted(page.hits, key=lambda h: (h.published or h.seen_at, h.article_id)):
        key: object = hit.story_id if hit.story_id is not None else ("article", hit.article_id)
        seen = hit.published or hit.seen_at
        story = stories.setdefault(key, WouldAlert(hit.story_id, hit.title, seen))
        story.articles.append(hit)
        if hit.source not in story.outlets:
            story.outlets.append(hit.source)
    return list(stories.values()), page.total


def source_for(settings: Settings, target: str) -> SourceConfig:
    """A configured source by name, else a feed at that URL (a page with `page`)."""
    found = settings.source(target)
    if found is not None:
        return found
    if not target.startswith(("http://", "https://")):
        raise NotFoundError(f"{target!r} is neither a source in the config nor an http(s) URL")
    return SourceConfig(name="(test)", feed=target)
