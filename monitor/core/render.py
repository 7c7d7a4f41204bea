"""Alerts rendered: email subject/text/HTML, chat text and the webhook JSON (pure).

The alert as data lives in `alert_context.py` (re-exported here); the default templates are package data
in `core/templates/*.j2`, read once at import.

Templates come from the configuration, so they run in Jinja2's sandbox with StrictUndefined (a typo is
a `RenderError` naming the channel and template) and HTML autoescaping. Nothing here reads a clock:
times are formatted in the time zone the caller passes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from monitor.core.alert_context import EVENT_TYPES as EVENT_TYPES
from monitor.core.alert_context import AlertContext as AlertContext
from monitor.core.alert_context import ArticleInfo as ArticleInfo
from monitor.core.alert_context import Changes as Changes
from monitor.core.alert_context import EventType as EventType
from monitor.core.alert_context import Outlet as Outlet
from monitor.core.alert_context import Snippet as Snippet
from monitor.core.alert_context import StoryInfo as StoryInfo
from monitor.core.alert_context import sample_alert as sample_alert
from monitor.errors import RenderError

DIGEST_EVENT = "digest"
ALERT_SCHEMA = "news-monitor/alert@1"
DIGEST_SCHEMA = "news-monitor/digest@1"
TemplateKind = Literal["subject", "text", "html"]
SUBJECT_MAX = 250


@dataclass(frozen=True, slots=True)
class Templates:
    """A channel's template overrides; None keeps the default."""

    subject: str | None = None
    text: str | None = None
    html: str | None = None
    digest_subject: str | None = None
    digest_text: str | None = None
    digest_html: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered delivery (a single alert or a digest), ready for any sender."""

    delivery_id: str
    event: str  # an EventType, or "digest"
    subject: str
    text: str
    html: str
    payload: Mapping[str, Any] = field(repr=False)
    count: int = 1


# --- default templates ------------------------------------------------------------------------

_LABELS = {
    "new_story": "New",
    "story_update": "Story update",
    "new_version": "Edited",
    "article_edit": "Edit",
    "also_reported": "Also reported",
    "test": "Test",
}


def _load_template(name: str) -> str:
    """A default template shipped in monitor/core/templates/ (package data), read exactly as written."""
    return resources.files("monitor.core").joinpath("templates", name).read_text(encoding="utf-8")


_ALERT_ITEM_SLOT = "{# the alert, shared by alert.html.j2 and digest.html.j2 #}\n"
_HTML_ALERT = _load_template("alert_item.html.j2")

DEFAULT_SUBJECT = _load_template("alert.subject.j2")
DEFAULT_TEXT = _load_template("alert.text.j2")
DEFAULT_HTML = _load_template("alert.html.j2").replace(_ALERT_ITEM_SLOT, _HTML_ALERT)
DEFAULT_DIGEST_SUBJECT = _load_template("digest.subject.j2")
DEFAULT_DIGEST_TEXT = _load_template("digest.text.j2")
DEFAULT_DIGEST_HTML = _load_template("digest.html.j2").replace(_ALERT_ITEM_SLOT, _HTML_ALERT)

_DEFAULTS: dict[tuple[bool, TemplateKind], str] = {
    (False, "subject"): DEFAULT_SUBJECT,
    (False, "text"): DEFAULT_TEXT,
    (False, "html"): DEFAULT_HTML,
    (True, "subject"): DEFAULT_DIGEST_SUBJECT,
    (True, "text"): DEFAULT_DIGEST_TEXT,
    (True, "html"): DEFAULT_DIGEST_HTML,
}


# --- environments -----------------------------------------------------------------------------


def format_when(value: datetime | None, tz: tzinfo = UTC) -> str:
    """A time as "2024-10-18 14:05 CEST" in the given zone (naive times are UTC)."""
    if value is None:
        return "time unknown"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z").strip()


def safe_href(url: str) -> str:
    """A link target for HTML: http(s) and mailto URLs only, so a feed cannot inject `javascript:`."""
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    return url if scheme in ("http", "https", "mailto") else "#"


@jinja2.pass_context
def _when_filter(context: jinja2.runtime.Context, value: datetime | None) -> str:
    """`{{ article.published | when }}`: the time in the channel's time zone (the `tz` variable)."""
    tz = context.get("tz")
    return format_when(value, tz if isinstance(tz, tzinfo) else UTC)


@lru_cache(maxsize=2)
def _environment(html: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["when"] = _when_filter
    env.filters["href"] = safe_href
    return env


@lru_cache(maxsize=256)
def _compile(source: str, html: bool) -> jinja2.Template:
    return _environment(html).from_string(source)


def _template_name(kind: TemplateKind, digest: bool) -> str:
    names = {"subject": "subject", "text": "body", "html": "html"}
    return ("digest_" if digest else "") + names[kind]


def check_template(source: str, kind: TemplateKind, *, channel: str = "?", digest: bool = False) -> None:
    """Compile a template, raising RenderError on a syntax error (for validating configuration early)."""
    name = _template_name(kind, digest)
    try:
        _compile(source, kind == "html")
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(channel, name, exc.message or str(exc), exc.lineno) from None


def _render(
    source: str, kind: TemplateKind, variables: Mapping[str, Any], *, channel: str, digest: bool, tz: tzinfo
) -> str:
    name = _template_name(kind, digest)
    try:
        template = _compile(source, kind == "html")
        text = template.render({**variables, "tz": tz})
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(channel, name, exc.message or str(exc), exc.lineno) from None
    except jinja2.UndefinedError as exc:
        raise RenderError(channel, name, f"{exc.message} (check the variable names)") from None
    except jinja2.TemplateError as exc:
        raise RenderError(channel, name, exc.message or type(exc).__name__) from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError) as exc:
        raise RenderError(channel, name, f"{type(exc).__name__}: {exc}") from None
    if kind == "subject":
        text = " ".join(text.split())  # one line: no header injection, no stray newlines
        if len(text) > SUBJECT_MAX:
            text = text[: SUBJECT_MAX - 1].rstrip() + "…"
    return text


# --- template variables -----------------------------------------------------------------------


def _alert_vars(ctx: AlertContext) -> dict[str, Any]:
    return {
        "event": ctx.event,
        "label": _LABELS[ctx.event],
        "delivery_id": ctx.delivery_id,
        "watch": ctx.watch,
        "article": ctx.article,
        "story": ctx.story,
        "terms": ctx.terms,
        "snippet": ctx.snippet,
        "changes": ctx.changes,
        "created_at": ctx.created_at,
    }


@dataclass(frozen=True, slots=True)
class _AlertView:
    """An alert as digest templates see it (the alert's fields plus its label)."""

    event: str
    label: str
    delivery_id: str
    watch: str
    article: ArticleInfo
    story: StoryInfo
    terms: tuple[str, ...]
    snippet: Snippet | None
    changes: Changes | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class _Group:
    watch: str
    alerts: tuple[_AlertView, ...]


def _view(ctx: AlertContext) -> _AlertView:
    return _AlertView(**_alert_vars(ctx))


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def digest_headline(alerts: Sequence[AlertContext]) -> str:
    """The digest's headline: "5 new stories for watch X", "3 alerts across 2 watches" ... for a digest's subject."""
    watches = list(dict.fromkeys(a.watch for a in alerts))
    events = {a.event for a in alerts}
    if events == {"new_story"}:
        what = _plural(len(alerts), "new story", "new stories")
    elif events == {"new_version"}:
        what = _plural(len(alerts), "edited article", "edited articles")
    else:
        what = _plural(len(alerts), "alert", "alerts")
    if len(watches) == 1:
        return f"{what} for watch {watches[0]}"
    return f"{what} across {len(watches)} watches"


def digest_delivery_id(alerts: Iterable[AlertContext]) -> str:
    """A stable delivery id for a digest: the same alerts always give the same id."""
    joined = "\n".join(sorted(a.delivery_id for a in alerts))
    return "digest-" + hashlib.sha256(joined.encode()).hexdigest()[:32]


def _digest_vars(alerts: Sequence[AlertContext], delivery_id: str) -> dict[str, Any]:
    groups: dict[str, list[_AlertView]] = {}
    for ctx in alerts:
        groups.setdefault(ctx.watch, []).append(_view(ctx))
    return {
        "event": DIGEST_EVENT,
        "delivery_id": delivery_id,
        "count": len(alerts),
        "headline": digest_headline(alerts),
        "watches": tuple(groups),
        "alerts": tuple(_view(ctx) for ctx in alerts),
        "groups": tuple(_Group(watch, tuple(views)) for watch, views in groups.items()),
    }


# --- rendering --------------------------------------------------------------------------------


def _pick(templates: Templates, kind: TemplateKind, digest: bool) -> str:
    attr = ("digest_" if digest else "") + kind
    override: str | None = getattr(templates, attr)
    return override if override is not None else _DEFAULTS[(digest, kind)]


def _render_all(
    variables: dict[str, Any], templates: Templates, *, channel: str, digest: bool, tz: tzinfo
) -> tuple[str, str, str]:
    variables = {**variables, "channel": channel}
    subject = _render(
        _pick(templates, "subject", digest), "subject", variables, channel=channel, digest=digest, tz=tz
    )
    variables["subject"] = subject
    text = _render(_pick(templates, "text", digest), "text", variables, channel=channel, digest=digest, tz=tz)
    html = _render(_pick(templates, "html", digest), "html", variables, channel=channel, digest=digest, tz=tz)
    return subject, text, html


def render_alert(
    ctx: AlertContext, templates: Templates = Templates(), *, channel: str = "default", tz: tzinfo = UTC
) -> Message:
    """Render one alert for a channel: subject, text and HTML bodies, and the webhook payload."""
    variables = {**_alert_vars(ctx), "alert": _view(ctx)}
    subject, text, html = _render_all(variables, templates, channel=channel, digest=False, tz=tz)
    return Message(ctx.delivery_id, ctx.event, subject, text, html, webhook_payload(ctx))


def render_digest(
    alerts: Sequence[AlertContext],
    templates: Templates = Templates(),
    *,
    channel: str = "default",
    tz: tzinfo = UTC,
    delivery_id: str | None = None,
) -> Message:
    """Render several alerts as one message (grouped by watch); the delivery id defaults to a stable hash."""
    if not alerts:
        raise ValueError("a digest needs at least one alert")
    delivery_id = delivery_id or digest_delivery_id(alerts)
    variables = _digest_vars(alerts, delivery_id)
    subject, text, html = _render_all(variables, templates, channel=channel, digest=True, tz=tz)
    payload = webhook_payload(alerts, delivery_id=delivery_id)
    return Message(delivery_id, DIGEST_EVENT, subject, text, html, payload, count=len(alerts))


# --- webhook payload --------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _alert_payload(ctx: AlertContext) -> dict[str, Any]:
    return {
        "schema": ALERT_SCHEMA,
        "event": ctx.event,
        "delivery_id": ctx.delivery_id,
        "created_at": _iso(ctx.created_at),
        "watch": ctx.watch,
        "article": {
            "id": ctx.article.id,
            "url": ctx.article.url,
            "title": ctx.article.title,
            "source": ctx.article.source,
            "published": _iso(ctx.article.published),
            "version": ctx.article.version,
        },
        "story": {
            "id": ctx.story.id,
            "other_outlets": [
                {"source": o.source, "title": o.title, "url": o.url, "published": _iso(o.published)}
                for o in ctx.story.other_outlets
            ],
        },
        "terms": list(ctx.terms),
        "snippet": None
        if ctx.snippet is None
        else {
            "text": ctx.snippet.text,
            "highlights": [[start, end] for start, end in ctx.snippet.highlights],
            "marked": ctx.snippet.marked(),
        },
        "changes": None
        if ctx.changes is None
        else {
            "added": list(ctx.changes.added),
            "removed": list(ctx.changes.removed),
            "diff": ctx.changes.diff,
        },
    }


def webhook_payload(
    alerts: AlertContext | Sequence[AlertContext], *, delivery_id: str | None = None
) -> dict[str, Any]:
    """The documented JSON payload (docs/webhook-payload.schema.json) of one alert or of a digest.

    One alert: `{"schema": "news-monitor/alert@1", "event", "delivery_id", "watch", "article", ...}`.
    A digest: `{"schema": "news-monitor/digest@1", "event": "digest", "delivery_id", "count", "alerts": [...]}`.
    """
    if isinstance(alerts, AlertContext):
        return _alert_payload(alerts)
    if not alerts:
        raise ValueError("a digest needs at least one alert")
    return {
        "schema": DIGEST_SCHEMA,
        "event": DIGEST_EVENT,
        "delivery_id": delivery_id or digest_delivery_id(alerts),
        "created_at": _iso(max(a.created_at for a in alerts)),
        "count": len(alerts),
        "watches": list(dict.fromkeys(a.watch for a in alerts)),
        "alerts": [_alert_payload(a) for a in alerts],
    }
