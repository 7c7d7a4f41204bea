"""Small builders shared by the integration tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from monitor.config import Settings, parse_settings
from monitor.runtime import make_service, polling
from monitor.service import Service
from monitor.store.store import Store


def settings_for(sources: list[dict[str, Any]], **defaults: Any) -> Settings:
    """Settings with the given sources (dicts as in YAML) and defaults."""
    import yaml

    data = {"defaults": {"timeout": "5s", "per_host": 4, **defaults}, "sources": sources}
    return parse_settings(yaml.safe_dump(data), "test.yaml", env={})


def service_for(settings: Settings, store: Store, **options: Any) -> Service:
    return make_service(settings, store, **{"parse_workers": 1, **options})


def poll_watching(settings: Settings, store: Store, *names: str) -> None:
    """Poll the named sources (default: all) once as the daemon does: with the watch step attached.

    In a thread of its own, so it works where an event loop is already running (Playwright's sync API)."""

    async def go() -> None:
        async with polling(settings, store, parse_workers=1) as run:
            await run.service.sync_sources()
            await run.service.poll_sources(list(names) or None)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


def wait_for(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
