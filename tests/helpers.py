"""Small builders shared by the integration tests."""

from __future__ import annotations

from typing import Any

from monitor.config import Settings, parse_settings
from monitor.service import Service, ServiceOptions, make_fetcher
from monitor.store.repo import Store


def settings_for(sources: list[dict[str, Any]], **defaults: Any) -> Settings:
    """Settings with the given sources (dicts as in YAML) and defaults."""
    import yaml

    data = {"defaults": {"timeout": "5s", "per_host": 4, **defaults}, "sources": sources}
    return parse_settings(yaml.safe_dump(data), "test.yaml", env={})


def service_for(settings: Settings, store: Store, **options: Any) -> Service:
    return Service(settings, store, make_fetcher(settings), ServiceOptions(parse_workers=1, **options))
