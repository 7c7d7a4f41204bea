"""Engines for SQLite and Postgres, their dialect differences, transactions over one engine (the base of the
Store and its query families), and schema upgrades via Alembic."""

from __future__ import annotations

import ast
import contextlib
import fcntl
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from monitor.errors import DatabaseError

if TYPE_CHECKING:  # alembic loads only when a schema is not at the newest migration (or is asked about)
    from alembic.config import Config

T = TypeVar("T")
_CHUNK = 500


def _migrations_dir() -> Path:
    """The checkout's top-level migrations/, else the copy an installed package carries."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "migrations", package / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError(f"no migrations beside or inside {package}")  # a broken install, not a user error


MIGRATIONS = _migrations_dir()
_UPGRADE_LOCK = 0x6E6D6F6E  # Postgres advisory lock id for schema upgrades ("nmon")


def normalize_url(url: str) -> str:
    """Use psycopg 3 for Postgres URLs written without a driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool_size: int = 8) -> Engine:
    """An engine with each dialect set up for a long-running writer."""
    url = normalize_url(url)
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        raise DatabaseError(f"database URL {url!r} is not valid") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 60, "check_same_thread": False})
        _setup_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 10},
        )
    raise DatabaseError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://"
    )


def _setup_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below control transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the lock up front so two writers never deadlock upgrading a read lock.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextlib.contextmanager
def _upgrade_lock(engine: Engine) -> Iterator[Connection]:
    """Serialise schema upgrades between processes that start at the same time."""
    if is_sqlite(engine):
        database = engine.url.database
        lock_file = None
        if database and database != ":memory:":
            lock_file = open(f"{database}.migrate-lock", "w")  # noqa: SIM115
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            if lock_file is not None:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
                lock_file.close()
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({_UPGRADE_LOCK})")
            connection.commit()
            try:
                yield connection
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_UPGRADE_LOCK})")
                connection.commit()


def _script_head() -> str | None:
    """The newest migration's id, read from the files' `revision`/`down_revision` lines without loading
    alembic (which costs a command-line start ~0.3 s); None when a file says anything less plain."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found: dict[str, Any] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            value = getattr(node, "value", None)
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                if not isinstance(value, ast.Constant) or not isinstance(value.value, str | None):
                    return None  # a merge point or a computed id: let alembic decide
                found[target.id] = value.value
        if not isinstance(found.get("revision"), str):
            return None
        revisions.add(found["revision"])
        if found.get("down_revision") is not None:
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the schema is surely at the newest migration (False when unsure: alembic then decides)."""
    head = _script_head()
    if head is None:
        return False
    try:
        with engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    except DBAPIError:  # no alembic_version table yet, or no database: the slow path says why
        return False
    return stored == [head]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`; safe when several processes start at once."""
    if revision == "head" and _at_head(engine):
        return  # nothing to do: alembic and its script directory never load
    from alembic import command

    try:
        with _upgrade_lock(engine) as connection:
            command.upgrade(alembic_config(connection), revision)
            connection.commit()
    except OperationalError as exc:
        raise DatabaseError(f"cannot upgrade database {engine.url.render_as_string()}: {exc.orig}") from None


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def check_current(engine: Engine) -> None:
    """Raise DatabaseError unless the schema is at the newest migration."""
    if _at_head(engine):
        return
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise DatabaseError(f"cannot open database {engine.url.render_as_string()}: {exc.orig}") from None
    head = head_revision()
    if current != head:
        raise DatabaseError(
            f"database schema is at {current or 'nothing'}, not {head}: run 'monitor db upgrade'"
        )


def insert_ignoring(conn: Connection, table: sa.Table, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, in the connection's dialect: idempotent writes on both."""
    insert = sqlite.insert(table) if conn.dialect.name == "sqlite" else postgresql.insert(table)
    return insert.on_conflict_do_nothing(index_elements=keys)


def without_nul(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with NUL removed from their text: Postgres refuses it in text columns (and it means nothing)."""
    for row in rows:
        for name, value in row.items():
            if isinstance(value, str) and "\x00" in value:
                row[name] = value.replace("\x00", "")
            elif isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value):
                row[name] = [v.replace("\x00", "") if isinstance(v, str) else v for v in value]
    return rows


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Database:
    """Transactions over one engine: the base of the Store and of its query families (sources.py,
    articles.py). Every method is blocking: call it off the event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        with self.engine.connect() as conn:
            if self.sqlite:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn
