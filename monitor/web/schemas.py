"""The API's response models: the JSON shapes /api/v1/ answers with and /openapi.json describes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class SourceOut(BaseModel):
    name: str
    kind: str
    url: str
    state: str = Field(description="ok, new, disabled, gone (the server answered 410) or 'failing xN'")
    enabled: bool
    disabled_reason: str | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_status: int | None
    last_error: str | None
    consecutive_errors: int
    next_check_at: datetime | None
    articles: int
    versions: int


class ArticleOut(BaseModel):
    id: int
    source: str
    url: str
    title: str
    published: datetime | None
    first_seen: datetime
    last_seen: datetime
    version_count: int
    story_id: int | None
    removed_at: datetime | None


class ArticlePage(BaseModel):
    items: list[ArticleOut]
    total: int
    next_offset: int | None


class VersionRow(BaseModel):
    n: int
    seen_at: datetime
    title: str
    words: int
    words_added: int
    words_removed: int
    headline_changed: bool
    reverts_to: int | None


class EventOut(BaseModel):
    kind: str
    detail: str | None
    at: datetime


class ArticleDetail(ArticleOut):
    versions: list[VersionRow]
    events: list[EventOut]


class VersionOut(BaseModel):
    article_id: int
    n: int
    title: str
    summary: str
    body: str
    author: str | None
    published: datetime | None
    updated: datetime | None
    tags: list[str]
    seen_at: datetime
    reverts_to: int | None = Field(description="n of the earlier version whose text this one restores")


class DiffOpOut(BaseModel):
    op: str = Field(description="equal, insert, delete or replace")
    old: str
    new: str


class DiffOut(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    article: int
    from_n: int = Field(alias="from")
    to: int
    headline_changed: bool
    title: list[DiffOpOut]
    body: list[DiffOpOut]
    words_added: int
    words_removed: int


class StoryArticle(BaseModel):
    id: int
    source: str
    title: str
    url: str
    first_seen: datetime
    published: datetime | None


class StoryOut(BaseModel):
    id: int
    title: str
    first_seen: datetime
    last_seen: datetime
    article_count: int
    outlets: list[str] = Field(description="the outlets in the order they first reported it")
    watches: list[str]
    articles: list[StoryArticle] = Field(description="first seen first")


class MatchOut(BaseModel):
    id: int
    watch: str
    created_at: datetime
    story_id: int | None
    flagged: bool
    terms: list[str]
    snippet: str
    article_id: int
    title: str
    url: str
    source: str


class AlertOut(BaseModel):
    id: int
    delivery_id: str
    story_id: int
    watch: str
    channel: str
    match_id: int
    event: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class SearchHitOut(BaseModel):
    article_id: int
    version_id: int
    version_n: int
    source: str
    url: str
    title: str
    snippet: str
    highlights: list[tuple[int, int]] = Field(description="[start, end) character spans of the snippet")
    published: datetime | None
    seen_at: datetime
    story_id: int | None
    rank: float


class SearchOut(BaseModel):
    hits: list[SearchHitOut]
    total: int
    total_capped: bool = False  # true: at least `total` articles match (counting stopped there)
    next_offset: int | None
    index_pending: int = 0  # versions stored but not yet searchable (the search index is catching up)
    index_behind_seconds: float = 0.0  # how long the oldest of them has waited


class SchedulerOut(BaseModel):
    alive: bool
    roles: list[str] = Field(description="what this daemon does: poll, deliver, http")
    worker: str = Field(description="host:pid, as its leases name it")
    started_at: datetime
    last_tick_at: datetime | None
    last_tick_error: str | None
    polls: int
    in_flight: int


class HealthOut(BaseModel):
    status: str = Field(description="ok or degraded (answered with 503)")
    database: bool
    scheduler: SchedulerOut | None = Field(description="null when serving without the daemon")


class ErrorOut(BaseModel):
    detail: str


class QueryErrorOut(BaseModel):
    detail: str
    column: int
