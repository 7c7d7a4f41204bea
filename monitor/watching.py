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
import threading
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.config import Settings, WatchConfig
from monitor.core.match import MatchDoc, Matcher, WatchHit, WatchSpec, compile_watches
from monitor.core.stories import (
    CONFIDENT_SAME_EVENT,
    StoryDoc,
    StoryFeatures,
    StoryIndex,
    features,
    same_event_score,
)
from monitor.core.watchprep import DraftInsight, with_article_id
from monitor.models import StoredVersion, VersionText
from monitor.store.store import Connection, Store
from monitor.store.stories import (
    Flagging,
    MemberRow,
    add_members,
    alerted_watches,
    first_version_texts,
    flag_story,
    flagging_matches,
    grow_stories,
    insert_matches,
    last_member_id,
    lock_assignment,
    mark_flagged,
    members,
    new_stories,
    queue_alerts,
    set_article_stories,
    stored_features,
    version_texts,
)

if TYPE_CHECKING:
    from monitor.service import Service

log = logging.getLogger("monitor.watch")

STORY_WINDOW = timedelta(days=3)
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class _Unit:
    """What one poll stored, with what its parse worker worked out (by draft key)."""

    stored: Sequence[StoredVersion]
    now: datetime
    prepared: Mapping[str, DraftInsight] | None


@dataclass(frozen=True)
class _Work:
    """One stored version with what the step worked out before taking the story lock."""

    item: StoredVersion
    text: VersionText
    features: StoryFeatures | None  # None: the article has its story already (an edit)
    hits: list[WatchHit]
    now: datetime
    stored_features: str | None = None  # the features' JSON as stored, if a parse worker encoded it


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
    """The batch step: stories, matches, flags and alerts for the versions a write transaction stored."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.matcher: Matcher = compile_watches(watch_specs(settings))
        self.watches: dict[str, WatchConfig] = {w.name: w for w in settings.watches}
        self.index = StoryIndex()  # every indexed article's features live there, once
        self._last_member = 0  # the last story_members id this process has indexed
        self._pruned_at: datetime | None = None
        self._added: deque[tuple[datetime, int]] = deque()  # (first seen, article id), oldest first
        self._pending: list[_Unit] = []
        self._uncommitted: list[int] = []  # articles indexed by the transaction in progress
        self._ready = threading.Event()  # the index is loaded (load_in_background clears it until then)
        self._ready.set()
        self._load_error: BaseException | None = None
        self._load_lock = threading.Lock()
        self._lazy: Store | None = None  # the store to load the index from once it is needed

    def max_age(self, watch: str) -> timedelta:
        config = self.watches.get(watch)
        own = config.max_age if config is not None else None
        return own if own is not None else self.settings.defaults.max_age

    def alert_on(self, watch: str) -> tuple[str, ...]:
        config = self.watches.get(watch)
        return config.alert_on if config is not None else ("story",)

    # --- the index ------------------------------------------------------------------------------

    def reconfigure(self, settings: Settings) -> None:
        """Recompile the watches of a reloaded config (the story index stays: stories do not change)."""
        matcher = compile_watches(watch_specs(settings))
        self.settings, self.matcher = settings, matcher
        self.watches = {w.name: w for w in settings.watches}

    def load(self, store: Store, now: datetime) -> int:
        """Fill the story index from the stored memberships of the window (on start)."""
        with store.read() as conn:
            last = last_member_id(conn)
            count = self._catch_up(conn, since=now - STORY_WINDOW)
        self._last_member = max(self._last_member, last)
        return count

    def load_when_needed(self, store: Store) -> None:
        """Load the index only once a poll has something to store (`warm`, else the first write): a start
        sends its first requests at once, and a cycle that finds every feed unchanged never reads it."""
        with self._load_lock:
            self._lazy = store

    def warm(self) -> None:
        """Start loading the index in the background if it waits to be (a poll parsed new drafts)."""
        with self._load_lock:
            store, self._lazy = self._lazy, None
            if store is None:
                return
            self._ready.clear()  # under the lock: a writer never sees the index ready before it is
        self._start_load(store, datetime.now(UTC))

    def load_in_background(self, store: Store, now: datetime) -> None:
        """Load the index in a thread of its own, so polls fetch meanwhile; the first write waits for it."""
        self._ready.clear()
        self._start_load(store, now)

    def _start_load(self, store: Store, now: datetime) -> None:
        def run() -> None:
            try:
                count = self.load(store, now)
                log.info("story index: %d articles of the last %s loaded", count, STORY_WINDOW)
            except BaseException as exc:  # handed to the writer, which fails its batch with it
                self._load_error = exc
            finally:
                self._ready.set()

        threading.Thread(target=run, name="monitor-story-index", daemon=True).start()

    def _catch_up(self, conn: Connection, since: datetime | None = None) -> int:
        """Index the memberships committed since this process last looked (by any process)."""
        count = 0
        for row in members(conn, after_id=self._last_member, since=since):
            self._last_member = row.id
            if row.article_id not in self.index:
                self._index(_member_features(row), row.story_id, row.first_seen)
                count += 1
        return count

    def _index(self, feats: StoryFeatures, story_id: int, first_seen: datetime) -> None:
        self.index.add(feats, story_id)
        self._added.append((first_seen, feats.article_id))

    def _prune(self, before: datetime) -> None:
        """Forget articles first seen before `before`, as load() would not have loaded them: bounded memory."""
        while self._added and self._added[0][0] < before:
            _, article_id = self._added.popleft()
            self.index.remove(article_id)

    # --- the batch ------------------------------------------------------------------------------

    def add(
        self,
        conn: Connection,
        stored: Sequence[StoredVersion],
        now: datetime,
        prepared: Mapping[str, DraftInsight] | None = None,
    ) -> None:
        self._pending.append(_Unit(stored, now, prepared))

    def discard(self) -> None:
        """The batch rolled back: forget what it gathered and the index entries its stories had."""
        self._pending.clear()
        for article_id in self._uncommitted:
            self.index.remove(article_id)
        self._uncommitted.clear()

    def committed(self) -> None:
        self._uncommitted.clear()

    def finish(self, conn: Connection) -> None:
        """Group, match and alert what the batch stored; last in its transaction."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        self.warm()
        self._ready.wait()
        if self._load_error is not None:
            raise self._load_error
        work = self._prepare(conn, pending)
        lock_assignment(conn)
        self._catch_up(conn)
        placed = self._assign_stories(conn, [w for w in work if w.features is not None])
        matched = insert_matches(
            conn,
            [
                {
                    "watch": hit.watch,
                    "article_id": item.text.article_id,
                    "version_id": item.text.version_id,
                    "story_id": placed.get(item.text.article_id, item.text.story_id),
                    "terms": list(hit.terms),
                    "snippet": hit.snippet,
                    "flagged": False,
                    "created_at": item.now,
                }
                for item in work
                for hit in item.hits
            ],
        )
        for item in work:
            self._apply(conn, item, placed, matched)

    def _prepare(self, conn: Connection, pending: list[_Unit]) -> list[_Work]:
        """Read the texts, work out features and watch hits unless the parse workers did: no lock needed."""
        wanted = [s for unit in pending for s in unit.stored if s.kind != "revert"]
        texts = version_texts(conn, [s.version_id for s in wanted])
        priors = version_texts(
            conn, [s.prior_version_id for s in wanted if s.prior_version_id and s.kind == "edit"]
        )
        work = []
        for unit in pending:
            now = unit.now
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                self._prune(now - STORY_WINDOW)
                self._pruned_at = now
            for item in unit.stored:
                text = texts.get(item.version_id)
                if text is None or item.kind == "revert":
                    continue
                insight = unit.prepared.get(item.key) if unit.prepared and item.kind == "new" else None
                if insight is not None and text.story_id is None:
                    feats = insight.features
                    encoded = None
                    if feats is not None:
                        feats = replace(feats, article_id=text.article_id)
                        encoded = with_article_id(insight.encoded, text.article_id)
                    else:
                        feats = features(story_doc(text))
                    work.append(_Work(item, text, feats, list(insight.hits), now, encoded))
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

    def _apply(
        self,
        conn: Connection,
        work: _Work,
        placed: Mapping[int, int],
        matched: Mapping[tuple[str, int], int],
    ) -> None:
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

    def _assign_stories(self, conn: Connection, work: Sequence[_Work]) -> dict[int, int]:
        """Put each new article into a story (under the lock), with a few statements for the whole batch:
        new stories get provisional ids in the index until one INSERT returns theirs. By article id."""
        if not work:
            return {}
        new: dict[int, dict[str, Any]] = {}  # provisional (negative) id -> the story's row
        grown: dict[int, list[Any]] = {}  # existing story -> [articles added, last seen]
        placed: dict[int, int] = {}
        for item in work:
            assert item.features is not None
            story_id = self.index.assign(item.features).story_id
            if story_id is None:
                story_id = -(len(new) + 1)
                new[story_id] = {
                    "title": item.text.title,
                    "first_seen": item.now,
                    "last_seen": item.now,
                    "article_count": 0,
                }
            row = new.get(story_id)
            if row is not None:
                row["article_count"] += 1
                row["last_seen"] = item.now
            else:
                grown.setdefault(story_id, [0, item.now])
                grown[story_id][0] += 1
                grown[story_id][1] = item.now
            self._index(item.features, story_id, item.text.first_seen or item.now)
            self._uncommitted.append(item.text.article_id)
            placed[item.text.article_id] = story_id
        if new:
            ids = new_stories(conn, list(new.values()))
            real = dict(zip(new, ids, strict=True))
            for item in work:
                provisional = placed[item.text.article_id]
                if provisional < 0:
                    placed[item.text.article_id] = real[provisional]
                    assert item.features is not None
                    self.index.add(item.features, real[provisional])
        grow_stories(conn, {k: (n, t) for k, (n, t) in grown.items()})
        set_article_stories(conn, placed)
        rows = [
            {
                "article_id": item.text.article_id,
                "story_id": placed[item.text.article_id],
                "first_seen": item.text.first_seen or item.now,
                "features": item.stored_features or (item.features.to_json() if item.features else None),
            }
            for item in work
        ]
        self._last_member = max(self._last_member, add_members(conn, rows))  # under the lock: all indexed
        return placed

    # --- matches and alerts ---------------------------------------------------------------------

    def _backlog(self, work: _Work, watch: str, first_seen: datetime) -> bool:
        return is_backlog(
            work.text.published,
            first_seen,
            work.item.first_poll and work.item.kind != "edit",
            self.max_age(watch),
        )

    def _record(
        self,
        conn: Connection,
        work: _Work,
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

    def _surely_alerted(self, conn: Connection, work: _Work, story_id: int, watch: str) -> bool:
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

    def _edit_alerts(self, conn: Connection, work: _Work, story_id: int, first_seen: datetime) -> None:
        """Every later edit of an article that alerted a watch with `alert_on: [edits]`."""
        watches = [w for w in self.watches.values() if "edits" in w.alert_on]
        if not watches:
            return
        for watch, match_id in alerted_watches(conn, work.text.article_id, [w.name for w in watches]):
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
        queue_alerts(conn, rows)


def _member_features(row: MemberRow) -> StoryFeatures:
    """The features stored with a membership, else derived from the article's first version."""
    if row.features is not None:
        return StoryFeatures.from_json(row.features)
    doc = StoryDoc(row.article_id, row.source, row.title, row.body, row.published or row.first_seen)
    return features(doc)


def _doc(text: VersionText) -> MatchDoc:
    return MatchDoc(title=text.title, body=text.body, source=text.source, tags=text.tags)


async def attach(service: Service) -> WatchStep:
    """Evaluate the watches, group stories and queue alerts in the transaction of every version the
    service stores; the story index loads from the stored memberships (their stored terms, nothing
    re-derived) once the first poll finds something new, while the others fetch."""
    step = WatchStep(service.settings)
    step.load_when_needed(service.store)
    install(service, step)
    return step


def reconfigure(service: Service, step: WatchStep, settings: Settings) -> None:
    """Take a reloaded config's watches: the step recompiles, the parse workers get the new specs."""
    step.reconfigure(settings)
    service.watch_specs = tuple(watch_specs(settings))


def install(service: Service, step: WatchStep) -> None:
    """Run the step on every unit the service stores; its parse workers prepare each draft for it."""
    service.batch_steps.append(step)
    service.watch_specs = tuple(watch_specs(step.settings))
