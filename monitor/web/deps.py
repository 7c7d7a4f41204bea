"""What every route reads from: the app's state (store, settings, daemon health), the shared query
parameter types, and the 404 for a filter that names nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Query, Request

from monitor.config import Settings
from monitor.daemon import Health
from monitor.errors import NotFoundError
from monitor.store.listings import require_known
from monitor.store.store import Store

API = "/api/v1"
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000_000


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
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


def utc(when: datetime | None) -> datetime | None:
    """A query's datetime as aware UTC (naive ones are taken to be UTC)."""
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def not_found(exc: NotFoundError) -> HTTPException:
    return HTTPException(status_code=404, detail=str(exc))


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


def watch_names(request: Request) -> list[str]:
    """The configured watches' names, in config order."""
    return [w.name for w in web_state(request).settings.watches]
