"""Page re-check decisions from plain data: versions, reverts, enrichment, removal, moves, retries, ladder."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.core.track import (
    DEFAULT_LADDER,
    PageText,
    TrackedArticle,
    decide_page_check,
    ladder_next,
    page_changed,
    page_hash,
)
from monitor.core.versions import content_fingerprint
from monitor.models import FetchResponse
from tests.fixtures.seeds import mt_seed

FIRST = datetime(2024, 10, 18, 9, 0, tzinfo=UTC)
URL = "https://www.themoscowtimes.com/2024/10/18/north-korea-a86740"
SEED = mt_seed()
PAGE = PageText(title=SEED.title, text=SEED.body, author="AFP", published=SEED.published)
HASH = content_fingerprint(SEED.title, SEED.body)


def article(**kw: object) -> TrackedArticle:
    values: dict[str, object] = {
        "id": 7,
        "source_id": 1,
        "source_name": "mt",
        "url": URL,
        "first_seen": FIRST,
        "content_hash": HASH,
        "version_count": 2,
    }
    values.update(kw)
    return TrackedArticle(**values)  # type: ignore[arg-type]


def ok(url: str = URL) -> FetchResponse:
    return FetchResponse(url=URL, final_url=url, status=200, body=b"<html/>", size=7)


def test_ladder() -> None:
    assert ladder_next(FIRST, FIRST + timedelta(minutes=1), DEFAULT_LADDER) == FIRST + timedelta(minutes=10)
    assert ladder_next(FIRST, FIRST + timedelta(hours=2), DEFAULT_LADDER) == FIRST + timedelta(hours=3)
    assert ladder_next(FIRST, FIRST + timedelta(days=3), DEFAULT_LADDER) is None


def test_unchanged_page_makes_no_version_and_follows_the_ladder() -> None:
    now = FIRST + timedelta(minutes=12)
    check = decide_page_check(article(), ok(), PAGE, None, {HASH: 1}, now, DEFAULT_LADDER)
    assert check.version is None and check.kind is None
    assert check.next_check_at == FIRST + timedelta(minutes=30)


def test_an_edit_is_a_version_and_a_flip_back_is_a_revert() -> None:
    now = FIRST + timedelta(hours=1)
    edited = PageText(SEED.title, SEED.body.replace("1,500 special forces", "3,000 special forces"))
    check = decide_page_check(article(), ok(), edited, None, {HASH: 1}, now, DEFAULT_LADDER)
    assert check.kind == "edit" and check.version is not None and "3,000" in check.version.body
    back = decide_page_check(
        article(content_hash=check.version.content_hash, version_count=3),
        ok(),
        PAGE,
        None,
        {HASH: 1, check.version.content_hash: 3},
        now,
        DEFAULT_LADDER,
    )
    assert back.kind == "revert" and back.reverts_to == 1


def test_first_page_text_fills_version_one_or_makes_it() -> None:
    now = FIRST + timedelta(minutes=1)
    feed_only = article(content_hash="feed-hash", version_count=1, enrichable=True, feed_summary=SEED.excerpt)
    check = decide_page_check(feed_only, ok(), PAGE, None, {"feed-hash": 1}, now, DEFAULT_LADDER)
    assert check.kind == "enriched" and check.version is not None and check.version.summary == SEED.excerpt
    pending = article(content_hash="", version_count=0)
    assert decide_page_check(pending, ok(), PAGE, None, {}, now, DEFAULT_LADDER).kind == "new"


def test_whitespace_and_ignored_noise_are_not_edits() -> None:
    now = FIRST + timedelta(hours=1)
    noisy = PageText(SEED.title, SEED.body.replace(". ", ".   ") + "\n\n1,234 shares")
    ignore = (re.compile(r"[\d,.]+K? shares"),)
    check = decide_page_check(article(), ok(), noisy, None, {HASH: 1}, now, DEFAULT_LADDER, ignore)
    assert check.version is None


def test_404_marks_removed_once_and_200_restores() -> None:
    now = FIRST + timedelta(hours=1)
    gone = FetchResponse(url=URL, final_url=URL, status=404)
    check = decide_page_check(article(), gone, None, None, {}, now, DEFAULT_LADDER)
    assert check.removed is True and check.events == (("removed", "HTTP 404"),)
    again = decide_page_check(article(removed=True), gone, None, None, {}, now, DEFAULT_LADDER)
    assert again.removed is None and again.events == ()
    back = decide_page_check(article(removed=True), ok(), PAGE, None, {HASH: 1}, now, DEFAULT_LADDER)
    assert back.removed is False and back.events == (("restored", None),)


def test_a_redirect_keeps_the_article_and_moves_its_url() -> None:
    now = FIRST + timedelta(hours=1)
    moved = URL.replace("north-korea-a86740", "north-korea-troops-a86740")
    check = decide_page_check(article(), ok(moved), PAGE, None, {HASH: 1}, now, DEFAULT_LADDER)
    assert check.new_url == moved and check.events == (("moved", moved),) and check.version is None


def test_failures_retry_sooner_than_the_ladder_and_say_why() -> None:
    now = FIRST + timedelta(hours=7)
    down = FetchResponse(url=URL, final_url=URL, status=None, error="connection refused by x")
    check = decide_page_check(article(check_errors=1), down, None, None, {}, now, DEFAULT_LADDER)
    assert check.check_errors == 2 and check.last_error == "connection refused by x"
    assert check.next_check_at == now + timedelta(minutes=10)
    failed = decide_page_check(article(), ok(), None, "no article text found", {}, now, DEFAULT_LADDER)
    assert failed.last_error == "extraction failed: no article text found"
    late = decide_page_check(
        article(check_errors=5), down, None, None, {}, FIRST + timedelta(days=4), DEFAULT_LADDER
    )
    assert late.next_check_at is None  # the ladder is over and retries are spent


def test_an_older_extractor_baseline_of_an_unchanged_page_is_replaced_not_versioned() -> None:
    now = FIRST + timedelta(minutes=11)
    body = b"<html/>"
    older = article(content_hash="older-extraction", extractor_version=1, page_hash=page_hash(body))
    check = decide_page_check(older, ok(), PAGE, None, {}, now, DEFAULT_LADDER, extractor_version=2)
    assert check.version is None and check.kind is None
    assert check.baseline is not None and check.baseline.content_hash == HASH
    assert check.extractor_version == 2 and check.page_hash == page_hash(body)
    # Not stale: the same text difference is an edit.
    current = replace(older, extractor_version=2)
    check = decide_page_check(current, ok(), PAGE, None, {}, now, DEFAULT_LADDER, extractor_version=2)
    assert check.kind == "edit" and check.baseline is None
    # Unknown (no hash, no validators): prefer no alert. A feed's baseline (None) is never stale.
    unknown = replace(older, page_hash=None)
    assert (
        decide_page_check(unknown, ok(), PAGE, None, {}, now, DEFAULT_LADDER, extractor_version=2).baseline
        is not None
    )
    feed = replace(older, extractor_version=None)
    assert (
        decide_page_check(feed, ok(), PAGE, None, {}, now, DEFAULT_LADDER, extractor_version=2).kind == "edit"
    )


def test_whether_the_page_changed() -> None:
    response = FetchResponse(URL, URL, 200, body=b"<html>2</html>", etag='"b"', last_modified="Mon")
    assert page_changed(article(etag='"a"', page_hash=page_hash(b"<html>2</html>")), response) is True
    assert page_changed(article(etag='"b"', page_hash="x"), response) is False  # the ETag decides
    assert page_changed(article(last_modified="Mon", page_hash="x"), response) is False
    bare = FetchResponse(URL, URL, 200, body=b"<html>2</html>")
    assert page_changed(article(page_hash=page_hash(b"<html/>")), bare) is True
    assert page_changed(article(page_hash=page_hash(b"<html>2</html>")), bare) is False
    assert page_changed(article(), bare) is None
    changed = article(content_hash="older-extraction", extractor_version=1, page_hash=page_hash(b"<html/>"))
    check = decide_page_check(changed, bare, PAGE, None, {}, FIRST, DEFAULT_LADDER, extractor_version=2)
    assert check.kind == "edit" and check.baseline is None
