"""Alembic environment: runs on the connection monitor.store.db hands over (or $MONITOR_DATABASE_URL)."""

from __future__ import annotations

import os

from alembic import context

from monitor.store.db import make_engine
from monitor.store.search import include_name
from monitor.store.tables import Base

target_metadata = Base.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = make_engine(os.environ.get("MONITOR_DATABASE_URL", "sqlite:///data/monitor.db"))
        with engine.connect() as connection:
            _migrate(connection)
            connection.commit()
    else:
        _migrate(connection)


def _migrate(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs table rebuilds for most ALTERs
        compare_type=True,
        include_name=include_name,  # the search index's fts_* objects are made by hand, not by models
    )
    with context.begin_transaction():
        context.run_migrations()


run()
