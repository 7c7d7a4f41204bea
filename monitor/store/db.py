"""Engines for SQLite and Postgres, their dialect differences, transactions over one engine (the base of the
Store and its query families), and schema upgrades via Alembic."""

from __future__ import annotations

import ast
import contextlib
import fcntl
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from monitor.errors import DatabaseError
from monitor.store.tables import UTCDateTime

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
# SQLite: WAL pages (4 KiB) a commit lets pile up before it checkpoints them into the database file (~40 MB).
# SQLite's default 1,000 put a checkpoint (the copy and two fsyncs) into every ~4 MB of the writer's
# commits: replaying a 1,000-feed poll's 414 write transactions, its commits took 3.0-5.4 s at 1,000 and
# 1.6-2.7 s at 10,000 (fdatasync 256 -> 31 calls, 710 -> 617 MB written). The WAL is still reset after each
# checkpoint, so it stays within this plus the largest transaction (unless a reader holds an old snapshot,
# as before). Durability is unchanged: synchronous=NORMAL syncs at checkpoints, however often they come.
WAL_AUTOCHECKPOINT = 10_000


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
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
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


def sqlite_time(value: datetime | None) -> str | None:
    """A datetime as SQLAlchemy's SQLite DATETIME stores it (naive UTC, microseconds always written), as
    UTCDateTime binds it: the driver-level writes below store the very same text."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use timezone-aware UTC")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def postgres_time(value: datetime | None) -> datetime | None:
    """A datetime as psycopg takes it for a timestamptz (aware, any zone: the same instant is stored)."""
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use timezone-aware UTC")
    return value


def _binary_chunks(items: Sequence[T], largest: int) -> Iterator[Sequence[T]]:
    """Chunks whose sizes are powers of two up to `largest` (itself one): few distinct statement texts, so
    SQLite's statement cache keeps each prepared."""
    start, size = 0, largest
    while start < len(items):
        while size > len(items) - start:
            size //= 2
        yield items[start : start + size]
        start += size


class BulkInsert:
    """One table's INSERT of many rows at the driver's level, for the writer's hot statements: the rows'
    datetimes and JSON are put in the driver's form here, with none of SQLAlchemy's per-row bind processing
    (which cost the writer thread more than the inserts themselves). The stored values are those the
    table's types would store.

    SQLite: an executemany of one prepared statement, or with `returning`, multi-row VALUES statements
    (RETURNING would otherwise be row by row). Postgres: INSERT ... SELECT FROM unnest(one array per column)
    WITH ORDINALITY, one statement of the same text whatever the row count (psycopg and the server prepare
    it once), in one round trip. Rows are inserted in the order given, so ascending new ids follow it.
    """

    _LARGEST = 64  # rows per SQLite multi-row statement

    def __init__(
        self,
        table: sa.Table,
        columns: Sequence[str],
        *,
        on_conflict: Sequence[str] = (),
        returning: Sequence[str] = (),
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.on_conflict = tuple(on_conflict)
        self.returning = tuple(returning)
        self._get = itemgetter(*self.columns) if len(self.columns) > 1 else (lambda row: (row[columns[0]],))
        kinds = [table.c[c].type for c in self.columns]
        self._times = [i for i, kind in enumerate(kinds) if isinstance(kind, UTCDateTime)]
        self._json = [i for i, kind in enumerate(kinds) if isinstance(kind, sa.JSON)]
        self._sql: dict[tuple[str, int], str] = {}

    def _tail(self) -> str:
        tail = ""
        if self.on_conflict:
            tail += f" ON CONFLICT ({', '.join(self.on_conflict)}) DO NOTHING"
        if self.returning:
            tail += f" RETURNING {', '.join(self.returning)}"
        return tail

    def _sqlite_sql(self, rows: int) -> str:
        found = self._sql.get(("sqlite", rows))
        if found is None:
            one = "(" + ", ".join("?" * len(self.columns)) + ")"
            found = f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) VALUES "
            found += ", ".join([one] * rows) + self._tail()
            self._sql[("sqlite", rows)] = found
        return found

    def _postgres_sql(self, dialect: sa.Dialect) -> str:
        found = self._sql.get(("postgresql", 0))
        if found is None:
            # %b: psycopg sends the arrays in binary, with no per-element quoting (40 times cheaper).
            arrays = ", ".join(f"%b::{self.table.c[c].type.compile(dialect=dialect)}[]" for c in self.columns)
            names = [f"p{i}" for i in range(len(self.columns))]
            found = (
                f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) "
                f"SELECT {', '.join(names)} FROM unnest({arrays}) WITH ORDINALITY AS u({', '.join(names)}, o) "
                f"ORDER BY o{self._tail()}"
            )
            self._sql[("postgresql", 0)] = found
        return found

    def rows(self, dialect: str, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """The rows' values in column order, in the driver's form."""
        get = self._get
        if not self._times and not self._json:
            return [get(row) for row in rows]
        time = sqlite_time if dialect == "sqlite" else postgres_time
        times, docs, dumps = self._times, self._json, json.dumps
        done: dict[datetime | None, Any] = {None: None}  # rows share their times (a poll's `now`)
        out = []
        for row in rows:
            values = list(get(row))
            for i in times:
                when = values[i]
                try:
                    values[i] = done[when]
                except KeyError:
                    values[i] = done[when] = time(when)
            for i in docs:
                values[i] = dumps(values[i])
            out.append(tuple(values))
        return out

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Insert the rows (mappings by column name); the `returning` columns of those inserted."""
        if not rows:
            return []
        dialect = conn.dialect.name
        values = self.rows(dialect, rows)
        if dialect != "sqlite":
            arrays = tuple(list(column) for column in zip(*values, strict=True))
            result = conn.exec_driver_sql(self._postgres_sql(conn.dialect), arrays)
            return list(result.all()) if self.returning else []
        if not self.returning:
            conn.exec_driver_sql(self._sqlite_sql(1), values)
            return []
        found: list[Any] = []
        for chunk in _binary_chunks(values, self._LARGEST):
            flat = tuple(chain.from_iterable(chunk))
            found.extend(conn.exec_driver_sql(self._sqlite_sql(len(chunk)), flat).all())
        return found


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
