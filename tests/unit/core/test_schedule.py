"""Scheduling decisions: intervals, jitter, backoff, server hints, adaptive rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.schedule import (
    SchedulePolicy,
    ServerHints,
    jitter_fraction,
    next_check,
    parse_max_age,
    parse_retry_after,
    update_publish_rate,
)

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
TEN = timedelta(minutes=10)


def test_interval_with_bounded_jitter() -> None:
    policy = SchedulePolicy(interval=TEN, jitter=0.1)
    delays = {next_check(NOW, policy, seed=f"s{i}") - NOW for i in range(200)}
    assert len(delays) > 100  # spread out
    assert all(timedelta(minutes=9) <= d <= timedelta(minutes=11) for d in delays)


def test_same_seed_same_time_is_deterministic() -> None:
    policy = SchedulePolicy(interval=TEN)
    assert next_check(NOW, policy, seed="a") == next_check(NOW, policy, seed="a")


@given(st.text(max_size=30))
def test_jitter_fraction_in_range(seed: str) -> None:
    assert -1.0 <= jitter_fraction(seed) < 1.0


def test_backoff_doubles_and_caps() -> None:
    policy = SchedulePolicy(interval=TEN, jitter=0.0, max_backoff=timedelta(hours=2))
    delays = [next_check(NOW, policy, seed="x", consecutive_errors=n) - NOW for n in range(1, 8)]
    assert delays[:4] == [TEN, 2 * TEN, 4 * TEN, 8 * TEN]
    assert delays[-1] == timedelta(hours=2)


def test_retry_after_wins_over_a_shorter_interval_even_beyond_max() -> None:
    policy = SchedulePolicy(interval=TEN, jitter=0.0, max_interval=timedelta(minutes=30))
    hints = ServerHints(retry_after=timedelta(hours=2))
    assert next_check(NOW, policy, seed="x", consecutive_errors=1, hints=hints) - NOW == timedelta(hours=2)


def test_ttl_and_max_age_are_floors_capped_by_max_interval() -> None:
    policy = SchedulePolicy(interval=timedelta(minutes=5), jitter=0.0, max_interval=timedelta(hours=1))
    assert next_check(NOW, policy, seed="x", hints=ServerHints(ttl=TEN)) - NOW == TEN
    huge = ServerHints(max_age=timedelta(days=2))
    assert next_check(NOW, policy, seed="x", hints=huge) - NOW == timedelta(hours=1)


def test_adaptive_follows_publish_rate_within_bounds() -> None:
    policy = SchedulePolicy(
        interval=TEN,
        jitter=0.0,
        adaptive=True,
        min_interval=timedelta(minutes=2),
        max_interval=timedelta(hours=6),
    )
    assert next_check(NOW, policy, seed="x", publish_rate_per_hour=6.0) - NOW == TEN
    assert next_check(NOW, policy, seed="x", publish_rate_per_hour=600.0) - NOW == timedelta(minutes=2)
    assert next_check(NOW, policy, seed="x", publish_rate_per_hour=0.0) - NOW == timedelta(hours=6)
    # Never faster than the feed's ttl allows.
    fast = next_check(NOW, policy, seed="x", publish_rate_per_hour=60.0, hints=ServerHints(ttl=TEN))
    assert fast - NOW == TEN


def test_publish_rate_moves_toward_observation() -> None:
    assert update_publish_rate(None, 6, timedelta(hours=1)) == 6.0
    rate = update_publish_rate(6.0, 0, timedelta(hours=1))
    assert 0 < rate < 6.0
    assert update_publish_rate(3.0, 5, timedelta(0)) == 3.0


def test_header_parsing() -> None:
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert parse_retry_after("Fri, 18 Oct 2024 12:30:00 GMT", NOW) == timedelta(minutes=30)
    assert parse_retry_after("Fri, 18 Oct 2024 11:30:00 GMT", NOW) == timedelta(0)
    assert parse_retry_after("soon", NOW) is None
    assert parse_max_age("public, max-age=600") == timedelta(seconds=600)
    assert parse_max_age("max-age=60, s-maxage=300") == timedelta(seconds=300)
    assert parse_max_age("no-cache") is None
