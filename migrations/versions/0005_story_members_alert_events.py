"""story_members (assignment order and stored story features); alerts keyed by event

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "story_members",
        sa.Column("id", _ID, nullable=False),
        sa.Column("article_id", _ID, nullable=False),
        sa.Column("story_id", _ID, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("features", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_story_members_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name=op.f("fk_story_members_story_id_stories"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_members")),
        sa.UniqueConstraint("article_id", name=op.f("uq_story_members_article_id")),
    )
    with op.batch_alter_table("story_members") as batch:
        batch.create_index(batch.f("ix_story_members_first_seen"), ["first_seen"], unique=False)
    op.execute(
        "INSERT INTO story_members (article_id, story_id, first_seen) "
        "SELECT id, story_id, first_seen FROM articles WHERE story_id IS NOT NULL ORDER BY first_seen, id"
    )
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("version_id", _ID, nullable=True))
        batch.add_column(sa.Column("event_key", sa.String(length=100), nullable=True))
    op.execute("UPDATE alerts SET event_key = 'story:' || CAST(story_id AS VARCHAR(30))")
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("event_key", existing_type=sa.String(length=100), nullable=False)
        batch.drop_constraint("uq_alerts_story_id_watch_channel", type_="unique")
        batch.create_unique_constraint(
            batch.f("uq_alerts_watch_channel_event_key"), ["watch", "channel", "event_key"]
        )
        batch.create_foreign_key(
            batch.f("fk_alerts_version_id_article_versions"),
            "article_versions",
            ["version_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_alerts_story_id", ["story_id"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM alerts WHERE event_key NOT LIKE 'story:%'")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_story_id")
        batch.drop_constraint("fk_alerts_version_id_article_versions", type_="foreignkey")
        batch.drop_constraint("uq_alerts_watch_channel_event_key", type_="unique")
        batch.create_unique_constraint(
            batch.f("uq_alerts_story_id_watch_channel"), ["story_id", "watch", "channel"]
        )
        batch.drop_column("event_key")
        batch.drop_column("version_id")
    with op.batch_alter_table("story_members") as batch:
        batch.drop_index(batch.f("ix_story_members_first_seen"))
    op.drop_table("story_members")
