"""Configuration: every problem is one line naming the YAML path and file:line; secrets from the environment."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.config import config_path, database_url, parse_settings
from monitor.errors import ConfigError
from monitor.models import SourceKind


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "config/feeds.yaml", env=env or {})
    return caught.value.problems


def test_defaults_and_source_overrides() -> None:
    settings = parse_settings(
        "defaults:\n  interval: 5m\n  max_bytes: 2MB\nsources:\n  - name: mt\n    feed: https://x.example/rss\n"
        "  - name: page\n    page: https://x.example/news\n    interval: 1h\n    robots: false\n",
        "f.yaml",
        env={},
    )
    mt, page = settings.sources
    assert mt.kind is SourceKind.FEED and page.kind is SourceKind.PAGE
    assert mt.policy(settings.defaults).interval == timedelta(minutes=5)
    assert page.policy(settings.defaults).interval == timedelta(hours=1)
    assert settings.defaults.max_bytes == 2_000_000
    assert mt.obeys_robots(settings.defaults) is False and page.obeys_robots(settings.defaults) is False


def test_bad_values_name_path_and_line() -> None:
    assert problems(
        "sources:\n  - name: a\n    feed: https://x.example/rss\n    interval: fivemin\n"
        "  - name: b\n    feed: ftp://x.example/rss\n  - name: c\n"
    ) == [
        "sources[0].interval: 'fivemin' is not a duration (use e.g. 30s, 10m, 1h30m, 2d) (config/feeds.yaml:4)",
        "sources[1].feed: 'ftp://x.example/rss' is not an http(s) URL (config/feeds.yaml:6)",
        "sources[2]: give exactly one of 'feed:' or 'page:' (config/feeds.yaml:7)",
    ]


def test_unknown_keys_suggest_the_right_one() -> None:
    assert problems("defaults:\n  concurency: 4\n") == [
        "defaults.concurency: unknown key (did you mean 'concurrency'?) (config/feeds.yaml:2)"
    ]


def test_names_must_be_unique_and_references_must_exist() -> None:
    assert problems(
        "sources:\n  - name: a\n    feed: https://x.example/1\n  - name: a\n    feed: https://x.example/2\n"
        "watches:\n  - name: w\n    query: troops\n    channels: [nope]\n    sources: [zz]\n"
    ) == [
        "sources[1].name: 'a' is already used by sources[0] (config/feeds.yaml:4)",
        "watches[0].channels[0]: no channel named 'nope' (config/feeds.yaml:9)",
        "watches[0].sources[0]: no source named 'zz' (config/feeds.yaml:10)",
    ]


def test_channels_are_validated_by_their_type() -> None:
    assert problems(
        "channels:\n  - name: mail\n    type: email\n    host: 127.0.0.1\n    from: a@b.example\n    to: [c@d.example]\n"
        "    sercurity: tls\n  - name: hook\n    type: webhok\n    url: https://h.example/\n"
    ) == [
        "channels[0].sercurity: unknown key (did you mean 'security'?) (config/feeds.yaml:7)",
        "channels[1]: unknown channel type 'webhok' (use email, webhook, apprise) (config/feeds.yaml:8)",
    ]


def test_environment_interpolation() -> None:
    text = "channels:\n  - name: hook\n    type: webhook\n    url: ${HOOK_URL}\n    secret: ${HOOK_SECRET:-fallback}\n"
    settings = parse_settings(text, "f.yaml", env={"HOOK_URL": "https://h.example/in"})
    (hook,) = settings.channels
    assert hook.url == "https://h.example/in"  # type: ignore[union-attr]
    assert problems(text) == [
        "channels[0].url: environment variable HOOK_URL is not set (config/feeds.yaml:4)"
    ]


def test_yaml_errors_and_wrong_shapes() -> None:
    assert problems("sources: [unclosed\n")[0].startswith("config/feeds.yaml:2:")
    assert problems("- just\n- a list\n") == [
        "config/feeds.yaml:1: the configuration must be a mapping of keys to values"
    ]


def test_database_and_config_precedence() -> None:
    settings = parse_settings("database: sqlite:///from-config.db\n", "f.yaml", env={})
    assert database_url("sqlite:///cli.db", settings, env={"MONITOR_DATABASE_URL": "x"}) == "sqlite:///cli.db"
    assert (
        database_url(None, settings, env={"MONITOR_DATABASE_URL": "postgresql://h/db"}) == "postgresql://h/db"
    )
    assert database_url(None, settings, env={}) == "sqlite:///from-config.db"
    assert database_url(None, None, env={}) == "sqlite:///data/monitor.db"
    assert config_path(None, env={"MONITOR_CONFIG": "/etc/m.yaml"}) == "/etc/m.yaml"
    assert config_path(None, env={}) == "config/feeds.yaml"


def test_bad_watch_queries_name_the_watch_column_and_line() -> None:
    text = (
        "watches:\n  - name: ok\n    query: '\"north korea\" NEAR/10 troop*'\n"
        "  - name: open\n    query: '(\"north korea\" OR pyongyang) AND (troops OR soldiers'\n"
        "  - name: dangling\n    query: 'troops AND'\n"
        "  - name: field\n    query: 'headline:troops'\n"
    )
    assert problems(text) == [
        "watches[1].query: expected ')' at column 53 (config/feeds.yaml:5)",
        "watches[2].query: expected a word, phrase or '(' at column 11 (config/feeds.yaml:7)",
        "watches[3].query: unknown field 'headline:' (fields are title:, body:, source:, tag:) at column 1"
        " (config/feeds.yaml:9)",
    ]
