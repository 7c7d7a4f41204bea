"""What polls and page checks did, for logs and the CLI: a page check's summary, a whole cycle's report,
and their log lines. May import the core and models (what service.py may, below it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from monitor.core.track import PageCheck, TrackedArticle
from monitor.models import FetchResponse, PollOutcome, PollSummary, StoredVersion

log = logging.getLogger("monitor.poll")


@dataclass
class CycleReport:
    """What one cycle did: the polls, the page checks and (filled in by the caller) the alerts sent."""

    polls: list[PollSummary]
    checks: list[PageCheckSummary]
    alerts_sent: int = 0
    indexed: int = 0  # versions made searchable at the end of the cycle
    index_seconds: float = 0.0  # how long that took (the cycle's rows were committed before)

    @property
    def new_articles(self) -> int:
        return sum(p.new for p in self.polls) + sum(1 for c in self.checks if c.version == "new")

    @property
    def versions(self) -> int:
        """New versions stored: new articles' first versions and edits (a filled-in version 1 is not one)."""
        return sum(p.new + p.changed for p in self.polls) + sum(
            1 for c in self.checks if c.version in ("new", "edit", "revert")
        )

    def line(self) -> str:
        failed = sum(1 for p in self.polls if p.error)
        return (
            f"{len(self.polls)} sources ({failed} failed), {self.new_articles} new articles, "
            f"{self.versions} versions, {len(self.checks)} page checks, {self.alerts_sent} alerts sent"
        ) + (f", {self.indexed} indexed for search in {self.index_seconds:.1f} s" if self.indexed else "")


@dataclass(frozen=True)
class PageCheckSummary:
    """What one article page check did, for logs and the CLI."""

    article_id: int
    source: str
    url: str
    status: int | None
    version: str | None  # the kind of version stored, if any
    error: str | None
    events: tuple[str, ...] = ()
    next_check_at: datetime | None = None


def page_check_summary(
    article: TrackedArticle, response: FetchResponse, check: PageCheck, stored: list[StoredVersion]
) -> PageCheckSummary:
    return PageCheckSummary(
        article.id,
        article.source_name,
        response.final_url,
        response.status,
        stored[0].kind if stored else None,
        check.last_error,
        tuple(kind for kind, _ in check.events),
        check.next_check_at,
    )


def one_line(text: str, limit: int = 300) -> str:
    """An error message as one short line (database errors span many)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def poll_summary(
    source: str,
    outcome: PollOutcome,
    stored: list[StoredVersion],
    response: FetchResponse,
    *,
    unchanged: bool,
) -> PollSummary:
    """What one stored poll did (`unchanged`: the body was not parsed, as it had not changed)."""
    return PollSummary(
        source=source,
        status=outcome.fetch_status,
        new=sum(1 for v in stored if v.is_new_article),
        changed=sum(1 for v in stored if not v.is_new_article),
        ms=response.duration_ms,
        size=response.size,
        error=outcome.fetch_error,
        next_check_at=outcome.source.next_check_at,
        notes=tuple(
            n
            for n in (
                f"moved to {outcome.source.url}" if outcome.source.url else None,
                "disabled: the server says it is gone" if outcome.source.disable else None,
                f"feed problem: {outcome.problem}" if outcome.problem else None,
                "unchanged body" if response.status == 200 and unchanged else None,
            )
            if n
        ),
    )


def log_poll(summary: PollSummary, outcome: PollOutcome) -> None:
    """One poll's log line."""
    next_in = ""
    if summary.next_check_at is not None:
        seconds = max(0, int((summary.next_check_at - outcome.now).total_seconds()))
        next_in = f" next={seconds // 60}m{seconds % 60:02d}s"
    if summary.error:
        log.warning(
            "%s: %s (status=%s errors=%d%s)",
            summary.source,
            summary.error,
            summary.status if summary.status is not None else "-",
            outcome.source.consecutive_errors,
            next_in,
        )
    else:
        log.info(
            "%s: status=%s new=%d changed=%d ms=%.0f%s%s",
            summary.source,
            summary.status,
            summary.new,
            summary.changed,
            summary.ms,
            next_in,
            "".join(f" ({n})" for n in summary.notes),
        )


def log_page_check(summary: PageCheckSummary, url: str, duration_ms: float) -> None:
    """One page check's log line (`url` is the tracked one, before redirects)."""
    if summary.error:
        log.warning("%s #%d: %s (%s)", summary.source, summary.article_id, summary.error, url)
    else:
        log.info(
            "%s #%d: status=%s %s%s ms=%.0f",
            summary.source,
            summary.article_id,
            summary.status,
            summary.version or "unchanged",
            "".join(f" {e}" for e in summary.events),
            duration_ms,
        )
