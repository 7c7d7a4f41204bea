"""Watches and stories at write time: group stories, match versions, then flag stories and queue alerts.

The service calls the step for every unit it stores; the step gathers them and applies them last in the
batch's transaction (`finish`), so a match, its story and its alert rows are written together or not at
all (the outbox never misses or doubles an alert), and the story lock is held only for that last part.
Which match flags its story and which alert rows it queues is `monitor/watch_alerts.py`; what can be
worked out from plain data is `core/watch_rules.py`; the SQL is in `store/stories.py`.

Several processes may write to one database: assignment is serialised (a Postgres advisory lock, SQLite's
write lock) and each writer first catches up on the memberships other processes committed since it last
looked (`story_members` ids grow in commit order under the lock).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.config import Settings
from monitor.core.match import Matcher, WatchSpec, compile_watches
from monitor.core.stories import StoryIndex
from monitor.core.story_features import StoryDoc, StoryFeatures, features
from monitor.core.watch_rules import PreparedVersion, match_doc, story_doc
from monitor.core.watchprep import DraftInsight, with_article_id
from monitor.models import StoredVersion, VersionText
from monitor.store.store import Connection, Store
from monitor.store.stories import (
    MemberRow,
    add_members,
    grow_stories,
    insert_matches,
    last_member_id,
    lock_assignment,
    members,
    new_stories,
    set_article_stories,
    version_texts,
)
from monitor.watch_alerts import StoryAlerts

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
    texts: Mapping[int, VersionText] | None  # what the unit wrote, by version id: not read back


def watch_specs(settings: Settings) -> list[WatchSpec]:
    return [WatchSpec(name=w.name, query=w.query, stem=w.stem, sources=w.sources) for w in settings.watches]


class WatchStep:
    """The batch step: stories, matches, flags and alerts for the versions a write transaction stored."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.matcher: Matcher = compile_watches(watch_specs(settings))
        self.index = StoryIndex()  # every indexed article's features live there, once
        self.alerts = StoryAlerts(settings, self.index)
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

    # --- the index ------------------------------------------------------------------------------

    def reconfigure(self, settings: Settings) -> None:
        """Recompile the watches of a reloaded config (the story index stays: stories do not change)."""
        matcher = compile_watches(watch_specs(settings))
        self.settings, self.matcher = settings, matcher
        self.alerts.reconfigure(settings)

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
        texts: Mapping[int, VersionText] | None = None,
    ) -> None:
        self._pending.append(_Unit(stored, now, prepared, texts))

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
            self.alerts.apply(conn, item, placed, matched)

    def _prepare(self, conn: Connection, pending: list[_Unit]) -> list[PreparedVersion]:
        """Read the texts, work out features and watch hits unless the parse workers did: no lock needed."""
        texts: dict[int, VersionText] = {}
        for unit in pending:
            if unit.texts:
                texts.update(unit.texts)
        wanted = [s for unit in pending for s in unit.stored if s.kind != "revert"]
        texts.update(version_texts(conn, [s.version_id for s in wanted if s.version_id not in texts]))
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
                        feats = feats.with_article_id(text.article_id)
                        encoded = with_article_id(insight.encoded, text.article_id)
                    else:
                        feats = features(story_doc(text))
                    work.append(PreparedVersion(item, text, feats, list(insight.hits), now, encoded))
                    continue
                prior = (
                    priors.get(item.prior_version_id)
                    if item.prior_version_id and item.kind == "edit"
                    else None
                )
                hits = self.matcher.match_new_version(match_doc(prior) if prior else None, match_doc(text))
                feats = features(story_doc(text)) if text.story_id is None else None
                work.append(PreparedVersion(item, text, feats, hits, now))
        return work

    def _assign_stories(self, conn: Connection, work: Sequence[PreparedVersion]) -> dict[int, int]:
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
            for provisional, story_id in real.items():
                self.index.rekey(provisional, story_id)
            for article_id, provisional in placed.items():
                if provisional < 0:
                    placed[article_id] = real[provisional]
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


def _member_features(row: MemberRow) -> StoryFeatures:
    """The features stored with a membership, else derived from the article's first version."""
    if row.features is not None:
        return StoryFeatures.from_json(row.features)
    doc = StoryDoc(row.article_id, row.source, row.title, row.body, row.published or row.first_seen)
    return features(doc)


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
