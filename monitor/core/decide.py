"""(prior state, what was fetched, now) -> PollOutcome: the one place poll decisions are made (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.core.normalize import sha256_hex
from monitor.core.pageread import PageReading
from monitor.core.schedule import (
    SchedulePolicy,
    ServerHints,
    clamp_seconds,
    next_check,
    parse_max_age,
    parse_retry_after,
    update_publish_rate,
)
from monitor.core.watchprep import DraftInsight
from monitor.models import (
    ArticleChange,
    ArticleDraft,
    FetchResponse,
    ParsedFeed,
    PollOutcome,
    PriorArticle,
    SourcePollState,
    SourceUpdate,
)


@dataclass(frozen=True, slots=True)
class Parsed:
    """The result of parsing a fetched body: a feed and its drafts, or why it failed."""

    feed: ParsedFeed | None
    drafts: tuple[ArticleDraft, ...] = ()
    error: str | None = None
    page: PageReading | None = None  # for page: sources
    insights: Mapping[str, DraftInsight] | None = None  # by draft key, when the watch step wants them


def body_hash(response: FetchResponse) -> str | None:
    """Hash of a 200 body, so an unchanged body from a server that ignores validators skips parsing."""
    if response.status == 200 and response.body is not None:
        return response.body_sha256 or sha256_hex(response.body)
    return None


def needs_parse(state: SourcePollState, response: FetchResponse) -> bool:
    """Whether a response carries a body that differs from the last one parsed."""
    digest = body_hash(response)
    return digest is not None and digest != state.body_hash


def diff_articles(
    drafts: Sequence[ArticleDraft], prior: Mapping[str, PriorArticle], *, versions_from_feed: bool = True
) -> tuple[ArticleChange, ...]:
    """Classify each draft as a new article, a new version of a known one, or an unchanged sighting.

    When the article pages are tracked, their versions come from the pages, not from the feed's copy.
    """
    changes: list[ArticleChange] = []
    for draft in drafts:
        known = prior.get(draft.key)
        if known is None:
            changes.append(ArticleChange(draft, is_new_article=True, is_new_version=True))
        else:
            changes.append(
                ArticleChange(
                    draft,
                    is_new_article=False,
                    is_new_version=versions_from_feed and known.content_hash != draft.content_hash,
                    prior_id=known.id,
                )
            )
    return tuple(changes)


def _status_error(status: int) -> str:
    reasons = {
        401: "unauthorised",
        403: "forbidden",
        404: "not found",
        410: "gone",
        429: "too many requests",
        500: "server error",
        502: "bad gateway",
        503: "service unavailable",
        504: "gateway timeout",
    }
    return f"HTTP {status} {reasons.get(status, 'error')}"


def decide_poll(
    state: SourcePollState,
    response: FetchResponse,
    parsed: Parsed | None,
    prior: Mapping[str, PriorArticle],
    now: datetime,
    policy: SchedulePolicy,
    *,
    follow_links: bool = False,
) -> PollOutcome:
    """Decide everything a poll changes: articles, versions, source state and the next check time."""
    retry_after = parse_retry_after(response.retry_after, now)
    hints = ServerHints(
        retry_after=retry_after,
        max_age=parse_max_age(response.cache_control),
        ttl=(
            clamp_seconds(parsed.feed.ttl_seconds)
            if parsed and parsed.feed and parsed.feed.ttl_seconds
            else None
        ),
    )
    status = response.status
    error: str | None = response.error
    disable = False
    changes: tuple[ArticleChange, ...] = ()
    problem: str | None = None
    new_body_hash = state.body_hash
    etag, last_modified = state.etag, state.last_modified

    if error is None and status is not None:
        if status == 304:
            etag = response.etag or etag
            last_modified = response.last_modified or last_modified
        elif status == 200:
            if parsed is None:
                pass  # the body is the one parsed last time
            elif parsed.error is not None:
                error = f"parse error: {parsed.error}"
            else:
                changes = diff_articles(parsed.drafts, prior, versions_from_feed=not follow_links)
                problem = parsed.feed.problem if parsed.feed else None
                new_body_hash = body_hash(response)
            if error is None:
                etag, last_modified = response.etag, response.last_modified
        else:
            error = _status_error(status)
            disable = status == 410

    ok = error is None
    errors = 0 if ok else state.consecutive_errors + 1
    rate = state.publish_rate
    if ok and state.last_success_at is not None:
        new_count = sum(1 for c in changes if c.is_new_article)
        rate = update_publish_rate(state.publish_rate, new_count, now - state.last_success_at)
    source = SourceUpdate(
        next_check_at=next_check(
            now,
            policy,
            seed=state.name,
            consecutive_errors=errors,
            hints=hints,
            publish_rate_per_hour=rate,
        ),
        consecutive_errors=errors,
        last_status=status,
        last_error=error,
        etag=etag,
        last_modified=last_modified,
        body_hash=new_body_hash,
        url=response.permanent_redirect if ok and response.permanent_redirect else None,
        disable=disable,
        polled_ok=ok,
        publish_rate=rate,
    )
    return PollOutcome(
        source_id=state.id,
        source_name=state.name,
        now=now,
        source=source,
        changes=changes,
        fetch_status=status,
        fetch_error=error,
        fetch_bytes=response.size,
        fetch_ms=response.duration_ms,
        parsed=parsed is not None and parsed.error is None,
        problem=problem,
        track_pages=follow_links,
    )
