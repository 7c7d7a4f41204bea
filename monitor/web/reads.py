"""The store's read models shaped as the API answers them, shared by the API, the pages and the feeds."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.core.history import History, diff_document
from monitor.core.versions import VersionDiff
from monitor.daemon import Health
from monitor.store.alerts import list_alerts
from monitor.store.archive import list_articles
from monitor.store.findings import story_detail
from monitor.store.search import SearchPage, SearchQuery, search
from monitor.store.store import Store
from monitor.web.deps import utc
from monitor.web.schemas import (
    AlertOut,
    ArticleDetail,
    ArticleOut,
    ArticlePage,
    DiffOut,
    SchedulerOut,
    SourceOut,
    StoryOut,
)


def source_rows(store: Store) -> list[SourceOut]:
    """Each configured source's health."""
    return [
        SourceOut(
            name=h.name,
            kind=h.kind.value,
            url=h.url,
            state=h.state,
            enabled=h.enabled,
            disabled_reason=h.disabled_reason,
            last_polled_at=h.last_polled_at,
            last_success_at=h.last_success_at,
            last_status=h.last_status,
            last_error=h.error,
            consecutive_errors=h.consecutive_errors,
            next_check_at=h.next_check_at,
            articles=h.articles,
            versions=h.versions,
        )
        for h in store.source_health()
    ]


def article_listing(
    store: Store, source: str | None, since: datetime | None, limit: int, offset: int
) -> ArticlePage:
    """Articles with at least one version, newest first seen first."""
    listing = list_articles(store, source, since, limit, offset)
    return ArticlePage(
        items=[ArticleOut.model_validate(item) for item in listing.items],
        total=listing.total,
        next_offset=listing.next_offset,
    )


def article_detail(found: History) -> ArticleDetail:
    return ArticleDetail.model_validate({**found.article, "versions": found.rows(), "events": found.events})


def diff_out(article_id: int, from_n: int, to_n: int, changes: VersionDiff) -> DiffOut:
    return DiffOut.model_validate(diff_document(article_id, from_n, to_n, changes))


def story_out(store: Store, story_id: int) -> StoryOut:
    """One story with its articles in first-seen order and its outlets in the order they reported it."""
    return StoryOut.model_validate(story_detail(store, story_id))


def alert_rows(store: Store, status: str | None, watch: str | None, limit: int) -> list[AlertOut]:
    return [AlertOut.model_validate(row) for row in list_alerts(store, status, watch, limit)]


def run_search(
    store: Store,
    text: str,
    *,
    sources: tuple[str, ...] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    watch: str | None = None,
    story_id: int | None = None,
    limit: int = 20,
    offset: int = 0,
) -> SearchPage:
    return search(
        store,
        SearchQuery(
            text=text,
            sources=sources,
            since=utc(since),
            until=utc(until),
            watch=watch or None,
            story_id=story_id,
            limit=limit,
            offset=offset,
        ),
    )


def scheduler_state(health: Health, tick_seconds: float, now: datetime) -> SchedulerOut:
    """The daemon is alive when it ticked within the last three ticks (or started less than that ago)."""
    window = timedelta(seconds=3 * tick_seconds)
    last = health.last_tick_at or health.started_at
    return SchedulerOut(
        alive=now - last <= window and (health.last_tick_at is not None or health.last_tick_error is None),
        roles=list(health.roles),
        worker=health.owner,
        started_at=health.started_at,
        last_tick_at=health.last_tick_at,
        last_tick_error=health.last_tick_error,
        polls=health.polls,
        in_flight=health.in_flight,
    )
