"""full-text search over article versions: SQLite FTS5, Postgres tsvector + GIN

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 04:00:00

Every object made here is named ``fts_*`` so schema comparisons can leave them out
(``monitor.store.search.include_name``); the models in tables.py do not know them.

SQLite: ``fts_versions``, an external-content FTS5 table over article_versions (title, body, summary;
tokenizer unicode61 with diacritics removed), kept in sync by three triggers and filled from the existing
rows. A later batch migration that rebuilds article_versions drops its triggers: it must recreate them
(``_sqlite_triggers``) and rebuild the index.

Postgres: ``article_versions.fts_document``, a generated stored tsvector (title weight A, summary and
body weight B) under the 'simple' configuration, because the archive is multilingual: no stemming and no
stop words, so every language is indexed the same way, as the watch matcher does. Text goes through
``fts_fold`` first: accents removed with the unaccent extension when the server has it (else kept), and
anything but letters and digits made a space, so words split where the matcher splits them (the default
parser would also index ``north-korean`` as one extra token and shift the positions phrases rely on).
``fts_unaccent`` is applied to queries the same way. A GIN index ``fts_versions_gin`` serves ``@@``. The
column is stored in the row (STORAGE MAIN), not in TOAST: searches that walk the archive newest first test
thousands of versions each, and reading each tsvector out of TOAST made that three times slower. A second
GIN index ``fts_titles_gin`` on the titles' tsvector finds ``title:`` terms without testing every version
that has the word anywhere (weights are only known after reading the tsvector).

The revision id is 0004 (after 0003_alert_lease_owner); the file keeps the name it was planned under.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = "title, body, summary"
TITLE_VECTOR = "to_tsvector('simple'::regconfig, fts_fold(title))"  # as monitor.store.search queries it


def _sqlite_triggers() -> list[str]:
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


def _has_unaccent() -> bool:
    bind = op.get_bind()
    available = bind.execute(
        sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'unaccent'")
    ).scalar_one()
    if not available:
        return False
    try:
        with bind.begin_nested():
            op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    except sa.exc.DBAPIError:  # no right to create extensions here: index accents as they are
        return False
    schema = bind.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'unaccent'"
        )
    ).scalar_one()
    op.execute(
        f"CREATE FUNCTION fts_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
        f'AS $$ SELECT "{schema}".unaccent(\'"{schema}".unaccent\'::regdictionary, $1) $$'
    )
    return True


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE VIRTUAL TABLE fts_versions USING fts5({_COLUMNS}, content='article_versions', "
            "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
        )
        for statement in _sqlite_triggers():
            op.execute(statement)
        op.execute("INSERT INTO fts_versions(fts_versions) VALUES ('rebuild')")
        return
    if not _has_unaccent():
        op.execute(
            "CREATE FUNCTION fts_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
            "AS $$ SELECT $1 $$"
        )
    op.execute(
        "CREATE FUNCTION fts_fold(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
        "AS $$ SELECT regexp_replace(fts_unaccent($1), '[^[:alnum:]]+', ' ', 'g') $$"
    )
    op.execute(
        "ALTER TABLE article_versions ADD COLUMN fts_document tsvector GENERATED ALWAYS AS ("
        "setweight(to_tsvector('simple'::regconfig, fts_fold(title)), 'A') || "
        "setweight(to_tsvector('simple'::regconfig, fts_fold(summary || ' ' || body)), 'B')) STORED"
    )
    # Kept in the row (a tsvector is about as long as the text and hardly compresses, so it would go to
    # TOAST): testing a version then reads one heap page instead of the TOAST index and two chunks.
    op.execute("ALTER TABLE article_versions ALTER COLUMN fts_document SET STORAGE MAIN")
    op.execute("CREATE INDEX fts_versions_gin ON article_versions USING gin (fts_document)")
    op.execute(f"CREATE INDEX fts_titles_gin ON article_versions USING gin ({TITLE_VECTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS fts_versions_{trigger}")
        op.execute("DROP TABLE IF EXISTS fts_versions")
        return
    op.execute("DROP INDEX IF EXISTS fts_titles_gin")
    op.execute("DROP INDEX IF EXISTS fts_versions_gin")
    op.execute("ALTER TABLE article_versions DROP COLUMN IF EXISTS fts_document")
    op.execute("DROP FUNCTION IF EXISTS fts_fold(text)")
    op.execute("DROP FUNCTION IF EXISTS fts_unaccent(text)")
