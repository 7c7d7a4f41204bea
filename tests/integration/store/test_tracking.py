"""Tracked article pages in the store, on SQLite and Postgres: due checks, versions, reverts, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from monitor.core.decide import Parsed, decide_poll
from monitor.core.extract import EXTRACTOR_VERSION
from monitor.core.feeds import parse_feed_drafts
from monitor.core.schedule import SchedulePolicy
from monitor.core.track import DEFAULT_LADDER, PageText, decide_page_check
from monitor.models import FetchResponse, SourceKind, SourceSpec
from monitor.store.store import Store
from monitor.store.tables import articles, fetches
from monitor.store.tracking import (
    apply_page_check,
    article_history,
    claim_due_articles,
    earlier_hashes,
    events,
    tracked_articles,
)
from tests.fixtures.feeds import mt_item, mt_rss
from tests.fixtures.seeds import mt_seed

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
FEED = "http://127.0.0.1:9/rss/news"
SEED = mt_seed()


def follow_feed(store: Store) -> int:
    """Poll a follow_links feed once: the article gets version 1 from the feed and is due for its page."""
    store.sync_sources([SourceSpec("mt", SourceKind.FEED, FEED)], NOW)
    (state,) = store.claim_named(None, NOW, timedelta(minutes=5))
    body = mt_rss([mt_item()])
    feed, drafts = parse_feed_drafts(body, {}, FEED)
    with store.write() as conn:
        outcome = decide_poll(
            state,
            FetchResponse(FEED, FEED, 200, body=body),
            Parsed(feed, drafts),
            {},
            NOW,
            SchedulePolicy(interval=timedelta(minutes=10)),
            follow_links=True,
        )
        (stored,) = store.apply_outcome(conn, outcome, FEED)
    return stored.article_id


def check(
    store: Store,
    page: PageText | None,
    now: datetime,
    *,
    status: int = 200,
    url: str | None = None,
    body: bytes = b"<html/>",
    extractor: int = EXTRACTOR_VERSION,
) -> str | None:
    (tracked,) = [a for a in tracked_articles(store, None)]
    response = FetchResponse(tracked.url, url or tracked.url, status, body=body if status == 200 else None)
    with store.write() as conn:
        decided = decide_page_check(
            tracked,
            response,
            page,
            None,
            earlier_hashes(conn, tracked.id),
            now,
            DEFAULT_LADDER,
            extractor_version=extractor,
        )
        stored = apply_page_check(conn, decided, tracked.source_id, response.final_url)
    return stored[0].kind if stored else None


def test_a_tracked_page_from_feed_to_edit_to_revert_to_removal(store: Store) -> None:
    article_id = follow_feed(store)
    (due,) = claim_due_articles(store, NOW, 10, timedelta(minutes=5))
    assert due.id == article_id and due.enrichable and due.feed_summary == SEED.excerpt
    assert claim_due_articles(store, NOW, 10, timedelta(minutes=5)) == []  # leased

    page = PageText(SEED.title, SEED.body, "AFP", SEED.published)
    assert check(store, page, NOW + timedelta(minutes=1)) == "enriched"
    assert check(store, page, NOW + timedelta(minutes=11)) is None
    edited = PageText(SEED.title, SEED.body.replace("1,500 special forces", "2,000 special forces"))
    assert check(store, edited, NOW + timedelta(minutes=31)) == "edit"
    assert check(store, page, NOW + timedelta(hours=1, minutes=1)) == "revert"
    assert check(store, None, NOW + timedelta(hours=3, minutes=1), status=404) is None
    assert check(store, page, NOW + timedelta(hours=6, minutes=1)) is None

    article, history, happened = article_history(store, article_id)
    assert [(v["n"], v["reverts_to"]) for v in history] == [(1, None), (2, None), (3, 1)]
    assert history[0]["body"] == SEED.body and history[0]["summary"] == SEED.excerpt
    assert "2,000 special forces" in history[1]["body"]
    assert history[2]["body"] == SEED.body  # a revert shows its earlier text
    assert [e["kind"] for e in happened] == ["removed", "restored"]
    assert article["removed_at"] is None and article["version_count"] == 3
    with store.read() as conn:
        page_fetches = conn.execute(
            sa.select(sa.func.count()).select_from(fetches).where(fetches.c.article_id == article_id)
        ).scalar_one()
        next_at = conn.execute(
            sa.select(articles.c.next_check_at).where(articles.c.id == article_id)
        ).scalar_one()
    assert page_fetches == 6
    assert next_at == NOW + timedelta(hours=12)  # first_seen + the 12h rung


def test_a_redirected_page_stays_the_same_article(store: Store) -> None:
    article_id = follow_feed(store)
    page = PageText(SEED.title, SEED.body)
    check(store, page, NOW + timedelta(minutes=1))
    new_url = "http://127.0.0.1:9/2024/10/18/north-korea-troops-a86740"
    check(store, page, NOW + timedelta(minutes=11), url=new_url)
    article, history, happened = article_history(store, article_id)
    assert article["url"] == new_url and len(history) == 1
    assert [(e["kind"], e["detail"]) for e in happened] == [("moved", new_url)]
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one() == 1


def test_a_newer_extractor_rebaselines_an_unchanged_page_without_a_version(store: Store) -> None:
    article_id = follow_feed(store)
    old = PageText(SEED.title, SEED.body + " Share this article.")  # what an older extractor kept
    assert check(store, old, NOW + timedelta(minutes=1), extractor=1) == "enriched"
    assert tracked_articles(store, None)[0].extractor_version == 1

    new = PageText(SEED.title, SEED.body)  # the same page read by the newer extractor
    assert check(store, new, NOW + timedelta(minutes=11), extractor=2) is None
    (tracked,) = tracked_articles(store, None)
    assert tracked.extractor_version == 2
    _article, history, _happened = article_history(store, article_id)
    assert len(history) == 1 and history[0]["body"] == SEED.body  # the baseline is the new text
    assert tracked.content_hash == history[0]["content_hash"]
    assert check(store, new, NOW + timedelta(minutes=31), extractor=2) is None

    edited = PageText(SEED.title, SEED.body.replace("1,500 special forces", "2,000 special forces"))
    assert check(store, edited, NOW + timedelta(hours=1, minutes=1), body=b"<html>2</html>", extractor=2) == (
        "edit"
    )
    _article, history, _happened = article_history(store, article_id)
    assert [v["n"] for v in history] == [1, 2] and "2,000 special forces" in history[1]["body"]


def test_a_newer_extractor_on_a_changed_page_is_a_real_check(store: Store) -> None:
    article_id = follow_feed(store)
    page = PageText(SEED.title, SEED.body)
    assert check(store, page, NOW + timedelta(minutes=1), extractor=1) == "enriched"
    edited = PageText(SEED.title, SEED.body.replace("1,500 special forces", "2,000 special forces"))
    assert check(store, edited, NOW + timedelta(minutes=11), body=b"<html>2</html>", extractor=2) == "edit"
    _article, history, _happened = article_history(store, article_id)
    assert [v["n"] for v in history] == [1, 2] and history[0]["body"] == SEED.body
