"""The watch step's pure side in the writer: a stored version as grouping and matching read it (pure).

`monitor/watching.py` runs in the write transaction; what it decides from plain data lives here: the
documents story grouping (`core/stories.py`) and matching (`core/match.py`) read of a stored version, the
backlog rule (an article that alerts nobody), and the record of one version the step works on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.core.match import MatchDoc, WatchHit
from monitor.core.story_features import StoryDoc, StoryFeatures
from monitor.models import StoredVersion, VersionText


@dataclass(frozen=True)
class PreparedVersion:
    """One stored version with what the step worked out before taking the story lock."""

    item: StoredVersion
    text: VersionText
    features: StoryFeatures | None  # None: the article has its story already (an edit)
    hits: list[WatchHit]
    now: datetime
    stored_features: str | None = None  # the features' JSON as stored, if a parse worker encoded it


def story_doc(text: VersionText) -> StoryDoc:
    """A stored version as story grouping reads it (dated by its publication, else when it was seen)."""
    return StoryDoc(text.article_id, text.source, text.title, text.body, text.published or text.seen_at)


def match_doc(text: VersionText) -> MatchDoc:
    """A stored version as the watch matcher reads it."""
    return MatchDoc(title=text.title, body=text.body, source=text.source, tags=text.tags)


def is_backlog(
    published: datetime | None, first_seen: datetime, first_poll: bool, max_age: timedelta
) -> bool:
    """An article that alerts nobody: published longer than max_age before it was first seen, or undated
    and found by its source's first poll (a new source's archive is not news)."""
    if published is None:
        return first_poll
    return first_seen - published > max_age
