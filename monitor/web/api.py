"""The read-only JSON API under /api/v1/ (described at /openapi.json), /healthz and /metrics."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer

from monitor.errors import NotFoundError, QueryError
from monitor.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from monitor.metrics import Metrics
from monitor.store.archive import database_alive, load_history
from monitor.store.findings import list_matches, list_stories
from monitor.web.deps import API, Limit, Offset, StoreDep, known_filters, not_found, utc, web_state
from monitor.web.reads import (
    alert_rows,
    article_detail,
    article_listing,
    diff_out,
    run_search,
    scheduler_state,
    source_rows,
    story_out,
)
from monitor.web.schemas import (
    AlertOut,
    ArticleDetail,
    ArticlePage,
    DiffOut,
    ErrorOut,
    HealthOut,
    MatchOut,
    QueryErrorOut,
    SearchHitOut,
    SearchOut,
    SourceOut,
    StoryOut,
    VersionOut,
)

# Documents the optional bearer token in the OpenAPI description; TokenGuard enforces it.
api = APIRouter(prefix=API, dependencies=[Security(HTTPBearer(auto_error=False))])
_404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "Not found"}}


@api.get("/sources", response_model=list[SourceOut], tags=["sources"])
def get_sources(store: StoreDep) -> list[SourceOut]:
    """Each configured source's health: state, last poll, status, errors, next check, counts."""
    return source_rows(store)


@api.get("/articles", response_model=ArticlePage, responses=_404, tags=["articles"])
def get_articles(
    request: Request,
    store: StoreDep,
    source: str | None = None,
    since: Annotated[datetime | None, Query(description="first seen at or after (ISO 8601, UTC)")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ArticlePage:
    """Articles, newest first seen first."""
    known_filters(request, [source] if source else ())
    return article_listing(store, source, utc(since), limit, offset)


@api.get("/articles/{article_id}", response_model=ArticleDetail, responses=_404, tags=["articles"])
def get_article(store: StoreDep, article_id: int) -> ArticleDetail:
    """An article with its versions (words added/removed, headline changes) and its events."""
    try:
        return article_detail(load_history(store, article_id))
    except NotFoundError as exc:
        raise not_found(exc) from None


@api.get("/articles/{article_id}/versions/{n}", response_model=VersionOut, responses=_404, tags=["articles"])
def get_version(store: StoreDep, article_id: int, n: int) -> VersionOut:
    """One version's full text (a revert carries the text of the version it restores)."""
    try:
        return VersionOut.model_validate(load_history(store, article_id).version(n))
    except NotFoundError as exc:
        raise not_found(exc) from None


@api.get("/articles/{article_id}/diff", response_model=DiffOut, responses=_404, tags=["articles"])
def get_diff(
    store: StoreDep,
    article_id: int,
    from_n: Annotated[
        int | None, Query(alias="from", ge=1, description="default: the one before `to`")
    ] = None,
    to_n: Annotated[int | None, Query(alias="to", ge=1, description="default: the latest")] = None,
) -> DiffOut:
    """Word-level diff between two versions of an article, title and text, with word counts."""
    try:
        found = load_history(store, article_id)
        old, new = found.default_pair(from_n, to_n)
        return diff_out(article_id, old, new, found.diff(old, new))
    except NotFoundError as exc:
        raise not_found(exc) from None


@api.get("/stories", response_model=list[StoryOut], responses=_404, tags=["stories"])
def get_stories(
    request: Request,
    store: StoreDep,
    watch: str | None = None,
    source: Annotated[list[str] | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="first seen at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="first seen before (ISO 8601)")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[StoryOut]:
    """Stories, newest first, with their outlets in order; ?watch= only those that watch flagged."""
    known_filters(request, source or (), [watch] if watch else ())
    rows = list_stories(
        store, watch, limit, offset=offset, sources_=tuple(source or ()), since=utc(since), until=utc(until)
    )
    return [StoryOut.model_validate(r) for r in rows]


@api.get("/stories/{story_id}", response_model=StoryOut, responses=_404, tags=["stories"])
def get_story(store: StoreDep, story_id: int) -> StoryOut:
    try:
        return story_out(store, story_id)
    except NotFoundError as exc:
        raise not_found(exc) from None


@api.get("/matches", response_model=list[MatchOut], responses=_404, tags=["watches"])
def get_matches(
    request: Request, store: StoreDep, watch: str | None = None, limit: Limit = 100
) -> list[MatchOut]:
    """Watch matches, newest first."""
    known_filters(request, (), [watch] if watch else ())
    return [MatchOut.model_validate(r) for r in list_matches(store, watch, limit)]


@api.get("/alerts", response_model=list[AlertOut], responses=_404, tags=["watches"])
def get_alerts(
    request: Request,
    store: StoreDep,
    status: Annotated[str | None, Query(pattern="^(pending|sent|failed)$")] = None,
    watch: str | None = None,
    limit: Limit = 100,
) -> list[AlertOut]:
    """The alert outbox, newest first."""
    known_filters(request, (), [watch] if watch else ())
    return alert_rows(store, status, watch, limit)


@api.get(
    "/search",
    response_model=SearchOut,
    responses={400: {"model": QueryErrorOut, "description": "The query does not parse"}, **_404},
    tags=["search"],
)
def get_search(
    request: Request,
    store: StoreDep,
    q: Annotated[str, Query(min_length=1, description="watch query language")],
    source: Annotated[list[str] | None, Query()] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    watch: str | None = None,
    story: int | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> SearchOut | JSONResponse:
    """Full-text search over every version, one hit per article, best first."""
    known_filters(request, source or (), [watch] if watch else ())
    try:
        page = run_search(
            store,
            q,
            sources=tuple(source or ()),
            since=since,
            until=until,
            watch=watch,
            story_id=story,
            limit=limit,
            offset=offset,
        )
    except QueryError as exc:
        return JSONResponse({"detail": exc.message, "column": exc.column}, status_code=400)
    return SearchOut(
        hits=[SearchHitOut.model_validate(dataclasses.asdict(h)) for h in page.hits],
        total=page.total,
        total_capped=page.total_capped,
        next_offset=page.next_offset,
        index_pending=page.lag.pending,
        index_behind_seconds=round(page.lag.seconds, 1),
    )


health_router = APIRouter()


@health_router.get(
    "/healthz",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "degraded"}},
    tags=["health"],
)
def get_healthz(request: Request, response: Response) -> HealthOut:
    """Whether the database answers and (under the daemon) the scheduler ticks. Never needs the token."""
    state = web_state(request)
    database = database_alive(state.store)
    scheduler = scheduler_state(state.health, state.tick_seconds, datetime.now(UTC)) if state.health else None
    ok = database and (scheduler is None or scheduler.alive)
    if not ok:
        response.status_code = 503
    return HealthOut(status="ok" if ok else "degraded", database=database, scheduler=scheduler)


@health_router.get("/metrics", include_in_schema=False)
def get_metrics(request: Request) -> Response:
    """Prometheus text format; behind the token like the API."""
    metrics = cast(Metrics, request.app.state.metrics)
    return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)
