"""articles: page validators and the re-check tail; sources.last_problem

Revision ID: 0006
Revises: 0007
Create Date: 2026-12-02 14:30:00

``articles.page_etag``/``page_last_modified`` make page re-checks conditional GETs (an unchanged page
costs a 304). ``articles.in_tail`` marks an article whose re-check ladder has ended and which is now
re-checked at the source's slow ``recheck_tail`` pace, newest first within a budget per cycle.
``sources.last_problem`` says what the last parse had to drop or repair (a salvaged feed, empty entries).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("page_etag", sa.Text(), nullable=True))
    op.add_column("articles", sa.Column("page_last_modified", sa.Text(), nullable=True))
    op.add_column("articles", sa.Column("in_tail", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("sources", sa.Column("last_problem", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("last_problem")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("in_tail")
        batch.drop_column("page_last_modified")
        batch.drop_column("page_etag")
