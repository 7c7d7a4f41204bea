"""The web app's one composition root: the API, feeds and pages routers over one store, the error pages,
the token guard and the security headers. Route modules never import this one."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from monitor import __version__
from monitor.config import Settings
from monitor.daemon import Health
from monitor.metrics import Metrics
from monitor.store.archive import BAD_VALUE_ERRORS
from monitor.store.store import Store
from monitor.web.api import api, health_router
from monitor.web.auth import MACHINE_PREFIXES, TokenGuard
from monitor.web.deps import WebState
from monitor.web.feeds import router as feeds_router
from monitor.web.pages import router as pages_router
from monitor.web.security import RangeGuard, SecurityHeaders
from monitor.web.templating import error_page


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
    app.include_router(feeds_router)
    app.include_router(pages_router)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if request.url.path.startswith((*MACHINE_PREFIXES, "/healthz", "/docs", "/redoc")):
            return await http_exception_handler(request, exc)
        return error_page(request, exc.status_code, str(exc.detail))

    app.add_exception_handler(StarletteHTTPException, on_http_error)

    async def on_bad_value(request: Request, exc: Exception) -> Response:
        # A number the database cannot hold (an id of 2**63) or text it refuses (NUL on Postgres) is the
        # request's fault: 400 naming the problem, never a 500.
        text = str(getattr(exc, "orig", None) or exc)
        detail = "a parameter contains NUL" if "NUL" in text else "a number in the request is out of range"
        return await on_http_error(request, StarletteHTTPException(status_code=400, detail=detail))

    for error in BAD_VALUE_ERRORS:
        app.add_exception_handler(error, on_bad_value)
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
