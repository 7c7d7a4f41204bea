"""Poll decisions from plain data: statuses, validators, body hashes, article changes, next check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.core.decide import Parsed, body_hash, decide_poll, needs_parse
from monitor.core.feeds import parse_feed_drafts
from monitor.core.normalize import sha256_hex
from monitor.core.schedule import SchedulePolicy
from monitor.models import FetchResponse, PriorArticle, SourceKind, SourcePollState
from tests.fixtures.feeds import mt_news_feed

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
POLICY = SchedulePolicy(interval=timedelta(minutes=10), jitter=0.0)
URL = "https://www.themoscowtimes.com/rss/news"


def state(**kw: object) -> SourcePollState:
    values: dict[str, object] = {"id": 1, "name": "mt", "kind": SourceKind.FEED, "url": URL}
    values.update(kw)
    return SourcePollState(**values)  # type: ignore[arg-type]


def response(status: int | None, body: bytes | None = None, **kw: object) -> FetchResponse:
    return FetchResponse(url=URL, final_url=URL, status=status, body=body, size=len(body or b""), **kw)  # type: ignore[arg-type]


def parsed(body: bytes) -> Parsed:
    feed, drafts = parse_feed_drafts(body, {}, URL)
    return Parsed(feed, drafts)


def test_first_poll_makes_every_entry_new_and_keeps_validators() -> None:
    body = mt_news_feed(extra=4)
    out = decide_poll(state(), response(200, body, etag='"v1"'), parsed(body), {}, NOW, POLICY)
    assert out.new_articles == 5 and out.changed_articles == 0
    assert out.source.etag == '"v1"' and out.source.body_hash == sha256_hex(body)
    assert out.source.consecutive_errors == 0 and out.source.polled_ok
    # ttl 10 minutes is a floor; interval is 10 minutes: due in 10 minutes.
    assert out.source.next_check_at == NOW + timedelta(minutes=10)


def test_known_entries_are_sightings_or_versions() -> None:
    body = mt_news_feed(extra=2)
    p = parsed(body)
    first, second, third = p.drafts
    prior = {
        first.key: PriorArticle(10, first.key, first.content_hash, 1),
        second.key: PriorArticle(11, second.key, "old-hash", 1),
    }
    out = decide_poll(state(), response(200, body), p, prior, NOW, POLICY)
    kinds = {c.draft.key: (c.is_new_article, c.is_new_version, c.prior_id) for c in out.changes}
    assert kinds[first.key] == (False, False, 10)
    assert kinds[second.key] == (False, True, 11)
    assert kinds[third.key] == (True, True, None)


def test_304_is_success_without_parsing() -> None:
    s = state(etag='"v1"', consecutive_errors=3)
    out = decide_poll(s, response(304), None, {}, NOW, POLICY)
    assert out.source.polled_ok and out.source.consecutive_errors == 0
    assert out.source.etag == '"v1"' and not out.changes


def test_unchanged_body_is_not_parsed_again() -> None:
    body = mt_news_feed(extra=1)
    s = state(body_hash=sha256_hex(body))
    assert not needs_parse(s, response(200, body))
    assert needs_parse(state(), response(200, body))
    out = decide_poll(s, response(200, body), None, {}, NOW, POLICY)
    assert out.source.polled_ok and not out.changes and out.source.body_hash == s.body_hash


def test_errors_back_off_and_are_recorded() -> None:
    out = decide_poll(
        state(consecutive_errors=2), response(None, error="connection refused"), None, {}, NOW, POLICY
    )
    assert out.source.consecutive_errors == 3
    assert out.source.last_error == "connection refused"
    assert out.source.next_check_at == NOW + timedelta(minutes=40)
    out = decide_poll(state(), response(500), None, {}, NOW, POLICY)
    assert out.source.last_error == "HTTP 500 server error" and not out.source.polled_ok


def test_429_honours_retry_after() -> None:
    out = decide_poll(state(), response(429, retry_after="3600"), None, {}, NOW, POLICY)
    assert out.source.next_check_at == NOW + timedelta(hours=1)
    assert out.source.last_error == "HTTP 429 too many requests"


def test_410_disables() -> None:
    out = decide_poll(state(), response(410), None, {}, NOW, POLICY)
    assert out.source.disable and out.source.last_error == "HTTP 410 gone"


def test_parse_error_is_an_error_and_keeps_old_state() -> None:
    s = state(etag='"old"', body_hash="h0")
    out = decide_poll(
        s, response(200, b"<html/>", etag='"new"'), Parsed(None, error="not a feed"), {}, NOW, POLICY
    )
    assert out.source.last_error == "parse error: not a feed"
    assert (
        out.source.etag == '"old"' and out.source.body_hash == "h0"
    )  # so the next poll fetches and tries again


def test_permanent_redirect_moves_the_source() -> None:
    body = mt_news_feed(extra=0)
    moved = FetchResponse(
        url=URL,
        final_url="https://new.example/rss",
        status=200,
        body=body,
        permanent_redirect="https://new.example/rss",
    )
    out = decide_poll(state(), moved, parsed(body), {}, NOW, POLICY)
    assert out.source.url == "https://new.example/rss"


def test_the_body_hash_is_the_fetchers_when_it_gave_one() -> None:
    body = mt_news_feed(extra=1)
    assert body_hash(response(200, body)) == sha256_hex(body)
    assert body_hash(response(200, body, body_sha256="h1")) == "h1"
    assert body_hash(response(304, None, body_sha256=None)) is None
    assert response(200, body, body_sha256="h1") == response(200, body)  # not part of what it says
