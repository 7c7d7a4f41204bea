"""Plain frozen dataclasses passed between the pure core and the I/O edges."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any, TypeVar

_T = TypeVar("_T")
_FIELD_VALUES: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _field_values(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    names = [f.name for f in fields(cls)]
    if not all(f.init for f in fields(cls)):
        raise TypeError(f"{cls.__name__} has a field its __init__ does not take")
    getter = attrgetter(*names) if len(names) > 1 else lambda obj: (getattr(obj, names[0]),)
    _FIELD_VALUES[cls] = getter
    return getter


def _reduce(self: Any) -> tuple[type, tuple[Any, ...]]:
    cls = type(self)
    return cls, (_FIELD_VALUES.get(cls) or _field_values(cls))(self)


def crosses_processes(cls: type[_T]) -> type[_T]:
    """Pickle a frozen dataclass as its class and field values (in order), rebuilt with one call of its
    __init__: a parse worker's results unpickle in the main process without dataclasses' Python
    __setstate__ (and its `fields()`) per object, a third faster. Every field must be an __init__ argument."""
    _field_values(cls)
    setattr(cls, "__reduce__", _reduce)  # noqa: B010 (mypy refuses assigning a method)
    return cls


class SourceKind(StrEnum):
    FEED = "feed"
    PAGE = "page"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One item of a feed, as the feed describes it (text already normalised, URLs absolute)."""

    guid: str | None
    url: str | None
    title: str
    summary: str
    author: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    tags: tuple[str, ...] = ()
    content: str | None = None  # full text when the feed carries the article body


@crosses_processes
@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed: its entries plus what it says about polling it."""

    title: str | None
    link: str | None
    entries: tuple[FeedEntry, ...]
    ttl_seconds: int | None = None
    problem: str | None = None  # a recoverable parse complaint (feedparser's bozo) worth logging


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """What one HTTP request produced: either a response (any status) or an error."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int | None  # None when no response arrived
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    cache_control: str | None = None
    retry_after: str | None = None
    content_type: str | None = None
    permanent_redirect: str | None = None  # the new URL when every redirect hop was permanent
    error: str | None = None
    duration_ms: float = 0.0
    size: int = 0
    started_at: datetime | None = None
    blocked: bool = False  # refused by the fetch policy (a private address): asking again will not help
    # sha256_hex(body) when the fetcher worked it out (once, as the body arrived): the poll needs it three
    # times (whether to parse, again in the parse step, and the state to store), each ~0.2 ms a body.
    body_sha256: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SourcePollState:
    """What the store remembers about a source between polls."""

    id: int
    name: str
    kind: SourceKind
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    consecutive_errors: int = 0
    last_success_at: datetime | None = None
    enabled: bool = True
    publish_rate: float | None = None  # estimated new articles per hour


@dataclass(frozen=True, slots=True)
class PriorArticle:
    """The stored state of one article that a poll may touch again."""

    id: int
    key: str
    content_hash: str
    version_count: int


@crosses_processes
@dataclass(frozen=True, slots=True)
class ArticleDraft:
    """An article as this poll saw it: identity, fields and its content fingerprint."""

    key: str
    url: str
    title: str
    summary: str
    body: str
    author: str | None
    published: datetime | None
    updated: datetime | None
    tags: tuple[str, ...]
    content_hash: str
    has_page: bool = True  # False: the entry has no link of its own, so there is no page to follow


@dataclass(frozen=True, slots=True)
class ArticleChange:
    """A draft the store must write: a new article, a new version of a known one, or only a sighting."""

    draft: ArticleDraft
    is_new_article: bool
    is_new_version: bool
    prior_id: int | None = None


@dataclass(frozen=True, slots=True)
class SourceUpdate:
    """The source columns a poll outcome sets."""

    next_check_at: datetime
    consecutive_errors: int
    last_status: int | None
    last_error: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    url: str | None = None  # a permanent redirect moves the source here
    disable: bool = False  # 410 Gone
    polled_ok: bool = False
    publish_rate: float | None = None


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """Everything one poll decided, applied by the store in one transaction."""

    source_id: int
    source_name: str
    now: datetime
    source: SourceUpdate
    changes: tuple[ArticleChange, ...] = ()
    fetch_status: int | None = None
    fetch_error: str | None = None
    fetch_bytes: int = 0
    fetch_ms: float = 0.0
    parsed: bool = False
    problem: str | None = None
    track_pages: bool = False  # new articles get their pages fetched and re-checked on the ladder

    @property
    def new_articles(self) -> int:
        return sum(1 for c in self.changes if c.is_new_article)

    @property
    def changed_articles(self) -> int:
        return sum(1 for c in self.changes if c.is_new_version and not c.is_new_article)


@dataclass(frozen=True, slots=True)
class PollSummary:
    """What a poll did, as reported to logs and the CLI."""

    source: str
    status: int | None
    new: int
    changed: int
    ms: float
    error: str | None = None
    next_check_at: datetime | None = None
    notes: tuple[str, ...] = field(default=())
    size: int = 0  # bytes of the body fetched


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A source as the configuration declares it, for syncing into the store."""

    name: str
    kind: SourceKind
    url: str
    enabled: bool = True
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """A version the store has just written, for matching and alerting downstream.

    kind: "new" (an article's first version), "edit" (a later version with new text), "revert" (the text
    went back to version `reverts_to`), "enriched" (version 1 filled in with the article page's text).
    `prior_version_id` is the version this one follows, for the added-text rule of watches.
    """

    article_id: int
    version_id: int
    n: int
    is_new_article: bool
    key: str
    source_id: int = 0
    kind: str = "new"
    prior_version_id: int | None = None
    reverts_to: int | None = None
    first_poll: bool = False  # stored by its source's first successful poll (its backlog)


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """One row of `monitor sources`."""

    name: str
    kind: SourceKind
    url: str
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
    last_problem: str | None = None  # what the last parse dropped or repaired

    @property
    def error(self) -> str | None:
        """What went wrong last, as `monitor sources` and the web show it: why it is gone, else the last error."""
        return self.disabled_reason or self.last_error

    @property
    def state(self) -> str:
        """ok, new, disabled, gone (the server answered 410) or "failing xN"."""
        if not self.enabled:
            return "disabled"
        if self.disabled_reason:
            return "gone"
        if self.last_polled_at is None:
            return "new"
        if self.consecutive_errors:
            return f"failing x{self.consecutive_errors}"
        return "ok"


@dataclass(frozen=True, slots=True)
class VersionText:
    """One stored version as matching, grouping and search read it: the body is the summary and body as
    the matcher sees them (`version_body`), the tags the version's and its source's."""

    version_id: int
    article_id: int
    n: int
    title: str
    body: str
    published: datetime | None  # the version's, else the article's
    seen_at: datetime
    source: str
    url: str
    story_id: int | None
    tags: tuple[str, ...]
    first_seen: datetime | None = None  # the article's


def version_body(summary: str | None, body: str | None) -> str:
    """The text a version is matched on: the summary first unless the body repeats it, then the body."""
    if body and summary and not body.startswith(summary[:80]):
        return f"{summary}\n\n{body}"
    return body or summary or ""
