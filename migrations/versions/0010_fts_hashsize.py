"""search index, SQLite: FTS5 buffers 8 MiB of pending terms before it writes a segment (hashsize)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:20:00

FTS5 gathers a transaction's terms in memory and writes them out as a new segment when the transaction
commits or the buffer passes ``hashsize`` bytes (1 MiB by default: about 1,500 of the bench's versions);
segments are then merged as they pile up. ``monitor poll``'s drain indexes up to 50,000 versions a
transaction (``monitor.store.search_index.DRAIN_BATCH``): with 8 MiB it writes a third of the segments
and spends less CPU (39,741 versions: 0.83-1.03 -> 0.68-0.70 s). The index holds the same rows, so every
search gives the same results and ranks. The daemon's batches of 500 never fill even 1 MiB: it changes
nothing for them. A writing connection holds at most this much more memory.

The setting is a row of FTS5's own ``fts_versions_config``: a key its configuration code accepts
(fts5_config.c), though its documentation leaves it out; FTS5 skips keys it does not know when it loads
that table, so a build without it would only index as before.
Postgres: nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HASHSIZE = 8 * 1024 * 1024
DEFAULT_HASHSIZE = 1024 * 1024  # FTS5's own


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"INSERT INTO fts_versions(fts_versions, rank) VALUES ('hashsize', {HASHSIZE})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"INSERT INTO fts_versions(fts_versions, rank) VALUES ('hashsize', {DEFAULT_HASHSIZE})")
