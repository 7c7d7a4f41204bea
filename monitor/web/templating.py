"""The pages' templates: the Jinja environment, its filters, and the page (or error page) they render."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from monitor.encode import safe_href

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("monitor.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)


def when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") + "Z"


def highlighted(snippet: str, spans: Sequence[Sequence[int]]) -> Markup:
    """The snippet, escaped, with its highlight spans in <mark>; overlapping or stray spans are tolerated."""
    out: list[str] = []
    at = 0
    for start, end in sorted((max(0, s), min(len(snippet), e)) for s, e in spans):
        if end <= at or start >= end:
            continue
        start = max(start, at)
        out.append(str(Markup.escape(snippet[at:start])))
        out.append(f"<mark>{Markup.escape(snippet[start:end])}</mark>")
        at = end
    out.append(str(Markup.escape(snippet[at:])))
    return Markup("".join(out))


_env.filters["when"] = when
_env.filters["safe_href"] = safe_href  # feed links may say javascript:; only http(s) become links


def render(request: Request, name: str, context: Mapping[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, dict(context), status_code=status)


def error_page(
    request: Request, status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    titles = {401: "Sign in needed", 404: "Not found"}
    response = render(
        request, "error.html", {"title": titles.get(status, f"Error {status}"), "message": message}, status
    )
    if headers:
        response.headers.update(headers)
    return response
