"""Typed table models. The schema is created only by the Alembic migrations in migrations/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite autoincrements only INTEGER PRIMARY KEY; Postgres gets BIGINT identities.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        when: datetime = value
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    config_url: Mapped[str] = mapped_column(Text)  # as written in the config
    url: Mapped[str] = mapped_column(Text)  # where we poll now (moves on permanent redirects)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    in_config: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_hash: Mapped[str | None] = mapped_column(String(64))
    next_check_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(200))  # host:pid of the process polling it
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publish_rate: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_problem: Mapped[str | None] = mapped_column(Text)  # what the last parse dropped or repaired

    __table_args__ = (Index("ix_sources_due", "enabled", "next_check_at"),)


class Fetch(Base):
    __tablename__ = "fetches"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[int | None] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    new_articles: Mapped[int] = mapped_column(Integer, default=0)
    new_versions: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_fetches_source_started", "source_id", "started_at"),)


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(Text)  # guid, else canonical URL: identity within the source
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)  # of the latest version
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))  # of the latest version
    version_count: Mapped[int] = mapped_column(Integer, default=1)
    # Page tracking: when the article page is next re-checked (None: not tracked, or the ladder ended).
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the page answered 404/410
    lease_owner: Mapped[str | None] = mapped_column(String(200))  # host:pid of the process checking it
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    page_etag: Mapped[str | None] = mapped_column(Text)  # the page's validators, for conditional GETs
    page_last_modified: Mapped[str | None] = mapped_column(Text)
    # The ladder has ended and the page is re-checked at the slow tail pace (newest first, in a budget).
    in_tail: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The EXTRACTOR_VERSION that made content_hash from the page (None: not page text, e.g. a feed's)
    # and the SHA-256 of the page body it was read from: a newer extractor re-baselines an unchanged page.
    extractor_version: Mapped[int | None] = mapped_column(Integer)
    page_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("source_id", "key"),
        Index("ix_articles_first_seen", "first_seen"),
        Index("ix_articles_next_check_at", "next_check_at"),
        Index("ix_articles_story_id", "story_id"),
    )


class ArticleVersion(Base):
    __tablename__ = "article_versions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    n: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    content_hash: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reverts_to: Mapped[int | None] = mapped_column(Integer)  # n of an earlier version with this same text

    __table_args__ = (UniqueConstraint("article_id", "n"), Index("ix_article_versions_seen_at", "seen_at"))


class ArticleEvent(Base):
    """Things that happen to an article besides new versions: removed, restored, moved, extraction failed."""

    __tablename__ = "article_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Story(Base):
    """Reports of the same event, across outlets."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    title: Mapped[str] = mapped_column(Text)  # of its first article
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    article_count: Mapped[int] = mapped_column(Integer, default=1)


class Match(Base):
    """A watch matched an article version."""

    __tablename__ = "matches"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    watch: Mapped[str] = mapped_column(String(200))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("article_versions.id", ondelete="CASCADE"))
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    snippet: Mapped[str] = mapped_column(Text, default="")
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)  # the match that flagged its story
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("watch", "version_id"),
        Index("ix_matches_watch_created", "watch", "created_at"),
        Index("ix_matches_story_id", "story_id"),
    )


class StoryWatch(Base):
    """A story flagged by a watch: exactly once, on its first matching article."""

    __tablename__ = "story_watches"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    watch: Mapped[str] = mapped_column(String(200))
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"))
    flagged_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("story_id", "watch"),)


class StoryMember(Base):
    """An article's place in its story, in the order assignments committed (`id`), with its story features.

    Writers assign under one lock, so ids grow in commit order: a writer catches up on every row past the
    last id it saw, and a start loads the index from these rows without re-deriving the features."""

    __tablename__ = "story_members"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), unique=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    features: Mapped[str | None] = mapped_column(Text)  # StoryFeatures.to_json(); None: derive from the text


class Alert(Base):
    """The outbox: one row per event, watch and channel (`event_key`), written with the match that causes it.

    `event_key` names the event: `story:S` (a watch flagged story S), `article:A` (article A matched inside a
    flagged story without being surely the same event), `edit:V` (version V edits an alerted article),
    `outlet:S:O` (source O reported flagged story S)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(64), unique=True)  # stable across retries
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    watch: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(200))
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"))
    # The version the alert is about when it is not the match's (an edit, another outlet's report).
    version_id: Mapped[int | None] = mapped_column(ForeignKey("article_versions.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(30))
    event_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(200))  # host:pid of the process delivering it

    __table_args__ = (
        UniqueConstraint("watch", "channel", "event_key"),
        Index("ix_alerts_story_id", "story_id"),
        Index("ix_alerts_status_next", "status", "next_attempt_at"),
    )


class Worker(Base):
    """One running daemon: its heartbeat says it is alive; when it stops beating, others free its leases."""

    __tablename__ = "workers"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid, as in lease_owner
    roles: Mapped[str] = mapped_column(String(100))
    config_hash: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_tick_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FleetState(Base):
    """Fleet-wide facts (the config hash last applied) and job leases (one pruner at a time)."""

    __tablename__ = "fleet_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Host(Base):
    """What one origin (scheme://host:port) told any process: a Retry-After rest, its robots.txt."""

    __tablename__ = "hosts"

    origin: Mapped[str] = mapped_column(String(300), primary_key=True)
    rest_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    robots_txt: Mapped[str | None] = mapped_column(Text)
    robots_ok: Mapped[bool | None] = mapped_column(Boolean)  # False: unreachable, so disallow all
    robots_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HostSlot(Base):
    """A request in flight at a host, fleet-wide: at most `per_host` slots per host exist at once."""

    __tablename__ = "host_slots"

    host: Mapped[str] = mapped_column(String(300), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    until: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_host_slots_owner", "owner"),)


# --- table handles: the one place queries take their tables from ------------------------------------

sources = cast(Table, Source.__table__)
fetches = cast(Table, Fetch.__table__)
articles = cast(Table, Article.__table__)
versions = cast(Table, ArticleVersion.__table__)
events = cast(Table, ArticleEvent.__table__)
stories = cast(Table, Story.__table__)
matches = cast(Table, Match.__table__)
story_watches = cast(Table, StoryWatch.__table__)
story_members = cast(Table, StoryMember.__table__)
alerts = cast(Table, Alert.__table__)
workers = cast(Table, Worker.__table__)
fleet_state = cast(Table, FleetState.__table__)
hosts = cast(Table, Host.__table__)
host_slots = cast(Table, HostSlot.__table__)
