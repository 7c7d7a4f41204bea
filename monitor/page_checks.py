"""An article page's check in the write transaction (decided from what is stored, then applied), a page:
source that is itself the article, and a source's re-check ladder. May import the store, the core, models
and config (what service.py may, below it).
"""

from __future__ import annotations

import re
from datetime import datetime

from monitor.config import SourceConfig
from monitor.core.decide import Parsed
from monitor.core.normalize import article_key, canonical_url
from monitor.core.track import DEFAULT_LADDER, PageCheck, PageText, Recheck, TrackedArticle, decide_page_check
from monitor.models import FetchResponse, SourcePollState, StoredVersion
from monitor.store.store import Connection
from monitor.store.tracking import apply_page_check, earlier_hashes, ensure_article, tracked_by_key


def recheck_of(config: SourceConfig) -> Recheck:
    ladder = config.recheck if config.recheck is not None else DEFAULT_LADDER
    return Recheck(tuple(ladder), tail=config.recheck_tail, until=config.recheck_until)


def check_page(
    conn: Connection,
    article: TrackedArticle,
    response: FetchResponse,
    page: PageText | None,
    error: str | None,
    now: datetime,
    recheck: Recheck,
    ignore: tuple[re.Pattern[str], ...],
) -> tuple[PageCheck, list[StoredVersion]]:
    """Decide one tracked page's check against its stored versions and apply it; the versions it stored."""
    earlier = earlier_hashes(conn, article.id) if page is not None else {}
    check = decide_page_check(article, response, page, error, earlier, now, recheck, ignore)
    stored = apply_page_check(conn, check, article.source_id, response.final_url)
    return check, stored


def page_is_the_article(response: FetchResponse, parsed: Parsed | None) -> bool:
    if response.status in (404, 410):
        return True
    return parsed is not None and parsed.page is not None and parsed.page.kind == "article"


def check_source_page(
    conn: Connection,
    state: SourcePollState,
    response: FetchResponse,
    parsed: Parsed | None,
    now: datetime,
    ignore: tuple[re.Pattern[str], ...],
) -> list[StoredVersion]:
    """A page: source that is a single article: its poll is that article's check."""
    key = article_key(canonical_url(state.url))
    if response.status == 200:
        ensure_article(conn, state.id, key, state.url, now)
    tracked = tracked_by_key(conn, state.id, key)
    if tracked is None:
        return []
    reading = parsed.page if parsed else None
    check = decide_page_check(
        tracked,
        response,
        reading.page if reading else None,
        reading.error if reading else None,
        earlier_hashes(conn, tracked.id),
        now,
        ladder=(),  # the source's own schedule re-checks it
        ignore=ignore,
    )
    return apply_page_check(conn, check, state.id, response.final_url)
