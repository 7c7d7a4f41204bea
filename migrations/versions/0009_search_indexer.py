"""search index in the background: a durable queue of versions to index (fts_pending)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 18:00:00

A poll no longer indexes what it stores inside its own transaction: each new version (and each version
whose title, summary or body changes) is queued in ``fts_pending`` (id, queued_at in Unix seconds) by a
trigger, and ``monitor.store.search_index`` indexes the queue in batches of its own transactions (the
daemon's background indexer, and ``monitor poll`` at the end of its cycle). A version is searchable once
its batch commits; the queue is in the database, so a crash loses nothing.

SQLite: the insert trigger only queues; the update trigger takes the old text out of ``fts_versions`` (an
external-content FTS5 table needs the old values to delete) when it was indexed, then queues; the delete
trigger does the same and drops the queue row. A later batch migration that rebuilds article_versions
drops its triggers: it must recreate them (``_sqlite_triggers``).

Postgres (13 or later, for DROP EXPRESSION): ``fts_document`` is no longer a generated column but written by the indexer
(``fts_vector(title, summary, body)``, the same expression); an update of the text clears it and queues
the version. ``fts_titles_gin`` only covers indexed versions (``WHERE fts_document IS NOT NULL``), so a
new version costs its insert nothing in either GIN index. The queue row goes with its version (a foreign
key, ON DELETE CASCADE); indexers take queue rows FOR UPDATE SKIP LOCKED, so several never index a version
twice.

Every object is named ``fts_*`` (left out of schema comparisons).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = "title, body, summary"
_SQLITE_NOW = "((julianday('now') - 2440587.5) * 86400.0)"  # Unix seconds, with fractions
_SQLITE_INDEXED = "NOT EXISTS (SELECT 1 FROM fts_pending WHERE id = old.id)"
_SQLITE_DELETE = (
    f"INSERT INTO fts_versions(fts_versions, rowid, {_COLUMNS}) "
    f"SELECT 'delete', old.id, old.title, old.body, old.summary WHERE {_SQLITE_INDEXED};"
)
_TEXT_CHANGED = "old.title IS NOT new.title OR old.summary IS NOT new.summary OR old.body IS NOT new.body"
TITLE_VECTOR = "to_tsvector('simple'::regconfig, fts_fold(title))"  # as monitor.store.search queries it
PG_VECTOR = (
    "setweight(to_tsvector('simple'::regconfig, fts_fold(title)), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, fts_fold(summary || ' ' || body)), 'B')"
)


def _sqlite_triggers() -> list[str]:
    queue = f"INSERT OR IGNORE INTO fts_pending(id, queued_at) VALUES (new.id, {_SQLITE_NOW});"
    return [
        f"CREATE TRIGGER fts_versions_insert AFTER INSERT ON article_versions BEGIN {queue} END",
        "CREATE TRIGGER fts_versions_delete AFTER DELETE ON article_versions BEGIN "
        f"{_SQLITE_DELETE} DELETE FROM fts_pending WHERE id = old.id; END",
        "CREATE TRIGGER fts_versions_update AFTER UPDATE OF title, body, summary ON article_versions "
        f"WHEN {_TEXT_CHANGED} BEGIN {_SQLITE_DELETE} {queue} END",
    ]


def _sqlite_0004_triggers() -> list[str]:
    delete = (
        f"INSERT INTO fts_versions(fts_versions, rowid, {_COLUMNS}) "
        "VALUES ('delete', old.id, old.title, old.body, old.summary);"
    )
    insert = f"INSERT INTO fts_versions(rowid, {_COLUMNS}) VALUES (new.id, new.title, new.body, new.summary);"
    return [
        f"CREATE TRIGGER fts_versions_insert AFTER INSERT ON article_versions BEGIN {insert} END",
        f"CREATE TRIGGER fts_versions_delete AFTER DELETE ON article_versions BEGIN {delete} END",
        "CREATE TRIGGER fts_versions_update AFTER UPDATE OF title, body, summary ON article_versions "
        f"BEGIN {delete} {insert} END",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS fts_versions_{trigger}")
        op.execute("CREATE TABLE fts_pending (id INTEGER PRIMARY KEY, queued_at REAL NOT NULL)")
        for statement in _sqlite_triggers():
            op.execute(statement)
        return
    op.execute("ALTER TABLE article_versions ALTER COLUMN fts_document DROP EXPRESSION")
    op.execute(
        "CREATE FUNCTION fts_vector(title text, summary text, body text) RETURNS tsvector LANGUAGE sql "
        f"IMMUTABLE PARALLEL SAFE AS $$ SELECT {PG_VECTOR} $$"
    )
    op.execute(
        "CREATE TABLE fts_pending (id bigint PRIMARY KEY REFERENCES article_versions (id) ON DELETE CASCADE,"
        " queued_at double precision NOT NULL)"
    )
    now = "extract(epoch FROM clock_timestamp())"
    op.execute(
        "CREATE FUNCTION fts_queue_inserted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"INSERT INTO fts_pending (id, queued_at) SELECT id, {now} FROM fts_new ON CONFLICT DO NOTHING; "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER fts_versions_insert AFTER INSERT ON article_versions REFERENCING NEW TABLE AS fts_new "
        "FOR EACH STATEMENT EXECUTE FUNCTION fts_queue_inserted()"
    )
    op.execute(
        "CREATE FUNCTION fts_queue_updated() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "NEW.fts_document := NULL; "
        f"INSERT INTO fts_pending (id, queued_at) VALUES (NEW.id, {now}) ON CONFLICT DO NOTHING; "
        "RETURN NEW; END $$"
    )
    changed = _TEXT_CHANGED.replace(" IS NOT ", " IS DISTINCT FROM ")
    op.execute(
        "CREATE TRIGGER fts_versions_update BEFORE UPDATE OF title, summary, body ON article_versions "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION fts_queue_updated()"
    )
    op.execute("DROP INDEX fts_titles_gin")
    op.execute(
        f"CREATE INDEX fts_titles_gin ON article_versions USING gin ({TITLE_VECTOR}) "
        "WHERE fts_document IS NOT NULL"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS fts_versions_{trigger}")
        op.execute(
            f"INSERT INTO fts_versions(rowid, {_COLUMNS}) SELECT v.id, v.title, v.body, v.summary "
            "FROM article_versions v JOIN fts_pending p ON p.id = v.id"
        )
        op.execute("DROP TABLE fts_pending")
        for statement in _sqlite_0004_triggers():
            op.execute(statement)
        return
    op.execute("DROP TRIGGER IF EXISTS fts_versions_update ON article_versions")
    op.execute("DROP TRIGGER IF EXISTS fts_versions_insert ON article_versions")
    op.execute("DROP FUNCTION IF EXISTS fts_queue_updated()")
    op.execute("DROP FUNCTION IF EXISTS fts_queue_inserted()")
    op.execute("DROP TABLE IF EXISTS fts_pending")
    op.execute("DROP INDEX IF EXISTS fts_titles_gin")
    op.execute("DROP INDEX IF EXISTS fts_versions_gin")
    op.execute("ALTER TABLE article_versions DROP COLUMN IF EXISTS fts_document")
    op.execute("DROP FUNCTION IF EXISTS fts_vector(text, text, text)")
    op.execute(
        f"ALTER TABLE article_versions ADD COLUMN fts_document tsvector GENERATED ALWAYS AS ({PG_VECTOR}) STORED"
    )
    op.execute("ALTER TABLE article_versions ALTER COLUMN fts_document SET STORAGE MAIN")
    op.execute("CREATE INDEX fts_versions_gin ON article_versions USING gin (fts_document)")
    op.execute(f"CREATE INDEX fts_titles_gin ON article_versions USING gin ({TITLE_VECTOR})")
