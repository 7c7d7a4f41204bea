"""Shared fixtures: a real SQLite file and a real Postgres database per test, a loopback HTTP server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from monitor.store.db import make_engine, upgrade
from monitor.store.store import Store
from tests.fixtures.server import LoopbackServer

PG_ADMIN = os.environ.get("MONITOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_TEMPLATE = f"nm_template_{os.getpid()}"


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _pg_url(database: str) -> str:
    base = sa.make_url(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1))
    return base.set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test copies it (CREATE DATABASE ... TEMPLATE), which is fast."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN}; CI must run the Postgres tests")
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN}")
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_TEMPLATE}"')
        conn.execute(f'CREATE DATABASE "{_TEMPLATE}"')
    engine = make_engine(_pg_url(_TEMPLATE))
    upgrade(engine)
    engine.dispose()
    yield _TEMPLATE
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    name = f"nm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield _pg_url(name)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """A migrated, empty database: a SQLite file, then a fresh Postgres database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/monitor.db"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = make_engine(db_url)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running
