"""The read-only HTTP API (JSON under /api/v1/, described at /openapi.json), /healthz, and the app factory."""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from monitor import __version__
from monitor.config import Settings
from monitor.core.versions import VersionDiff, diff_json, diff_versions, history_rows, version_text
from monitor.daemon import Health
from monitor.errors import NotFoundError, QueryError
from monitor.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from monitor.metrics import Metrics
from monitor.store.listings import require_known
from monitor.store.repo import Store, articles, sources
from monitor.store.search import SearchPage, SearchQuery, search
from monitor.store.stories import alerts, stories, story_watches
from monitor.store.tracking import article_history
from monitor.watch_cli import list_matches, list_stories
from monitor.web.security import RangeGuard, SecurityHeaders

API = "/api/v1"
MAX_LIMIT = 500


# --- response models --------------------------------------------------------------------------------


class SourceOut(BaseModel):
    name: str
    kind: str
    url: str
    state: str = Field(description="ok, new, disabled, gone (the server answered 410) or 'failing xN'")
    enabled: bool
    disabled_reason: str | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_status: int | None
    last_error: str | None
    consecutive_errors: int
    next_check_at: datetime | None
    articles: int
    versions: int


class ArticleOut(BaseModel):
    id: int
    source: str
    url: str
    title: str
    published: datetime | None
    first_seen: datetime
    last_seen: datetime
    version_count: int
    story_id: int | None
    removed_at: datetime | None


class ArticlePage(BaseModel):
    items: list[ArticleOut]
    total: int
    next_offset: int | None


class VersionRow(BaseModel):
    n: int
    seen_at: datetime
    title: str
    words: int
    words_added: int
    words_removed: int
    headline_changed: bool
    reverts_to: int | None


class EventOut(BaseModel):
    kind: str
    detail: str | None
    at: datetime


class ArticleDetail(ArticleOut):
    versions: list[VersionRow]
    events: list[EventOut]


class VersionOut(BaseModel):
    article_id: int
    n: int
    title: str
    summary: str
    body: str
    author: str | None
    published: datetime | None
    updated: datetime | None
    tags: list[str]
    seen_at: datetime
    reverts_to: int | None = Field(description="n of the earlier version whose text this one restores")


class DiffOpOut(BaseModel):
    op: str = Field(description="equal, insert, delete or replace")
    old: str
    new: str


class DiffOut(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    article: int
    from_n: int = Field(alias="from")
    to: int
    headline_changed: bool
    title: list[DiffOpOut]
    body: list[DiffOpOut]
    words_added: int
    words_removed: int


class StoryArticle(BaseModel):
    id: int
    source: str
    title: str
    url: str
    first_seen: datetime
    published: datetime | None


class StoryOut(BaseModel):
    id: int
    title: str
    first_seen: datetime
    last_seen: datetime
    article_count: int
    outlets: list[str] = Field(description="the outlets in the order they first reported it")
    watches: list[str]
    articles: list[StoryArticle] = Field(description="first seen first")


class MatchOut(BaseModel):
    id: int
    watch: str
    created_at: datetime
    story_id: int | None
    flagged: bool
    terms: list[str]
    snippet: str
    article_id: int
    title: str
    url: str
    source: str


class AlertOut(BaseModel):
    id: int
    delivery_id: str
    story_id: int
    watch: str
    channel: str
    match_id: int
    event: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class SearchHitOut(BaseModel):
    article_id: int
    version_id: int
    version_n: int
    source: str
    url: str
    title: str
    snippet: str
    highlights: list[tuple[int, int]] = Field(description="[start, end) character spans of the snippet")
    published: datetime | None
    seen_at: datetime
    story_id: int | None
    rank: float


class SearchOut(BaseModel):
    hits: list[SearchHitOut]
    total: int
    total_capped: bool = False  # true: at least `total` articles match (counting stopped there)
    next_offset: int | None


class SchedulerOut(BaseModel):
    alive: bool
    roles: list[str] = Field(description="what this daemon does: poll, deliver, http")
    worker: str = Field(description="host:pid, as its leases name it")
    started_at: datetime
    last_tick_at: datetime | None
    last_tick_error: str | None
    polls: int
    in_flight: int


class HealthOut(BaseModel):
    status: str = Field(description="ok or degraded (answered with 503)")
    database: bool
    scheduler: SchedulerOut | None = Field(description="null when serving without the daemon")


class ErrorOut(BaseModel):
    detail: str


class QueryErrorOut(BaseModel):
    detail: str
    column: int


# --- reads shared by the API, the pages and the feeds -------------------------------------------------


def utc(when: datetime | None) -> datetime | None:
    """A query's datetime as aware UTC (naive ones are taken to be UTC)."""
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def source_rows(store: Store) -> list[SourceOut]:
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
            last_error=h.disabled_reason or h.last_error,
            consecutive_errors=h.consecutive_errors,
            next_check_at=h.next_check_at,
            articles=h.articles,
            versions=h.versions,
        )
        for h in store.source_health()
    ]


_ARTICLE_COLUMNS = (
    articles.c.id,
    sources.c.name.label("source"),
    articles.c.url,
    articles.c.title,
    articles.c.published,
    articles.c.first_seen,
    articles.c.last_seen,
    articles.c.version_count,
    articles.c.story_id,
    articles.c.removed_at,
)


def list_articles(
    store: Store, source: str | None, since: datetime | None, limit: int, offset: int
) -> ArticlePage:
    """Articles with at least one version, newest first seen first."""
    where = [articles.c.version_count > 0]
    if source:
        where.append(sources.c.name == source)
    if since:
        where.append(articles.c.first_seen >= since)
    joined = articles.join(sources, sources.c.id == articles.c.source_id)
    with store.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(joined).where(*where)).scalar_one()
        rows = conn.execute(
            sa.select(*_ARTICLE_COLUMNS)
            .select_from(joined)
            .where(*where)
            .order_by(articles.c.first_seen.desc(), articles.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    items = [ArticleOut.model_validate(dict(r._mapping)) for r in rows]
    return ArticlePage(
        items=items, total=total, next_offset=offset + limit if offset + limit < total else None
    )


@dataclass(frozen=True)
class History:
    """An article, its versions (reverts resolved to their text) and its events."""

    article: dict[str, Any]
    versions: list[dict[str, Any]]
    events: list[dict[str, Any]]

    def detail(self) -> ArticleDetail:
        return ArticleDetail.model_validate(
            {
                **self.article,
                "versions": history_rows(self.versions),
                "events": self.events,
            }
        )

    def version(self, n: int) -> dict[str, Any]:
        for version in self.versions:
            if version["n"] == n:
                return version
        known = f"it has 1-{self.versions[-1]['n']}" if self.versions else "it has no versions yet"
        raise NotFoundError(f"article {self.article['id']} has no version {n} ({known})")

    def default_pair(self, from_n: int | None, to_n: int | None) -> tuple[int, int]:
        """The versions a diff compares: given ones, else the latest and the one before it."""
        if not self.versions:
            raise NotFoundError(f"article {self.article['id']} has no versions yet")
        to_n = to_n or self.versions[-1]["n"]
        from_n = from_n or max(to_n - 1, 1)
        return from_n, to_n

    def diff(self, from_n: int, to_n: int) -> VersionDiff:
        new, old = self.version(to_n), self.version(from_n)
        return diff_versions(old["title"], version_text(old), new["title"], version_text(new))


def history(store: Store, article_id: int) -> History:
    article, versions, events = article_history(store, article_id)
    return History(article, versions, events)


def diff_out(article_id: int, from_n: int, to_n: int, changes: VersionDiff) -> DiffOut:
    return DiffOut(
        article=article_id,
        from_n=from_n,
        to=to_n,
        headline_changed=changes.headline_changed,
        title=[DiffOpOut.model_validate(op) for op in diff_json(changes.title)],
        body=[DiffOpOut.model_validate(op) for op in diff_json(changes.body)],
        words_added=changes.title.added + changes.body.added,
        words_removed=changes.title.removed + changes.body.removed,
    )


def story_detail(store: Store, story_id: int) -> StoryOut:
    """One story with its articles in first-seen order and its outlets in the order they reported it."""
    with store.read() as conn:
        row = conn.execute(sa.select(stories).where(stories.c.id == story_id)).first()
        if row is None:
            raise NotFoundError(f"no story {story_id}")
        members = [
            StoryArticle.model_validate(dict(r._mapping))
            for r in conn.execute(
                sa.select(
                    articles.c.id,
                    sources.c.name.label("source"),
                    articles.c.title,
                    articles.c.url,
                    articles.c.first_seen,
                    articles.c.published,
                )
                .join(sources, sources.c.id == articles.c.source_id)
                .where(articles.c.story_id == story_id)
                .order_by(articles.c.first_seen, articles.c.id)
            )
        ]
        watches = sorted(
            conn.execute(
                sa.select(story_watches.c.watch).where(story_watches.c.story_id == story_id)
            ).scalars()
        )
    return StoryOut(
        id=row.id,
        title=row.title,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        article_count=row.article_count,
        outlets=list(dict.fromkeys(a.source for a in members)),
        watches=watches,
        articles=members,
    )


def list_alerts(store: Store, status: str | None, watch: str | None, limit: int) -> list[AlertOut]:
    query = sa.select(alerts).order_by(alerts.c.created_at.desc(), alerts.c.id.desc()).limit(limit)
    if status:
        query = query.where(alerts.c.status == status)
    if watch:
        query = query.where(alerts.c.watch == watch)
    with store.read() as conn:
        return [AlertOut.model_validate(dict(r._mapping)) for r in conn.execute(query)]


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


def database_alive(store: Store) -> bool:
    try:
        with store.read() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception:
        return False
    return True


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


# --- dependencies ---------------------------------------------------------------------------------


@dataclass
class WebState:
    """What the app serves from, kept on app.state.web."""

    store: Store
    settings: Settings
    health: Health | None
    tick_seconds: float
    token: str | None
    base_url: str | None = None  # where this site is reached, for Atom self links (never the Host header)


def web_state(request: Request) -> WebState:
    return cast(WebState, request.app.state.web)


def get_store(request: Request) -> Store:
    return web_state(request).store


StoreDep = Annotated[Store, Depends(get_store)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
MAX_OFFSET = 1_000_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


def not_found(exc: NotFoundError) -> HTTPException:
    return HTTPException(status_code=404, detail=str(exc))


# --- the API --------------------------------------------------------------------------------------

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
    return list_articles(store, source, utc(since), limit, offset)


@api.get("/articles/{article_id}", response_model=ArticleDetail, responses=_404, tags=["articles"])
def get_article(store: StoreDep, article_id: int) -> ArticleDetail:
    """An article with its versions (words added/removed, headline changes) and its events."""
    try:
        return history(store, article_id).detail()
    except NotFoundError as exc:
        raise not_found(exc) from None


@api.get("/articles/{article_id}/versions/{n}", response_model=VersionOut, responses=_404, tags=["articles"])
def get_version(store: StoreDep, article_id: int, n: int) -> VersionOut:
    """One version's full text (a revert carries the text of the version it restores)."""
    try:
        return VersionOut.model_validate(history(store, article_id).version(n))
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
        found = history(store, article_id)
        old, new = found.default_pair(from_n, to_n)
        return diff_out(article_id, old, new, found.diff(old, new))
    except NotFoundError as exc:
        raise not_found(exc) from None


def known_filters(request: Request, sources: Sequence[str] = (), watches: Sequence[str] = ()) -> None:
    """404 naming every source or watch a filter names that exists neither in the config nor the archive."""
    state = web_state(request)
    try:
        require_known(
            state.store,
            sources=sources,
            watches=watches,
            configured_sources=[s.name for s in state.settings.sources],
            configured_watches=[w.name for w in state.settings.watches],
        )
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
        return story_detail(store, story_id)
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
    return list_alerts(store, status, watch, limit)


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


# --- the token guard ------------------------------------------------------------------------------

_MACHINE_PREFIXES = (API + "/", "/feeds/", "/openapi.json", "/metrics")


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class TokenGuard:
    """Require `Authorization: Bearer T` (or the `token` cookie) everywhere but /healthz.

    A browser visits /?token=T once: the token goes into an HttpOnly cookie and the URL is cleaned. Feed
    readers, which cannot send headers, may put ?token=T in a feed's URL.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path
        query_token = request.query_params.get("token")
        page = not path.startswith(_MACHINE_PREFIXES)
        if query_token is not None and page:
            if not token_matches(query_token, self.token):
                await self._refuse(request)(scope, receive, send)
                return
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            redirect = RedirectResponse(path + ("?" + urlencode(rest) if rest else ""), status_code=303)
            redirect.set_cookie("token", self.token, httponly=True, samesite="strict", path="/")
            await redirect(scope, receive, send)
            return
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else request.cookies.get("token")
        feed_reader = path.startswith("/feeds/") and token_matches(query_token, self.token)
        if feed_reader or token_matches(given, self.token):
            await self.app(scope, receive, send)
            return
        await self._refuse(request)(scope, receive, send)

    def _refuse(self, request: Request) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="news-monitor"'}
        message = "a valid bearer token is required (Authorization: Bearer TOKEN)"
        if request.url.path.startswith(_MACHINE_PREFIXES):
            return JSONResponse({"detail": message}, status_code=401, headers=headers)
        from monitor.web.pages import error_page

        return error_page(request, 401, "Open this site once as /?token=TOKEN to sign in.", headers=headers)


# --- the factory ----------------------------------------------------------------------------------


def create_app(
    store: Store,
    settings: Settings,
    *,
    token: str | None,
    health: Health | None,
    tick_seconds: float = 1.0,
    metrics: Metrics | None = None,
    base_url: str | None = None,
) -> FastAPI:
    """The web app: JSON API, Atom feeds and pages over one store; `health` and `metrics` from the daemon."""
    from monitor.web import feeds, pages

    app = FastAPIOffline(
        title="news-monitor",
        version=__version__,
        description="Read-only API over the news archive: sources, articles and their versions, word "
        "diffs, stories, watch matches, alerts and full-text search.",
    )
    app.state.web = WebState(
        store, settings, health, tick_seconds, token or None, _with_slash(base_url or settings.base_url)
    )
    app.state.metrics = metrics or Metrics(store, role="serve")
    app.include_router(health_router)
    app.include_router(api)
    app.include_router(feeds.router)
    app.include_router(pages.router)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if request.url.path.startswith((*_MACHINE_PREFIXES, "/healthz", "/docs", "/redoc")):
            return await http_exception_handler(request, exc)
        return pages.error_page(request, exc.status_code, str(exc.detail))

    app.add_exception_handler(StarletteHTTPException, on_http_error)

    async def on_bad_value(request: Request, exc: Exception) -> Response:
        # A number the database cannot hold (an id of 2**63) or text it refuses (NUL on Postgres) is the
        # request's fault: 400 naming the problem, never a 500.
        text = str(getattr(exc, "orig", None) or exc)
        detail = "a parameter contains NUL" if "NUL" in text else "a number in the request is out of range"
        return await on_http_error(request, StarletteHTTPException(status_code=400, detail=detail))

    app.add_exception_handler(OverflowError, on_bad_value)
    app.add_exception_handler(sa.exc.DataError, on_bad_value)
    app.mount("/static", StaticFiles(packages=[("monitor.web", "static")]), name="static")
    if token:
        app.add_middleware(TokenGuard, token=token)
    app.add_middleware(RangeGuard)
    app.add_middleware(SecurityHeaders)
    return app


def _with_slash(url: str | None) -> str | None:
    return None if not url else url if url.endswith("/") else url + "/"


def listening_at(app: FastAPI, host: str, port: int) -> None:
    """Tell the app the address it is served on: its Atom self links use it unless base_url is set."""
    state = getattr(app.state, "web", None)
    if isinstance(state, WebState) and state.base_url is None:
        shown = f"[{host}]" if ":" in host else host
        state.base_url = f"http://{shown}:{port}/"
