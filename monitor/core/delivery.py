"""Outbox decisions (pure): when to try a failed delivery again, when to give up, when a digest is due.

The delivery loop (monitor/outbox.py) asks these questions with plain data and acts on the answers.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.core.render import Changes, Snippet
from monitor.core.versions import render_text, version_text, word_diff

RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=6)
JITTER = 0.25  # each delay is scaled by a random factor in [1 - JITTER, 1 + JITTER]
MAX_RETRY_AFTER = timedelta(hours=24)  # a server's Retry-After is honoured up to this long
MAX_CHANGED_WORDS = 40  # an edit alert names at most this many added (and removed) words


@dataclass(frozen=True, slots=True)
class AfterFailure:
    """What to do with an alert whose delivery failed: retry at `retry_at`, or give up (`retry_at` None)."""

    attempts: int
    retry_at: datetime | None

    @property
    def gives_up(self) -> bool:
        return self.retry_at is None


def retry_delay(
    attempts: int,
    rng: random.Random,
    *,
    base: timedelta = RETRY_BASE,
    cap: timedelta = RETRY_CAP,
    retry_after: float | None = None,
) -> timedelta:
    """Exponential backoff with jitter after `attempts` failed attempts (1 -> about `base`), capped; a
    server's Retry-After wins when it asks for longer."""
    exponent = max(0, min(attempts - 1, 30))
    delay = min(cap, base * (2**exponent))
    delay = timedelta(seconds=delay.total_seconds() * rng.uniform(1 - JITTER, 1 + JITTER))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return delay


def after_failure(
    attempts_before: int,
    max_attempts: int,
    *,
    retryable: bool,
    now: datetime,
    rng: random.Random,
    retry_after: float | None = None,
) -> AfterFailure:
    """Count the failed attempt; retry later unless the error is permanent or the attempts are used up."""
    attempts = attempts_before + 1
    if not retryable or attempts >= max_attempts:
        return AfterFailure(attempts, None)
    return AfterFailure(attempts, now + retry_delay(attempts, rng, retry_after=retry_after))


def channel_pause(failures_in_a_row: int, rng: random.Random, retry_after: float | None = None) -> timedelta:
    """How long a channel that cannot be reached rests before the next try (its queue waits, uncounted)."""
    return retry_delay(failures_in_a_row, rng, retry_after=retry_after)


def digest_anchor(last_sent: datetime | None, pending_created: Sequence[datetime]) -> datetime | None:
    """The time a digest schedule counts from: the last digest sent, else the oldest pending alert."""
    if last_sent is not None:
        return last_sent
    return min(pending_created) if pending_created else None


_MARK = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)


def snippet_from_marked(marked: str) -> Snippet:
    """A stored match snippet (hits wrapped in ``**``) as plain text with highlight offsets."""
    text: list[str] = []
    highlights: list[tuple[int, int]] = []
    pos = 0
    length = 0
    for m in _MARK.finditer(marked):
        before = marked[pos : m.start()]
        text.append(before)
        length += len(before)
        hit = m.group(1)
        text.append(hit)
        highlights.append((length, length + len(hit)))
        length += len(hit)
        pos = m.end()
    text.append(marked[pos:])
    return Snippet("".join(text), tuple(highlights))


def edit_changes(prior: Mapping[Any, Any], new: Mapping[Any, Any]) -> Changes:
    """What an edit alert says changed between two versions (title, body, summary): words and a short diff."""
    title = word_diff(prior["title"] or "", new["title"] or "")
    body = word_diff(version_text(prior), version_text(new))
    added = [*title.added_words(), *body.added_words()]
    removed = [*title.removed_words(), *body.removed_words()]
    parts = []
    if title.changed:
        parts.append("Headline: " + render_text(title))
    if body.changed:
        parts.append(render_text(body, context=8))
    return Changes(
        added=tuple(added[:MAX_CHANGED_WORDS]),
        removed=tuple(removed[:MAX_CHANGED_WORDS]),
        diff="\n".join(parts) or None,
    )
