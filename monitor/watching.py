"""Watches and stories at write time: group stories, match versions, flag stories, queue alerts.

The service calls the step for every unit it stores; the step gathers them and applies them last in the
batch's transaction (`finish`), so a match, its story and its alert rows are written together or not at
all (the outbox never misses or doubles an alert), and the story lock is held only for that last part.

Several processes may write to one database: assignment is serialised (a Postgres advisory lock, SQLite's
write lock) and each writer first catches up on the memberships other processes committed since it last
looked (`story_members` ids grow in commit order under the lock).
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.config import Settings, WatchConfig
from monitor.core.match import MatchDoc, Matcher, WatchHit, WatchSpec, compile_watches
from monitor.core.stories import StoryDoc, StoryFeatures, StoryIndex, features
from monitor.models import StoredVersion, VersionText
from monitor.store.repo import Store, articles, insert_ignoring, load_version_texts, versions
from monitor.store.stories import MemberRow, add_member, last_member_id, lock_assignment, members
from monitor.store.tables import Alert, Match, Story, StoryWatch

if TYPE_CHECKING:
    from monitor.service import Service

log = logging.getLogger("monitor.watch")

stories = cast(sa.Table, Story.__table__)
matches = cast(sa.Table, Match.__table__)
story_watches = cast(sa.Table, StoryWatch.__table__)
alerts = cast(sa.Table, Alert.__table__)

STORY_WINDOW = timedelta(days=3)

# Statements built once: the watch step runs for every stored version.
_BUMP_STORY = (
    stories.update()
    .where(stories.c.id == sa.bindparam("b_id"))
    .values(article_count=stories.c.article_count + 1, last_seen=sa.bindparam("b_now"))
)
_MARK_FLAGGED = matches.update().where(matches.c.id == sa.bindparam("b_id")).values(flagged=True)
_NEW_STORY = stories.insert().returning(stories.c.id)
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class _Statements:
    """The dialect's INSERT ... ON CONFLICT DO NOTHING statements, built once."""

    match: Any
    flag: Any
    alert: Any


@dataclass(frozen=True)
class _Work:
    """One stored version with what the step worked out before taking the story lock."""

    item: StoredVersion
    text: VersionText
    features: StoryFeatures | None  # None: the article has its story already (an edit)
    hits: list[WatchHit]
    now: datetime


def watch_specs(settings: Settings) -> list[WatchSpec]:
    return [WatchSpec(name=w.name, query=w.query, stem=w.stem, sources=w.sources) for w in settings.watches]


def story_doc(text: VersionText) -> StoryDoc:
    return StoryDoc(text.article_id, text.source, text.title, text.body, text.published or text.seen_at)


def is_backlog(
    published: datetime | None, first_seen: datetime, first_poll: bool, max_age: timedelta
) -> bool:
    """An article that alerts nobody: published longer than max_age before it was first seen, or undated
    and found by its source's first poll (a new source's archive is not news)."""
    if published is None:
        return first_poll
    return first_seen - published > max_age


class WatchStep:
    """The AfterStore step: stories, matches, flags and alerts for newly stored versions."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.matcher: Matcher = compile_watches(watch_specs(settings))
        self.watches: dict[str, WatchConfig] = {w.name: w for w in settings.watches}
        self.index = StoryIndex()
        self._features: dict[int, StoryFeatures] = {}  # of every indexed article
        self._last_member = 0  # the last story_members id this process has indexed
        self._pruned_at: datetime | None = None
        self._prepared: dict[str, _Statements] = {}
        self._added: deque[tuple[datetime, int]] = deque()  # (first seen, article id), oldest first
        self._pending: list[tuple[Sequence[StoredVersion], datetime]] = []

    def max_age(self, watch: str) -> timedelta:
        config = self.watches.get(watch)
        own = config.max_age if config is not None else None
        return own if own is not None else self.settings.defaults.max_age

    def alert_on(self, watch: str) -> tuple[str, ...]:
        config = self.watches.get(watch)
        return config.alert_on if config is not None else ("story",)

    # --- the index ------------------------------------------------------------------------------

    def load(self, store: Store, now: datetime) -> int:
        """Fill the story index from the stored memberships of the window (on start)."""
        with store.read() as conn:
            last = last_member_id(conn)
            count = self._catch_up(conn, since=now - STORY_WINDOW)
        self._last_member = max(self._last_member, last)
        return count

    def _catch_up(self, conn: Connection, since: datetime | None = None) -> int:
        """Index the memberships committed since this process last looked (by any process)."""
        count = 0
        for row in members(conn, after_id=self._last_member, since=since):
            self._last_member = row.id
            if row.article_id not in self._features:
                self._index(_member_features(row), row.story_id, row.first_seen)
                count += 1
        return count

    def _index(self, feats: StoryFeatures, story_id: int, first_seen: datetime) -> None:
        self.index.add(feats, story_id)
        self._features[feats.article_id] = feats
        self._added.append((first_seen, feats.article_id))

    def _prune(self, before: datetime) -> None:
        """Forget articles first seen before `before`, as load() would not have loaded them: bounded memory."""
        while self._added and self._added[0][0] < before:
            _, article_id = self._added.popleft()
            self.index.remove(article_id)
            self._features.pop(article_id, None)

    # --- the batch ------------------------------------------------------------------------------

    def __call__(self, conn: Connection, stored: Sequence[StoredVersion], now: datetime) -> None:
        self._pending.append((stored, now))

    def discard(self) -> None:
        """The batch rolled back: forget what it gathered."""
        self._pending.clear()

    def finish(self, conn: Connection) -> None:
        """Group, match and alert what the batch stored; last in its transaction."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        work = self._prepare(conn, pending)
        lock_assignment(conn)
        self._catch_up(conn)
        for item in work:
            self._apply(conn, item)

    def _prepare(
        self, conn: Connection, pending: list[tuple[Sequence[StoredVersion], datetime]]
    ) -> list[_Work]:
        """Read the texts, work out features and watch hits: everything that needs no lock."""
        wanted = [s for stored, _ in pending for s in stored if s.kind != "revert"]
        texts = self._texts(conn, [s.version_id for s in wanted])
        priors = self._texts(
            conn, [s.prior_version_id for s in wanted if s.prior_version_id and s.kind == "edit"]
        )
        work = []
        for stored, now in pending:
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                self._prune(now - STORY_WINDOW)
                self._pruned_at = now
            for item in stored:
                text = texts.get(item.version_id)
                if text is None or item.kind == "revert":
                    continue
                prior = (
                    priors.get(item.prior_version_id)
                    if item.prior_version_id and item.kind == "edit"
                    else None
                )
                hits = self.matcher.match_new_version(_doc(prior) if prior else None, _doc(text))
                feats = features(story_doc(text)) if text.story_id is None else None
                work.append(_Work(item, text, feats, hits, now))
        return work

    def _texts(self, conn: Connection, version_ids: Sequence[int | None]) -> dict[int, VersionText]:
        ids = [v for v in version_ids if v]
        if not ids:
            return {}
        return {t.version_id: t for t in load_version_texts(conn, versions.c.id.in_(ids))}

    def _apply(self, conn: Connection, work: _Work) -> None:
        text, now = work.text, work.now
        story_id = text.story_id
        if work.features is not None:
            story_id = self._assign_story(conn, text, work.features, now)
        assert story_id is not None
        first_seen = text.first_seen or now
        alerted: set[str] = set()
        for hit in work.hits:
            if self._record(conn, work, story_id, hit, first_seen):
                alerted.add(hit.watch)
        if work.item.kind == "edit":
            self._edit_alerts(conn, work, story_id, first_seen)
        elif work.item.is_new_article:
            self._outlet_alerts(conn, work, story_id, first_seen, alerted)

    def _assign_story(self, conn: Connection, text: VersionText, feats: StoryFeatures, now: datetime) -> int:
        found = self.index.assign(feats)
        story_id = found.story_id
        if story_id is not None:
            updated = conn.execute(_BUMP_STORY, {"b_id": story_id, "b_now": now}).rowcount
            if not updated:  # the index remembered a story whose transaction rolled back
                story_id = None
        if story_id is None:
            story_id = conn.execute(
                _NEW_STORY, {"title": text.title, "first_seen": now, "last_seen": now, "article_count": 1}
            ).scalar_one()
        conn.execute(sa.update(articles).where(articles.c.id == text.article_id).values(story_id=story_id))
        member = add_member(conn, text.article_id, int(story_id), text.first_seen or now, None)
        self._last_member = max(self._last_member, member)  # under the lock: every earlier id is indexed
        self._index(feats, int(story_id), text.first_seen or now)
        return int(story_id)

    # --- matches and alerts ---------------------------------------------------------------------

    def _statements(self, conn: Connection) -> _Statements:
        dialect = conn.dialect.name
        found = self._prepared.get(dialect)
        if found is None:
            found = self._prepared[dialect] = _Statements(
                match=insert_ignoring(conn, matches, ["watch", "version_id"]).returning(matches.c.id),
                flag=insert_ignoring(conn, story_watches, ["story_id", "watch"]).returning(
                    story_watches.c.story_id
                ),
                alert=insert_ignoring(conn, alerts, ["watch", "channel", "event_key"]),
            )
        return found

    def _backlog(self, work: _Work, watch: str, first_seen: datetime) -> bool:
        return is_backlog(
            work.text.published,
            first_seen,
            work.item.first_poll and work.item.kind != "edit",
            self.max_age(watch),
        )

    def _record(
        self, conn: Connection, work: _Work, story_id: int, hit: WatchHit, first_seen: datetime
    ) -> bool:
        """Record one match; flag its story and queue alerts when it is news. True if it alerted."""
        text, now = work.text, work.now
        statements = self._statements(conn)
        match_id = conn.execute(
            statements.match,
            {
                "watch": hit.watch,
                "article_id": text.article_id,
                "version_id": text.version_id,
                "story_id": story_id,
                "terms": list(hit.terms),
                "snippet": hit.snippet,
                "flagged": False,
                "created_at": now,
            },
        ).scalar_one_or_none()
        if match_id is None:
            return False  # this version was matched already (a rerun)
        if self._backlog(work, hit.watch, first_seen) or "story" not in self.alert_on(hit.watch):
            return False  # recorded and grouped; old news alerts nobody
        flagged = conn.execute(
            statements.flag,
            {"story_id": story_id, "watch": hit.watch, "match_id": match_id, "flagged_at": now},
        ).scalar_one_or_none()
        if flagged is not None:
            key = f"story:{story_id}"
        elif self._surely_alerted(conn, story_id, hit.watch, text.article_id):
            return False  # the story was flagged for this watch by the same event: attached, no new alert
        else:
            key = f"article:{text.article_id}"  # joined a flagged story, maybe wrongly: alert it on its own
        conn.execute(_MARK_FLAGGED, {"b_id": match_id})
        event = "new_story" if work.item.kind in ("new", "enriched") else "new_version"
        self._queue(conn, story_id, hit.watch, match_id, None, event, key, now)
        log.info("watch %s flagged story %d: %s (%s)", hit.watch, story_id, text.title, text.source)
        return True

    def _surely_alerted(self, conn: Connection, story_id: int, watch: str, article_id: int) -> bool:
        """Whether an article that alerted this watch in this story reports the same event as this one."""
        return True

    def _flagging(self, conn: Connection, story_id: int, watch: str) -> list[Any]:
        """The matches that alerted this watch in this story: (match id, article id, source)."""
        return list(
            conn.execute(
                sa.select(matches.c.id, matches.c.article_id, articles.c.source_id)
                .join(articles, articles.c.id == matches.c.article_id)
                .where(matches.c.story_id == story_id, matches.c.watch == watch, matches.c.flagged.is_(True))
                .order_by(matches.c.id)
            )
        )

    def _edit_alerts(self, conn: Connection, work: _Work, story_id: int, first_seen: datetime) -> None:
        """Every later edit of an article that alerted a watch with `alert_on: [edits]`."""
        watches = [w for w in self.watches.values() if "edits" in w.alert_on]
        if not watches:
            return
        alerted = conn.execute(
            sa.select(matches.c.watch, sa.func.min(matches.c.id))
            .where(
                matches.c.article_id == work.text.article_id,
                matches.c.flagged.is_(True),
                matches.c.watch.in_([w.name for w in watches]),
            )
            .group_by(matches.c.watch)
        ).all()
        for watch, match_id in alerted:
            if self._backlog(work, watch, first_seen):
                continue
            key = f"edit:{work.text.version_id}"
            self._queue(conn, story_id, watch, match_id, work.text.version_id, "article_edit", key, work.now)

    def _outlet_alerts(
        self, conn: Connection, work: _Work, story_id: int, first_seen: datetime, alerted: set[str]
    ) -> None:
        """Another outlet reports a story flagged for a watch with `alert_on: [outlets]`: once per outlet."""
        watches = [w for w in self.watches.values() if "outlets" in w.alert_on and w.name not in alerted]
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
        if rows:
            conn.execute(self._statements(conn).alert, rows)


def _member_features(row: MemberRow) -> StoryFeatures:
    """The features stored with a membership, else derived from the article's first version."""
    doc = StoryDoc(row.article_id, row.source, row.title, row.body, row.published or row.first_seen)
    return features(doc)


def _doc(text: VersionText) -> MatchDoc:
    return MatchDoc(title=text.title, body=text.body, source=text.source, tags=text.tags)


async def attach(service: Service) -> WatchStep:
    """Evaluate the watches, group stories and queue alerts in the transaction of every version the
    service stores; the story index is loaded from the stored memberships first (on the database threads)."""
    step = WatchStep(service.settings)
    await service.db(step.load, service.store, datetime.now(UTC))
    service.after_store.append(step)
    return step
