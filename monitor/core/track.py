"""Article pages: what one re-check of a tracked page decides (pure).

A tracked article is re-fetched on a decaying ladder from first_seen. Each check decides: a new version,
a revert to an earlier text, filling in version 1 (made from the feed's summary) with the page's text,
an extraction failure, a removal (404/410) or restoration, a move (redirect), and the next check time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.core.extract import EXTRACTOR_VERSION, ExtractedArticle
from monitor.core.versions import content_fingerprint
from monitor.models import FetchResponse

# Re-check offsets from first_seen: about 10m, 30m, 1h, 3h, 6h, 12h, 1d, 2d, 3d, then stop.
DEFAULT_LADDER: tuple[timedelta, ...] = tuple(
    timedelta(minutes=m) for m in (10, 30, 60, 180, 360, 720, 1440, 2880, 4320)
)
DEFAULT_TAIL = timedelta(days=7)
DEFAULT_UNTIL = timedelta(days=90)
RETRY_FIRST = timedelta(minutes=5)
RETRY_MAX = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class TrackedArticle:
    """The stored state of an article whose page is tracked."""

    id: int
    source_id: int
    source_name: str
    url: str
    first_seen: datetime
    content_hash: str
    version_count: int
    check_errors: int = 0
    removed: bool = False
    enrichable: bool = False  # version 1 came from a feed and has no page text yet
    feed_summary: str = ""
    etag: str | None = None  # the page's validators, for a conditional GET
    last_modified: str | None = None
    # The extractor version that made content_hash from the page (None: the baseline is not page text,
    # e.g. it came from a feed) and the hash of the page body it was read from.
    extractor_version: int | None = None
    page_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Recheck:
    """When a tracked page is looked at again: the ladder from first seen, then a slow tail until a limit."""

    ladder: tuple[timedelta, ...] = DEFAULT_LADDER
    tail: timedelta | None = DEFAULT_TAIL  # None: stop when the ladder ends
    until: timedelta = DEFAULT_UNTIL

    def next_at(self, first_seen: datetime, now: datetime) -> tuple[datetime | None, bool]:
        """The next check after now, and whether it is a tail check (the ladder has ended)."""
        rung = ladder_next(first_seen, now, self.ladder)
        if rung is not None:
            return rung, False
        if self.tail is None:
            return None, False
        when = now + self.tail
        return (when, True) if when <= first_seen + self.until else (None, False)


PageText = ExtractedArticle  # what a check compares: the page as extraction found it


@dataclass(frozen=True, slots=True)
class VersionDraft:
    title: str
    summary: str
    body: str
    author: str | None
    published: datetime | None
    updated: datetime | None
    content_hash: str


@dataclass(frozen=True, slots=True)
class PageCheck:
    """Everything one page check decided, applied by the store in one transaction."""

    article_id: int
    now: datetime
    next_check_at: datetime | None
    check_errors: int
    last_error: str | None
    version: VersionDraft | None = None
    kind: str | None = None  # "new" | "edit" | "revert" | "enriched" when version is set
    reverts_to: int | None = None
    removed: bool | None = None  # True: mark removed; False: mark restored; None: unchanged
    new_url: str | None = None
    events: tuple[tuple[str, str | None], ...] = ()
    fetch_status: int | None = None
    fetch_error: str | None = None
    fetch_bytes: int = 0
    fetch_ms: float = 0.0
    in_tail: bool = False  # the next check is a tail check (claimed newest first, within a budget)
    etag: str | None = None  # validators to keep for the next conditional GET
    last_modified: str | None = None
    # Set when page text was read: the extractor version and page body hash to keep with the baseline.
    extractor_version: int | None = None
    page_hash: str | None = None
    # An unchanged page re-read by a newer extractor: its text replaces the baseline (the latest
    # version's text), not a new version, and nothing is alerted.
    baseline: VersionDraft | None = None


def page_hash(body: bytes | None) -> str | None:
    """The SHA-256 of a page body, to tell later whether the page itself changed."""
    return hashlib.sha256(body).hexdigest() if body is not None else None


def page_changed(article: TrackedArticle, response: FetchResponse) -> bool | None:
    """Whether the page differs from the one the baseline was read from; None when it cannot be told.

    The validators decide when both sides have them (an ETag, else Last-Modified), else the body hash.
    """
    if article.etag and response.etag:
        return article.etag != response.etag
    if article.last_modified and response.last_modified:
        return article.last_modified != response.last_modified
    body_hash = page_hash(response.body)
    if article.page_hash and body_hash:
        return article.page_hash != body_hash
    return None


def ladder_next(first_seen: datetime, now: datetime, ladder: Sequence[timedelta]) -> datetime | None:
    """The first rung of the ladder (offsets from first_seen) after now; None when the ladder has ended."""
    for step in ladder:
        when = first_seen + step
        if when > now:
            return when
    return None


def _retry_at(now: datetime, errors: int, ladder_at: datetime | None) -> datetime | None:
    delay = min(RETRY_FIRST * (2 ** max(errors - 1, 0)), RETRY_MAX)
    retry = now + delay
    if ladder_at is None:
        return retry if errors <= 3 else None  # a few retries after the ladder ends, then stop
    soonest: datetime = min(retry, ladder_at)
    return soonest


def decide_page_check(
    article: TrackedArticle,
    response: FetchResponse,
    page: PageText | None,
    extract_error: str | None,
    earlier: Mapping[str, int],
    now: datetime,
    ladder: Sequence[timedelta] | Recheck,
    ignore: Sequence[re.Pattern[str]] = (),
    extractor_version: int = EXTRACTOR_VERSION,
) -> PageCheck:
    """Decide one check of an article page. `earlier` maps content hashes of earlier versions to their n.

    A 304 (the page answered our validators) is an unchanged check; the validators of a page whose text
    was read are kept for the next conditional GET. When the baseline text was made by an older
    extractor and the page has not changed (or that cannot be told), different text is the extractor's
    doing, not an edit: it becomes the new baseline without a version or an alert.
    """
    recheck = ladder if isinstance(ladder, Recheck) else Recheck(tuple(ladder), tail=None)
    ladder_at, in_tail = recheck.next_at(article.first_seen, now)
    events: list[tuple[str, str | None]] = []
    common: dict[str, Any] = {
        "article_id": article.id,
        "now": now,
        "fetch_status": response.status,
        "fetch_bytes": response.size,
        "fetch_ms": response.duration_ms,
        "in_tail": in_tail,
    }
    if response.status == 304 and response.error is None:
        return PageCheck(
            **common,
            next_check_at=ladder_at,
            check_errors=0,
            last_error=None,
            removed=False if article.removed else None,
            events=(("restored", None),) if article.removed else (),
            etag=response.etag or article.etag,
            last_modified=response.last_modified or article.last_modified,
        )
    new_url = response.final_url if response.status == 200 and response.final_url != article.url else None
    if new_url:
        events.append(("moved", new_url))

    if response.status in (404, 410):
        if not article.removed:
            events.append(("removed", f"HTTP {response.status}"))
        return PageCheck(
            **common,
            next_check_at=ladder_at,
            check_errors=0,
            last_error=None,
            removed=True if not article.removed else None,
            events=tuple(events),
        )
    error = response.error or (f"HTTP {response.status}" if response.status != 200 else None)
    if error is None and page is None:
        error = f"extraction failed: {extract_error or 'no article text found'}"
    if error is not None:
        errors = article.check_errors + 1
        return PageCheck(
            **common,
            next_check_at=None if response.blocked else _retry_at(now, errors, ladder_at),
            check_errors=errors,
            last_error=error,
            events=tuple(events),
            fetch_error=error,
        )
    assert page is not None
    if article.removed:
        events.append(("restored", None))
    fingerprint = content_fingerprint(page.title, page.text, ignore=ignore)
    version: VersionDraft | None = None
    baseline: VersionDraft | None = None
    kind: str | None = None
    reverts_to: int | None = None
    stale = article.extractor_version is not None and article.extractor_version < extractor_version
    if fingerprint != article.content_hash:
        draft = VersionDraft(
            title=page.title,
            summary=article.feed_summary,
            body=page.text,
            author=page.author,
            published=page.published,
            updated=page.updated,
            content_hash=fingerprint,
        )
        unchanged_page = page_changed(article, response) is not True
        if stale and article.version_count > 0 and not article.enrichable and unchanged_page:
            baseline = draft
        else:
            version = draft
            if article.version_count == 0:
                kind = "new"
            elif article.enrichable:
                kind = "enriched"
            elif fingerprint in earlier:
                kind, reverts_to = "revert", earlier[fingerprint]
            else:
                kind = "edit"
    return PageCheck(
        **common,
        next_check_at=ladder_at,
        check_errors=0,
        last_error=None,
        version=version,
        kind=kind,
        reverts_to=reverts_to,
        removed=False if article.removed else None,
        new_url=new_url,
        events=tuple(events),
        etag=response.etag,
        last_modified=response.last_modified,
        extractor_version=extractor_version,
        page_hash=page_hash(response.body),
        baseline=baseline,
    )
