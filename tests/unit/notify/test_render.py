"""Rendering alerts: default templates show every field, overrides, sandbox and errors, digests, the payload schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from monitor.core.render import (
    ArticleInfo,
    Changes,
    Snippet,
    StoryInfo,
    Templates,
    check_template,
    digest_delivery_id,
    render_alert,
    render_digest,
    sample_alert,
    webhook_payload,
)
from monitor.errors import MonitorError, RenderError
from tests.fixtures.alerts import NOW, SCHEMA_PATH, make_alert

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_default_text_shows_every_field() -> None:
    message = render_alert(make_alert(), channel="ops", tz=BERLIN)
    text = message.text
    for expected in (
        "Edited: Grain corridor to stay open",
        "Kyiv Post · 2024-10-18 11:30 CEST · version 3",  # 09:30 UTC in Berlin summer time
        "https://kyiv.example/news/grain-corridor?id=1&src=rss",
        "Watch: grain exports",
        "Matched: grain, corridor",
        "the **grain** **corridor** will",
        "added:   winter, Friday",
        "removed: autumn",
        "Also reported by:",
        "- Reuters: Ukraine grain route stays open (2024-10-18 10:00 CEST)",
        "https://reuters.example/a",
        "- Meduza: Зерновой коридор продлён (time unknown)",
        "delivery alert-42-7-3",
    ):
        assert expected in text, expected
    assert message.subject == "[grain exports] Edited: Grain corridor to stay open (Kyiv Post) v3"
    assert message.event == "new_version" and message.delivery_id == "alert-42-7-3"


def test_default_html_shows_every_field() -> None:
    html = render_alert(make_alert(), channel="ops", tz=BERLIN).html
    for expected in (
        '<a href="https://kyiv.example/news/grain-corridor?id=1&amp;src=rss">Grain corridor to stay open</a>',
        "Kyiv Post · 2024-10-18 11:30 CEST · version 3",
        "watch <b>grain exports</b>",
        "<code",
        ">grain</code>",
        "the <mark>grain</mark> <mark>corridor</mark> will stay open",
        '<ins style="background:#dfd">winter</ins>',
        '<del style="background:#fdd">autumn</del>',
        '<a href="https://reuters.example/a">Ukraine grain route stays open</a>',
        "Зерновой коридор продлён",
        "<title>[grain exports] Edited: Grain corridor to stay open (Kyiv Post) v3</title>",
    ):
        assert expected in html, expected


def test_a_new_story_without_extras_renders_cleanly() -> None:
    alert = make_alert(
        event="new_story",
        article=ArticleInfo(id=1, url="https://x.example/1", title="Port reopens", source="Odesa Daily"),
        story=StoryInfo(id=1),
        terms=(),
        snippet=None,
        changes=None,
    )
    message = render_alert(alert)
    assert message.subject == "[grain exports] New: Port reopens (Odesa Daily)"
    assert "Also reported by" not in message.text and "Changed" not in message.text
    assert "Matched" not in message.text and "<mark>" not in message.html
    assert "Odesa Daily · time unknown\nhttps://x.example/1\n" in message.text
    assert "\n\n\n" not in message.text


def test_html_is_escaped_but_text_is_not() -> None:
    article = ArticleInfo(
        id=1, url="javascript:alert(1)", title="<script>alert('x')</script> & co", source="A<b>"
    )
    snippet = Snippet("x <img src=x onerror=alert(1)> grain", ((31, 36),))
    message = render_alert(make_alert(article=article, snippet=snippet))
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in message.html
    assert "&lt;img src=x onerror=alert(1)&gt; <mark>grain</mark>" in message.html
    assert 'href="#"' in message.html and "javascript:" not in message.html
    assert "<script>alert('x')</script> & co" in message.text


def test_overrides_replace_the_defaults() -> None:
    templates = Templates(
        subject="{{ watch | upper }}: {{ article.title }}",
        text="{{ article.title }} <{{ article.url }}> {{ terms | join('+') }} {{ snippet.marked('[', ']') }}",
        html="<p>{{ article.title }} {{ snippet.html() }}</p>",
    )
    alert = make_alert(article=ArticleInfo(id=1, url="https://u.example", title="A & B", source="S"))
    message = render_alert(alert, templates, channel="custom")
    assert message.subject == "GRAIN EXPORTS: A & B"
    assert message.text.startswith("A & B <https://u.example> grain+corridor ")
    assert "[grain] [corridor]" in message.text
    assert message.html.startswith("<p>A &amp; B ") and "<mark>grain</mark>" in message.html


def test_subject_is_one_line_and_bounded() -> None:
    templates = Templates(subject="line one\nline two\r\n  {{ article.title * 100 }}")
    subject = render_alert(make_alert(), templates).subject
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("line one line two Grain")
    assert 240 < len(subject) <= 250 and subject.endswith("…")


def test_an_undefined_variable_names_the_channel_and_template() -> None:
    with pytest.raises(RenderError) as caught:
        render_alert(make_alert(), Templates(text="{{ article.titel }}"), channel="ops-mail")
    error = caught.value
    assert isinstance(error, MonitorError)
    assert error.channel == "ops-mail" and error.template == "body"
    assert str(error).startswith("channel 'ops-mail': body template: ")
    assert "titel" in str(error)


def test_a_syntax_error_names_the_line() -> None:
    with pytest.raises(RenderError) as caught:
        render_alert(make_alert(), Templates(html="<p>\n{% if x %}\n{{ article.title }"), channel="ops")
    assert caught.value.template == "html" and caught.value.line is not None
    assert str(caught.value).startswith("channel 'ops': html template line ")
    with pytest.raises(RenderError, match="digest_subject template line 1"):
        check_template("{{ headline", "subject", channel="ops", digest=True)
    check_template("{{ headline }}", "subject", digest=True)


def test_a_runtime_error_in_a_template_is_a_render_error() -> None:
    with pytest.raises(RenderError, match="channel 'x': subject template: ZeroDivisionError"):
        render_alert(make_alert(), Templates(subject="{{ 1 / 0 }}"), channel="x")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ article.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    ],
)
def test_the_sandbox_blocks_escapes(source: str) -> None:
    with pytest.raises(RenderError):
        render_alert(make_alert(), Templates(text=source), channel="evil")


def test_test_event_mentions_the_channel() -> None:
    message = render_alert(sample_alert(NOW, delivery_id="test-1"), channel="pager")
    assert message.subject == "news-monitor: test message for channel pager"
    assert 'test message from news-monitor for channel "pager"' in message.text
    assert "<b>pager</b>" in message.html
    assert "**bridge**" in message.text


def test_digest_of_one_watch() -> None:
    alerts = [
        make_alert(
            event="new_story",
            delivery_id=f"a{i}",
            article=ArticleInfo(i, f"https://x.example/{i}", f"Story {i}", "Src"),
        )
        for i in range(5)
    ]
    message = render_digest(alerts, channel="daily")
    assert message.subject == "news-monitor: 5 new stories for watch grain exports"
    assert message.event == "digest" and message.count == 5
    for i in range(5):
        assert f"Story {i}" in message.text and f"https://x.example/{i}" in message.text
        assert f'<a href="https://x.example/{i}">Story {i}</a>' in message.html
    assert "== grain exports (5) ==" in message.text
    assert message.text.index("Story 0") < message.text.index("Story 4")


def test_digest_across_watches_groups_by_watch() -> None:
    alerts = [
        make_alert(delivery_id="a1", watch="grain"),
        make_alert(delivery_id="a2", watch="ports", event="story_update"),
        make_alert(delivery_id="a3", watch="grain"),
    ]
    message = render_digest(alerts, tz=BERLIN)
    assert message.subject == "news-monitor: 3 alerts across 2 watches"
    assert "== grain (2) ==" in message.text and "== ports (1) ==" in message.text
    assert message.text.index("== grain") < message.text.index("== ports")
    assert "11:30 CEST" in message.text
    assert message.payload["watches"] == ["grain", "ports"]


def test_digest_delivery_id_is_stable_and_order_independent() -> None:
    a, b = make_alert(delivery_id="a"), make_alert(delivery_id="b")
    assert digest_delivery_id([a, b]) == digest_delivery_id([b, a]) != digest_delivery_id([a])
    assert render_digest([a, b]).delivery_id == digest_delivery_id([a, b])
    assert render_digest([a, b], delivery_id="given").delivery_id == "given"
    with pytest.raises(ValueError):
        render_digest([])


def test_digest_templates_can_be_overridden() -> None:
    templates = Templates(
        digest_subject="{{ count }} for {{ watches | join(',') }}",
        digest_text="{% for a in alerts %}{{ a.article.title }};{% endfor %}",
    )
    message = render_digest([make_alert(delivery_id="1"), make_alert(delivery_id="2", watch="w2")], templates)
    assert message.subject == "2 for grain exports,w2"
    assert message.text == "Grain corridor to stay open;Grain corridor to stay open;"


def test_payload_of_one_alert(validator: jsonschema.Draft202012Validator) -> None:
    payload = webhook_payload(make_alert())
    validator.validate(payload)
    assert payload["schema"] == "news-monitor/alert@1"
    assert payload["event"] == "new_version"
    assert payload["delivery_id"] == "alert-42-7-3"
    assert payload["watch"] == "grain exports"
    assert payload["created_at"] == "2024-10-18T12:05:00Z"
    assert payload["article"] == {
        "id": 42,
        "url": "https://kyiv.example/news/grain-corridor?id=1&src=rss",
        "title": "Grain corridor to stay open",
        "source": "Kyiv Post",
        "published": "2024-10-18T09:30:00Z",
        "version": 3,
    }
    assert payload["story"]["id"] == 7
    assert payload["story"]["other_outlets"][1] == {
        "source": "Meduza",
        "title": "Зерновой коридор продлён",
        "url": "https://meduza.example/b",
        "published": None,
    }
    assert payload["terms"] == ["grain", "corridor"]
    text = payload["snippet"]["text"]
    assert [text[s:e] for s, e in payload["snippet"]["highlights"]] == ["grain", "corridor"]
    assert payload["changes"] == {"added": ["winter", "Friday"], "removed": ["autumn"], "diff": None}
    json.dumps(payload)  # plain JSON types only


def test_minimal_and_digest_payloads_validate(validator: jsonschema.Draft202012Validator) -> None:
    minimal = make_alert(event="new_story", snippet=None, changes=None, terms=(), story=StoryInfo(id=3))
    validator.validate(webhook_payload(minimal))
    validator.validate(webhook_payload(sample_alert(NOW)))
    digest = webhook_payload([make_alert(), minimal])
    validator.validate(digest)
    assert digest["count"] == 2 and digest["schema"] == "news-monitor/digest@1"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.pop("delivery_id"),
        lambda p: p.update(event="deleted"),
        lambda p: p["article"].update(version=0),
        lambda p: p["article"].update(published="18 Oct 2024"),
        lambda p: p["story"].pop("other_outlets"),
        lambda p: p.update(schema="news-monitor/alert@2"),
    ],
)
def test_the_schema_rejects_broken_payloads(validator: jsonschema.Draft202012Validator, mutate: Any) -> None:
    payload = webhook_payload(make_alert())
    mutate(payload)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(payload)


def _documented(schema: dict[str, Any], node: dict[str, Any], value: Any, path: str) -> list[str]:
    """Paths in a payload that the schema does not describe (every key must be documented)."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    for option in node.get("oneOf", []):
        resolved = schema["$defs"][option["$ref"].rsplit("/", 1)[1]] if "$ref" in option else option
        kind = resolved.get("type")
        if (kind == "object" and isinstance(value, dict)) or (
            "const" in resolved.get("properties", {}).get("schema", {})
            and value.get("schema") == resolved["properties"]["schema"]["const"]
        ):
            node = resolved
            break
    missing: list[str] = []
    if isinstance(value, dict):
        properties = node.get("properties", {})
        for key, item in value.items():
            if key not in properties:
                missing.append(f"{path}.{key}")
            else:
                missing += _documented(schema, properties[key], item, f"{path}.{key}")
    elif isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            missing += _documented(schema, node["items"], item, f"{path}[{i}]")
    return missing


def test_every_payload_key_is_documented_in_the_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    alert = {**schema["$defs"]["alert"]}
    assert _documented(schema, alert, webhook_payload(make_alert()), "$") == []
    assert _documented(schema, schema["$defs"]["digest"], webhook_payload([make_alert()]), "$") == []
    assert _documented(schema, alert, {**webhook_payload(make_alert()), "extra": 1}, "$") == ["$.extra"]


def test_snippet_highlights() -> None:
    snippet = Snippet("grain and grains", ((0, 5), (3, 9), (10, 15)))
    assert snippet.parts() == (("grain and", True), (" ", False), ("grain", True), ("s", False))
    assert snippet.marked() == "**grain and** **grain**s"
    assert str(snippet.html()) == "<mark>grain and</mark> <mark>grain</mark>s"
    with pytest.raises(ValueError, match="outside the snippet"):
        Snippet("short", ((2, 9),))


def test_alert_validation() -> None:
    with pytest.raises(ValueError, match="unknown alert event"):
        make_alert(event="deleted")
    with pytest.raises(ValueError, match="delivery id"):
        make_alert(delivery_id="")
    assert not Changes() and Changes(diff="x")


def test_naive_times_are_taken_as_utc() -> None:
    article = ArticleInfo(id=1, url="https://x", title="t", source="s", published=datetime(2024, 1, 1, 12, 0))
    message = render_alert(make_alert(article=article, created_at=datetime(2024, 1, 1, 12, 0)), tz=BERLIN)
    assert "2024-01-01 13:00 CET" in message.text
    assert message.payload["article"]["published"] == "2024-01-01T12:00:00Z"
    assert message.payload["created_at"] == "2024-01-01T12:00:00Z"
    assert render_alert(make_alert(), tz=UTC).payload == render_alert(make_alert(), tz=BERLIN).payload
