"""articles: the extractor version and page body hash behind the baseline text

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02 16:00:00

``articles.extractor_version`` is the EXTRACTOR_VERSION (monitor/core/pages.py) that extracted the
article's baseline text from its page; ``articles.page_hash`` the SHA-256 of that page's body. A page
check under a newer extractor re-baselines an unchanged page instead of recording an edit. Articles whose
page was already checked are marked as extracted by version 0 (older than any versioned extractor).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("extractor_version", sa.Integer(), nullable=True))
    op.add_column("articles", sa.Column("page_hash", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE articles SET extractor_version = 0 WHERE last_checked_at IS NOT NULL AND content_hash <> ''"
    )


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("page_hash")
        batch.drop_column("extractor_version")
