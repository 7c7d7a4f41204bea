"""Server-rendered pages: search, an article's versions and diffs, stories with their outlets, source health."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from monitor.core.versions import render_html
from monitor.errors import NotFoundError, QueryError
from monitor.store.archive import load_history
from monitor.store.findings import list_matches, list_stories
from monitor.store.listings import archive_gauges
from monitor.store.search import SearchPage
from monitor.web.deps import StoreDep, known_filters, watch_names, web_state
from monitor.web.reads import alert_rows, article_detail, article_listing, run_search, source_rows, story_out
from monitor.web.templating import highlighted, render

PAGE_SIZE = 20
MAX_ROWS = 200
STORY_LIMIT = 100

router = APIRouter(include_in_schema=False)


def _day(text: str, field: str, *, end: bool = False) -> datetime:
    """A form's YYYY-MM-DD (or full ISO time) as UTC; `end` makes a bare date inclusive of that day."""
    try:
        if len(text) == 10:
            start = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not a date (YYYY-MM-DD)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@router.get("/", response_class=HTMLResponse)
def search_page(
    request: Request,
    store: StoreDep,
    q: str = "",
    source: str = "",
    since: str = "",
    until: str = "",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """The dashboard (no query) or the search results, with the hit terms highlighted in each snippet."""
    if not (q.strip() or source or since or until or offset):
        return dashboard_page(request, store)
    form = {"q": q, "source": source, "since": since, "until": until}
    page: SearchPage | None = None
    error: str | None = None
    caret: int | None = None
    if q.strip():
        try:
            page = run_search(
                store,
                q,
                sources=(source,) if source else (),
                since=_day(since, "since") if since else None,
                until=_day(until, "until", end=True) if until else None,
                limit=PAGE_SIZE,
                offset=offset,
            )
        except QueryError as exc:
            error, caret = f"{exc.message} at column {exc.column}", exc.column
        except ValueError as exc:
            error = str(exc)
    links = {}
    if page is not None:
        active = {k: v for k, v in form.items() if v}
        if page.next_offset is not None:
            links["next"] = "/?" + urlencode({**active, "offset": page.next_offset})
        if offset:
            links["previous"] = "/?" + urlencode({**active, "offset": max(0, offset - PAGE_SIZE)})
    return render(
        request,
        "search.html",
        {
            "title": f"{q} - search" if q else "Search",
            "form": form,
            "sources": [s.name for s in source_rows(store)],
            "page": page,
            "offset": offset,
            "error": error,
            "caret": caret,
            "links": links,
            "highlighted": highlighted,
        },
    )


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article_page(
    request: Request,
    store: StoreDep,
    article_id: int,
    from_n: Annotated[int | None, Query(alias="from", ge=1)] = None,
    to_n: Annotated[int | None, Query(alias="to", ge=1)] = None,
) -> HTMLResponse:
    """An article's versions and the highlighted diff of two of them (default: the last two)."""
    try:
        found = load_history(store, article_id)
        detail = article_detail(found)
        diff = None
        pair = None
        if len(found.versions) > 1 or (from_n or to_n):
            pair = found.default_pair(from_n, to_n)
            changes = found.diff(*pair)
            diff = {
                "headline_changed": changes.headline_changed,
                "title": Markup(render_html(changes.title)),
                "body": Markup(render_html(changes.body)),
                "added": changes.title.added + changes.body.added,
                "removed": changes.title.removed + changes.body.removed,
                "changed": changes.title.changed or changes.body.changed,
            }
        latest = found.versions[-1] if found.versions else None
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return render(
        request,
        "article.html",
        {
            "title": detail.title,
            "article": detail,
            "diff": diff,
            "pair": pair,
            "latest": latest,
        },
    )


@router.get("/stories", response_class=HTMLResponse)
def stories_page(
    request: Request, store: StoreDep, watch: str = "", offset: Annotated[int, Query(ge=0)] = 0
) -> HTMLResponse:
    """Stories, newest first (as `monitor stories`), each with its outlets in the order they reported it."""
    known_filters(request, (), [watch] if watch else ())
    rows = list_stories(store, watch or None, STORY_LIMIT + 1, offset=offset)
    links = {}
    base = {"watch": watch} if watch else {}
    if len(rows) > STORY_LIMIT:
        rows = rows[:STORY_LIMIT]
        links["older"] = "/stories?" + urlencode({**base, "offset": offset + STORY_LIMIT})
    if offset:
        links["newer"] = "/stories?" + urlencode({**base, "offset": max(0, offset - STORY_LIMIT)})
    return render(
        request, "stories.html", {"title": "Stories", "stories": rows, "watch": watch, "links": links}
    )


@router.get("/stories/{story_id}", response_class=HTMLResponse)
def story_page(request: Request, store: StoreDep, story_id: int) -> HTMLResponse:
    try:
        story = story_out(store, story_id)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return render(request, "story.html", {"title": story.title, "story": story})


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request, store: StoreDep) -> HTMLResponse:
    """Each source's health."""
    watches = watch_names(request)
    return render(
        request, "sources.html", {"title": "Sources", "sources": source_rows(store), "watches": watches}
    )


DASHBOARD_STORIES = 5  # per watch
DASHBOARD_ALERTS = 20
WATCH_PAGE_ROWS = 50
ALERT_STATUSES = ("pending", "failed", "sent")


def dashboard_page(request: Request, store: StoreDep) -> HTMLResponse:
    """What needs a look, without a search: flagged stories per watch, alerts waiting or failed, sources in error."""
    watches = [
        {"name": name, "stories": list_stories(store, name, DASHBOARD_STORIES)}
        for name in watch_names(request)
    ]
    sources = source_rows(store)
    return render(
        request,
        "dashboard.html",
        {
            "title": "Dashboard",
            "form": {"q": "", "source": "", "since": "", "until": ""},
            "sources": [s.name for s in sources],
            "watches": watches,
            "pending": alert_rows(store, "pending", None, DASHBOARD_ALERTS),
            "failed": alert_rows(store, "failed", None, DASHBOARD_ALERTS),
            "erring": [s for s in sources if s.state not in ("ok", "new")],
        },
    )


@router.get("/watches", response_class=HTMLResponse)
def watches_page(request: Request, store: StoreDep) -> HTMLResponse:
    """Each configured watch: its query, its channels and how much it found."""
    counts = archive_gauges(store)
    rows = [
        {
            "name": w.name,
            "query": w.query,
            "channels": list(w.channels),
            "matches": counts.matches.get(w.name, 0),
            "alerts": sum(n for (name, _), n in counts.alerts.items() if name == w.name),
        }
        for w in web_state(request).settings.watches
    ]
    return render(request, "watches.html", {"title": "Watches", "watches": rows})


@router.get("/watches/{name}", response_class=HTMLResponse)
def watch_page(request: Request, store: StoreDep, name: str) -> HTMLResponse:
    """One watch's recent matches and the stories it flagged."""
    known_filters(request, (), [name])
    config = next((w for w in web_state(request).settings.watches if w.name == name), None)
    return render(
        request,
        "watch.html",
        {
            "title": f"Watch {name}",
            "name": name,
            "config": config,
            "matches": list_matches(store, name, WATCH_PAGE_ROWS),
            "stories": list_stories(store, name, WATCH_PAGE_ROWS),
        },
    )


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, store: StoreDep, status: str = "", watch: str = "") -> HTMLResponse:
    """The outbox, newest first, by status; a failed alert shows the command that retries it."""
    if status and status not in ALERT_STATUSES:
        raise HTTPException(
            status_code=404, detail=f"no alert status {status!r} (use {', '.join(ALERT_STATUSES)})"
        )
    known_filters(request, (), [watch] if watch else ())
    rows = alert_rows(store, status or None, watch or None, MAX_ROWS)
    return render(
        request,
        "alerts.html",
        {"title": "Alerts", "alerts": rows, "status": status, "watch": watch, "statuses": ALERT_STATUSES},
    )


@router.get("/sources/{name}", response_class=HTMLResponse)
def source_page(
    request: Request, store: StoreDep, name: str, offset: Annotated[int, Query(ge=0)] = 0
) -> HTMLResponse:
    """One source's health and its articles, newest first."""
    known_filters(request, [name], ())
    health = next((s for s in source_rows(store) if s.name == name), None)
    listing = article_listing(store, name, None, PAGE_SIZE, offset)
    links = {}
    if listing.next_offset is not None:
        links["older"] = f"/sources/{quote(name)}?offset={listing.next_offset}"
    if offset:
        links["newer"] = f"/sources/{quote(name)}?offset={max(0, offset - PAGE_SIZE)}"
    return render(
        request,
        "source.html",
        {"title": name, "name": name, "health": health, "listing": listing, "offset": offset, "links": links},
    )
