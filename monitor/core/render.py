"""Alerts as data, and their rendering: email subject/text/HTML, chat text and the webhook JSON (pure).

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
from typing import Any, Literal, get_args

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from monitor.errors import RenderError

EventType = Literal["new_story", "story_update", "new_version", "article_edit", "also_reported", "test"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
DIGEST_EVENT = "digest"
ALERT_SCHEMA = "news-monitor/alert@1"
DIGEST_SCHEMA = "news-monitor/digest@1"
TemplateKind = Literal["subject", "text", "html"]
SUBJECT_MAX = 250


# --- the alert as data ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    """The article an alert is about, at the version that matched."""

    id: int
    url: str
    title: str
    source: str
    published: datetime | None = None
    version: int = 1


@dataclass(frozen=True, slots=True)
class Outlet:
    """Another outlet's article in the same story."""

    source: str
    title: str
    url: str
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoryInfo:
    """The story the article belongs to, and the other outlets that reported it."""

    id: int
    other_outlets: tuple[Outlet, ...] = ()


@dataclass(frozen=True, slots=True)
class Snippet:
    """Plain text around the matches; `highlights` are [start, end) code-point offsets of the hits."""

    text: str
    highlights: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        for start, end in self.highlights:
            if not 0 <= start < end <= len(self.text):
                raise ValueError(
                    f"highlight ({start}, {end}) is outside the snippet of {len(self.text)} chars"
                )

    def parts(self) -> tuple[tuple[str, bool], ...]:
        """The text cut into (piece, is_hit) pieces, overlapping hits merged."""
        merged: list[list[int]] = []
        for start, end in sorted(self.highlights):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        pieces: list[tuple[str, bool]] = []
        pos = 0
        for start, end in merged:
            if start > pos:
                pieces.append((self.text[pos:start], False))
            pieces.append((self.text[start:end], True))
            pos = end
        if pos < len(self.text):
            pieces.append((self.text[pos:], False))
        return tuple(pieces)

    def marked(self, before: str = "**", after: str = "**") -> str:
        """The text with every hit wrapped in markers (markdown bold by default)."""
        return "".join(f"{before}{piece}{after}" if hit else piece for piece, hit in self.parts())

    def html(self) -> Markup:
        """The text HTML-escaped, with every hit in <mark>."""
        return Markup("").join(
            Markup("<mark>{}</mark>").format(piece) if hit else escape(piece) for piece, hit in self.parts()
        )


@dataclass(frozen=True, slots=True)
class Changes:
    """What an edit changed: words added and removed, and optionally a short diff text."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    diff: str | None = None

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.diff)


@dataclass(frozen=True, slots=True)
class AlertContext:
    """Everything one alert says: rendered for a channel, or sent as the webhook payload.

    `delivery_id` stays the same across retries so receivers can drop repeats.
    """

    event: EventType
    delivery_id: str
    watch: str
    article: ArticleInfo
    story: StoryInfo
    created_at: datetime
    terms: tuple[str, ...] = ()
    snippet: Snippet | None = None
    changes: Changes | None = None

    def __post_init__(self) -> None:
        if self.event not in EVENT_TYPES:
            raise ValueError(f"unknown alert event {self.event!r}; expected one of {', '.join(EVENT_TYPES)}")
        if not self.delivery_id:
            raise ValueError("an alert needs a delivery id")


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

DEFAULT_SUBJECT = (
    "{% if event == 'test' %}news-monitor: test message for channel {{ channel }}"
    "{% else %}[{{ watch }}] {{ label }}: {{ article.title }} ({{ article.source }})"
    "{% if event in ('new_version', 'article_edit') %} v{{ article.version }}{% endif %}{% endif %}"
)

DEFAULT_TEXT = """\
{% if event == 'test' %}
This is a test message from news-monitor for channel "{{ channel }}".
If you can read it, the channel works. Below is what a real alert looks like.

{% endif %}
{{ label }}: {{ article.title }}
{{ article.source }} · {{ article.published | when }}{% if article.version > 1 %} · version {{ article.version }}{% endif +%}
{{ article.url }}

Watch: {{ watch }}
{% if terms %}
Matched: {{ terms | join(", ") }}
{% endif %}
{% if snippet %}

  {{ snippet.marked() | wordwrap(76) | indent(2) }}
{% endif %}
{% if changes %}

Changed in version {{ article.version }}:
{% if changes.added %}
  added:   {{ changes.added | join(", ") }}
{% endif %}
{% if changes.removed %}
  removed: {{ changes.removed | join(", ") }}
{% endif %}
{% if changes.diff %}
{{ changes.diff | indent(2, first=true) }}
{% endif %}
{% endif %}
{% if story.other_outlets %}

Also reported by:
{% for outlet in story.other_outlets %}
  - {{ outlet.source }}: {{ outlet.title }} ({{ outlet.published | when }})
    {{ outlet.url }}
{% endfor %}
{% endif %}

--
news-monitor · watch "{{ watch }}" · delivery {{ delivery_id }}
"""

_HTML_ALERT = """\
<div class="alert" style="margin:0 0 24px 0">
  <div style="color:#666;font-size:13px">{{ a.label }} · watch <b>{{ a.watch }}</b></div>
  <h2 style="margin:4px 0;font-size:18px"><a href="{{ a.article.url | href }}">{{ a.article.title }}</a></h2>
  <div style="color:#444;font-size:13px">{{ a.article.source }} · {{ a.article.published | when }}
    {%- if a.article.version > 1 %} · version {{ a.article.version }}{% endif %}</div>
  {% if a.terms %}<div style="margin-top:6px;font-size:13px">Matched:
    {% for term in a.terms %}<code style="background:#eef;padding:0 3px">{{ term }}</code>{% if not loop.last %}, {% endif %}{% endfor %}</div>{% endif %}
  {% if a.snippet %}<blockquote style="margin:8px 0;padding-left:10px;border-left:3px solid #ccc;color:#333">{{ a.snippet.html() }}</blockquote>{% endif %}
  {% if a.changes %}<div style="font-size:13px">Changed in version {{ a.article.version }}:
    {% if a.changes.added %}<div>added: {% for w in a.changes.added %}<ins style="background:#dfd">{{ w }}</ins>{% if not loop.last %}, {% endif %}{% endfor %}</div>{% endif %}
    {% if a.changes.removed %}<div>removed: {% for w in a.changes.removed %}<del style="background:#fdd">{{ w }}</del>{% if not loop.last %}, {% endif %}{% endfor %}</div>{% endif %}
    {% if a.changes.diff %}<pre style="font-size:12px">{{ a.changes.diff }}</pre>{% endif %}
  </div>{% endif %}
  {% if a.story.other_outlets %}<div style="margin-top:8px;font-size:13px">Also reported by:<ul style="margin:4px 0">
    {% for outlet in a.story.other_outlets %}<li>{{ outlet.source }}: <a href="{{ outlet.url | href }}">{{ outlet.title }}</a> <span style="color:#666">({{ outlet.published | when }})</span></li>
    {% endfor %}</ul></div>{% endif %}
</div>
"""

DEFAULT_HTML = (
    """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:680px">
{% if event == 'test' %}<p>This is a test message from news-monitor for channel <b>{{ channel }}</b>.
If you can read it, the channel works. Below is what a real alert looks like.</p>{% endif %}
{% set a = alert %}"""
    + _HTML_ALERT
    + """\
<p style="color:#999;font-size:11px">news-monitor · delivery {{ delivery_id }}</p>
</body></html>
"""
)

DEFAULT_DIGEST_SUBJECT = "news-monitor: {{ headline }}"

DEFAULT_DIGEST_TEXT = """\
{{ headline }}.
{% for group in groups %}

== {{ group.watch }} ({{ group.alerts | length }}) ==
{% for a in group.alerts %}

{{ loop.index }}. {{ a.label }}: {{ a.article.title }}
   {{ a.article.source }} · {{ a.article.published | when }}{% if a.article.version > 1 %} · version {{ a.article.version }}{% endif +%}
   {{ a.article.url }}
{% if a.terms %}
   Matched: {{ a.terms | join(", ") }}
{% endif %}
{% if a.snippet %}
   {{ a.snippet.marked() | wordwrap(72) | indent(3) }}
{% endif %}
{% if a.changes and a.changes.added %}
   added: {{ a.changes.added | join(", ") }}
{% endif %}
{% if a.changes and a.changes.removed %}
   removed: {{ a.changes.removed | join(", ") }}
{% endif %}
{% if a.story.other_outlets %}
   Also reported by: {% for o in a.story.other_outlets %}{{ o.source }}{% if not loop.last %}, {% endif %}{% endfor +%}
{% endif %}
{% endfor %}
{% endfor %}

--
news-monitor · digest {{ delivery_id }}
"""

DEFAULT_DIGEST_HTML = (
    """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:680px">
<h1 style="font-size:20px">{{ headline }}</h1>
{% for group in groups %}<h2 style="font-size:16px;border-bottom:1px solid #ddd">{{ group.watch }} ({{ group.alerts | length }})</h2>
{% for a in group.alerts %}"""
    + _HTML_ALERT
    + """{% endfor %}
{% endfor %}
<p style="color:#999;font-size:11px">news-monitor · digest {{ delivery_id }}</p>
</body></html>
"""
)

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


def sample_alert(now: datetime, *, delivery_id: str = "test", watch: str = "example") -> AlertContext:
    """A realistic "test" alert for `monitor alerts test CHANNEL`."""
    text = (
        "Officials confirmed on Tuesday that the new bridge across the river will open to traffic next month."
    )
    hits = tuple((text.index(word), text.index(word) + len(word)) for word in ("bridge", "open"))
    return AlertContext(
        event="test",
        delivery_id=delivery_id,
        watch=watch,
        article=ArticleInfo(
            id=0,
            url="https://example.org/news/bridge-opens",
            title="New bridge to open next month",
            source="Example News",
            published=now,
            version=2,
        ),
        story=StoryInfo(
            id=0,
            other_outlets=(
                Outlet("Example Times", "Bridge opening date set", "https://example.com/bridge", now),
            ),
        ),
        created_at=now,
        terms=("bridge", "open"),
        snippet=Snippet(text, hits),
        changes=Changes(added=("Tuesday",), removed=("Monday",)),
    )
