"""When a source is next due: interval, jitter, backoff, adaptive rate, server hints (pure)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)
# No server may push a source further out than this (a ttl of 10^20 minutes overflowed timedelta and
# left the source with no next check at all).
MAX_HINT = timedelta(days=7)


def clamp_seconds(seconds: float | int) -> timedelta:
    """Seconds from a server as a timedelta between 0 and MAX_HINT."""
    limit = MAX_HINT.total_seconds()
    if seconds != seconds or seconds <= 0:  # NaN or negative
        return timedelta(0)
    return timedelta(seconds=min(float(seconds), limit))


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    """How often to poll one source."""

    interval: timedelta
    jitter: float = 0.1  # +/- this fraction of the interval, deterministic per source and time
    max_backoff: timedelta = timedelta(hours=6)
    adaptive: bool = False
    min_interval: timedelta = timedelta(minutes=2)
    max_interval: timedelta = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class ServerHints:
    """What the response said about how soon to come back."""

    retry_after: timedelta | None = None
    max_age: timedelta | None = None
    ttl: timedelta | None = None

    def floor(self) -> timedelta:
        """The soonest the server allows the next request."""
        candidates = [d for d in (self.retry_after, self.max_age, self.ttl) if d is not None]
        return max(candidates, default=timedelta(0))


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as delta-seconds or an HTTP date, never negative."""
    if not value:
        return None
    value = value.strip()[:100]
    if value.isascii() and value.isdigit():
        return clamp_seconds(int(value[:12]) if len(value) > 12 else int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), MAX_HINT)


def parse_max_age(cache_control: str | None) -> timedelta | None:
    """The max-age (or s-maxage) of a Cache-Control header."""
    if not cache_control:
        return None
    ages = [int(m[:12]) for m in _MAX_AGE.findall(cache_control[:4096])]
    return clamp_seconds(max(ages)) if ages else None


def jitter_fraction(seed: str) -> float:
    """A stable pseudo-random number in [-1, 1) from a seed, so schedules spread without a clock or RNG."""
    digest = hashlib.blake2b(seed.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**63 - 1.0


def update_publish_rate(prior_per_hour: float | None, new_articles: int, elapsed: timedelta) -> float:
    """Exponentially weighted estimate of how many articles a source publishes per hour."""
    hours = elapsed.total_seconds() / 3600
    if hours <= 0:
        return prior_per_hour or 0.0
    observed = new_articles / hours
    if prior_per_hour is None:
        return observed
    weight = min(0.5, hours / 12)  # a long gap says more than a short one
    return (1 - weight) * prior_per_hour + weight * observed


def base_interval(policy: SchedulePolicy, publish_rate_per_hour: float | None) -> timedelta:
    """The interval before jitter: fixed, or one poll per expected new article within bounds."""
    if not policy.adaptive or publish_rate_per_hour is None:
        return policy.interval
    if publish_rate_per_hour <= 0:
        return policy.max_interval
    wanted = timedelta(hours=1 / publish_rate_per_hour)
    return min(max(wanted, policy.min_interval), policy.max_interval)


def next_check(
    now: datetime,
    policy: SchedulePolicy,
    *,
    seed: str,
    consecutive_errors: int = 0,
    hints: ServerHints = ServerHints(),
    publish_rate_per_hour: float | None = None,
) -> datetime:
    """Return the next time this source is due, backing off after failures and honouring the server."""
    if consecutive_errors > 0:
        delay = min(policy.interval * (2 ** min(consecutive_errors - 1, 30)), policy.max_backoff)
        delay = max(delay, policy.interval)
    else:
        delay = base_interval(policy, publish_rate_per_hour)
    delay = delay * (1 + policy.jitter * jitter_fraction(f"{seed}|{now.isoformat()}"))
    floor = hints.floor()
    if hints.retry_after is None:
        # Cache hints are advice: never let them push a source past its longest interval.
        floor = min(floor, max(policy.max_interval, policy.interval))
    wait: timedelta = min(max(delay, floor, timedelta(seconds=1)), max(MAX_HINT, policy.max_backoff))
    return now + wait
