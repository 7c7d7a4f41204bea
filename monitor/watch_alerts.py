"""Flags and alert rows for the matches a write batch recorded, by each watch's alert rules.

Runs inside `monitor/watching.py`'s step, last in the batch's transaction and under the story lock, so a
match, its story's flag and its alert rows are written together or not at all (the outbox never misses
or doubles an alert). A story alerts a watch once (`story:<id>`); a match that joins a flagged story
alerts on its own unless it is confidently the same event as the article that flagged it (when in doubt,
alert); `alert_on: [edits]` and `[outlets]` add an alert per later edit and per further outlet. Old news
(the backlog rule, `core/watch_rules.is_backlog`) is recorded and grouped but alerts nobody. The SQL is
in `store/stories.py`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from monitor.config import Settings, WatchConfig
from monitor.core.match import WatchHit
from monitor.core.stories import CONFIDENT_SAME_EVENT, StoryIndex, same_event_score
from monitor.core.story_features import StoryFeatures, features
from monitor.core.watch_rules import PreparedVersion, is_backlog, story_doc
from monitor.store.store import Connection
from monitor.store.stories import (
    Flagging,
    alerted_watches,
    first_version_texts,
    flag_story,
    flagging_matches,
    mark_flagged,
    queue_alerts,
    stored_features,
)

log = logging.getLogger("monitor.watch")


class StoryAlerts:
    """The alert rules of every watch: which recorded match flags its story, which queues alert rows."""

    def __init__(self, settings: Settings, index: StoryIndex) -> None:
        self.index = index  # the watch step's story index: the features of the articles it holds
        self.reconfigure(settings)

    def reconfigure(self, settings: Settings) -> None:
        """Take a reloaded config's watches and defaults."""
        self.settings = settings
        self.watches: dict[str, WatchConfig] = {w.name: w for w in settings.watches}
        # The watches with per-edit and per-outlet alerts, picked once: every stored article asks.
        self._on_edits = [w for w in self.watches.values() if "edits" in w.alert_on]
        self._on_outlets = [w for w in self.watches.values() if "outlets" in w.alert_on]

    def max_age(self, watch: str) -> timedelta:
        config = self.watches.get(watch)
        own = config.max_age if config is not None else None
        return own if own is not None else self.settings.defaults.max_age

    def alert_on(self, watch: str) -> tuple[str, ...]:
        config = self.watches.get(watch)
        return config.alert_on if config is not None else ("story",)

    def apply(
        self,
        conn: Connection,
        work: PreparedVersion,
        placed: Mapping[int, int],
        matched: Mapping[tuple[str, int], int],
    ) -> None:
        """Flag and alert for one version whose story and matches the batch has written."""
        text, now = work.text, work.now
        story_id = placed.get(text.article_id, text.story_id)
        assert story_id is not None
        first_seen = text.first_seen or now
        alerted: set[str] = set()
        for hit in work.hits:
            match_id = matched.get((hit.watch, text.version_id))
            if match_id is None:
                continue  # this version was matched already (a rerun)
            if self._record(conn, work, story_id, hit, match_id, first_seen):
                alerted.add(hit.watch)
        if work.item.kind == "edit":
            self._edit_alerts(conn, work, story_id, first_seen)
        elif work.item.is_new_article:
            self._outlet_alerts(conn, work, story_id, first_seen, alerted)

    def _backlog(self, work: PreparedVersion, watch: str, first_seen: datetime) -> bool:
        return is_backlog(
            work.text.published,
            first_seen,
            work.item.first_poll and work.item.kind != "edit",
            self.max_age(watch),
        )

    def _record(
        self,
        conn: Connection,
        work: PreparedVersion,
        story_id: int,
        hit: WatchHit,
        match_id: int,
        first_seen: datetime,
    ) -> bool:
        """Flag the story of a recorded match and queue alerts when it is news. True if it alerted."""
        text, now = work.text, work.now
        if self._backlog(work, hit.watch, first_seen) or "story" not in self.alert_on(hit.watch):
            return False  # recorded and grouped; old news alerts nobody
        if flag_story(conn, story_id, hit.watch, match_id, now):
            key = f"story:{story_id}"
        elif self._surely_alerted(conn, work, story_id, hit.watch):
            return False  # the story was flagged for this watch by the same event: attached, no new alert
        else:
            key = f"article:{text.article_id}"  # joined a flagged story, maybe wrongly: alert it on its own
        mark_flagged(conn, match_id)
        event = "new_story" if work.item.kind in ("new", "enriched") else "new_version"
        self._queue(conn, story_id, hit.watch, match_id, None, event, key, now)
        log.info("watch %s flagged story %d: %s (%s)", hit.watch, story_id, text.title, text.source)
        return True

    def _surely_alerted(self, conn: Connection, work: PreparedVersion, story_id: int, watch: str) -> bool:
        """Whether an article that alerted this watch in this story is confidently the same event as this
        one (else a wrong merge could eat the alert: when in doubt, alert)."""
        alerted = [f.article_id for f in self._flagging(conn, story_id, watch)]
        if work.text.article_id in alerted:
            return True
        mine = work.features or self._features_of(conn, [work.text.article_id]).get(work.text.article_id)
        if mine is None:
            mine = features(story_doc(work.text))
        others = self._features_of(conn, alerted)
        return any(same_event_score(mine, other) >= CONFIDENT_SAME_EVENT for other in others.values())

    def _features_of(self, conn: Connection, article_ids: list[int]) -> dict[int, StoryFeatures]:
        """These articles' story features: indexed, else stored, else derived from their first version."""
        index = self.index
        found = {a: f for a in article_ids if (f := index.features_of(a)) is not None}
        missing = [a for a in article_ids if a not in found]
        if missing:
            for article_id, stored in stored_features(conn, missing).items():
                if stored is not None:
                    found[article_id] = StoryFeatures.from_json(stored)
            missing = [a for a in missing if a not in found]
        if missing:
            for text in first_version_texts(conn, missing):
                found[text.article_id] = features(story_doc(text))
        return found

    def _flagging(self, conn: Connection, story_id: int, watch: str) -> list[Flagging]:
        """The matches that alerted this watch in this story: (match id, article id, source)."""
        return flagging_matches(conn, story_id, watch)

    def _edit_alerts(
        self, conn: Connection, work: PreparedVersion, story_id: int, first_seen: datetime
    ) -> None:
        """Every later edit of an article that alerted a watch with `alert_on: [edits]`."""
        watches = self._on_edits
        if not watches:
            return
        for watch, match_id in alerted_watches(conn, work.text.article_id, [w.name for w in watches]):
            if self._backlog(work, watch, first_seen):
                continue
            key = f"edit:{work.text.version_id}"
            self._queue(conn, story_id, watch, match_id, work.text.version_id, "article_edit", key, work.now)

    def _outlet_alerts(
        self, conn: Connection, work: PreparedVersion, story_id: int, first_seen: datetime, alerted: set[str]
    ) -> None:
        """Another outlet reports a story flagged for a watch with `alert_on: [outlets]`: once per outlet."""
        if not self._on_outlets:
            return
        watches = [w for w in self._on_outlets if w.name not in alerted]
        if not watches:
            return
        source_id = work.item.source_id
        for watch in watches:
            flagging = self._flagging(conn, story_id, watch.name)
            if not flagging or any(f.source_id == source_id for f in flagging):
                continue
            if self._backlog(work, watch.name, first_seen):
                continue
            key = f"outlet:{story_id}:{source_id}"
            self._queue(
                conn,
                story_id,
                watch.name,
                flagging[0].id,
                work.text.version_id,
                "also_reported",
                key,
                work.now,
            )

    def _queue(
        self,
        conn: Connection,
        story_id: int,
        watch: str,
        match_id: int,
        version_id: int | None,
        event: str,
        key: str,
        now: datetime,
    ) -> None:
        config = self.watches.get(watch)
        rows = [
            {
                "delivery_id": uuid.uuid4().hex,
                "story_id": story_id,
                "watch": watch,
                "channel": channel,
                "match_id": match_id,
                "version_id": version_id,
                "event": event,
                "event_key": key,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for channel in (config.channels if config else ())
        ]
        queue_alerts(conn, rows)
