"""Composition root shared by the CLI and the web server: settings + database + store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from monitor.config import Settings, config_path, database_url, load_settings
from monitor.store.db import check_current, make_engine, upgrade
from monitor.store.repo import Store


@dataclass
class App:
    """What every command needs: validated settings and an open store."""

    settings: Settings
    config_path: str
    database_url: str
    engine: Engine
    store: Store


@contextlib.contextmanager
def open_app(config: str | None, db: str | None, *, migrate: bool) -> Iterator[App]:
    """Load the config and open the database (upgrading it, or insisting it is current)."""
    path = config_path(config)
    settings = load_settings(path)
    url = database_url(db, settings)
    engine = make_engine(url, pool_size=settings.fleet.db_pool)
    try:
        if migrate:
            upgrade(engine)
        else:
            check_current(engine)
        yield App(settings, path, url, engine, Store(engine))
    finally:
        engine.dispose()
