"""Watches and stories at write time: match new versions, group stories, flag each story once, queue alerts.

Runs inside the transaction that stores the versions (an AfterStore step), so a match, its story flag and
its alert rows are written together or not at all: the outbox never misses or doubles an alert.
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

from monitor.config import Settings
from monitor.core.match import MatchDoc, Matcher, WatchSpec, compile_watches
from monitor.core.stories import StoryDoc, StoryFeatures, StoryIndex, features
from monitor.models import StoredVersion, VersionText, version_body
from monitor.store.repo import Store, articles, insert_ignoring, load_version_texts, sources, versions
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
_SET_STORY = (
    articles.update().where(articles.c.id == sa.bindparam("b_id")).values(story_id=sa.bindparam("b_story"))
)
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class _Statements:
    """The dialect's INSERT ... ON CONFLICT DO NOTHING RETURNING statements, built once."""

    match: Any
    flag: Any


def watch_specs(settings: Settings) -> list[WatchSpec]:
    return [WatchSpec(name=w.name, query=w.query, stem=w.stem, sources=w.sources) for w in settings.watches]


class WatchStep:
    """The AfterStore step: stories, matches, flags and alerts for newly stored versions."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.matcher: Matcher = compile_watches(watch_specs(settings))
        self.channels = {w.name: w.channels for w in settings.watches}
        self.index = StoryIndex()
        self._loaded = False
        self._pruned_at: datetime | None = None
        self._prepared: dict[str, _Statements] = {}
        self._added: deque[tuple[datetime, int]] = deque()  # (first seen, article id), oldest first

    def reconfigure(self, settings: Settings) -> None:
        """Recompile the watches of a reloaded config (the story index stays: stories do not change)."""
        matcher = compile_watches(watch_specs(settings))
        self.settings, self.matcher = settings, matcher
        self.channels = {w.name: w.channels for w in settings.watches}

    def load(self, store: Store, now: datetime) -> int:
        """Rebuild the story index from the recent archive (on start)."""
        since = now - STORY_WINDOW
        count = 0
        with store.read() as conn:
            query = (
                sa.select(
                    articles.c.id,
                    articles.c.story_id,
                    articles.c.first_seen,
                    articles.c.published,
                    sources.c.name,
                    versions.c.title,
                    versions.c.summary,
                    versions.c.body,
                )
                .join(sources, sources.c.id == articles.c.source_id)
                .join(
                    versions,
                    sa.and_(versions.c.article_id == articles.c.id, versions.c.n == articles.c.version_count),
                )
                .where(articles.c.first_seen >= since, articles.c.story_id.is_not(None))
                .order_by(articles.c.first_seen)
            )
            for row in conn.execute(query):
                doc = StoryDoc(
                    row.id,
                    row.name,
                    row.title,
                    version_body(row.summary, row.body),
                    row.published or row.first_seen,
                )
                self._index(features(doc), row.story_id, row.first_seen)
                count += 1
        self._loaded = True
        return count

    def __call__(self, conn: Connection, stored: Sequence[StoredVersion], now: datetime) -> None:
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            self._prune(now - STORY_WINDOW)
            self._pruned_at = now
        texts = self._texts(conn, [s.version_id for s in stored])
        priors = self._texts(
            conn, [s.prior_version_id for s in stored if s.prior_version_id and s.kind == "edit"]
        )
        for item in stored:
            text = texts.get(item.version_id)
            if text is None or item.kind == "revert":
                continue
            story_id = text.story_id if text.story_id is not None else self._assign_story(conn, text, now)
            prior = (
                priors.get(item.prior_version_id) if item.prior_version_id and item.kind == "edit" else None
            )
            hits = self.matcher.match_new_version(_doc(prior) if prior else None, _doc(text))
            for hit in hits:
                self._record(conn, text, story_id, hit.watch, list(hit.terms), hit.snippet, item.kind, now)

    def _index(self, feats: StoryFeatures, story_id: int, first_seen: datetime) -> None:
        self.index.add(feats, story_id)
        self._added.append((first_seen, feats.article_id))

    def _prune(self, before: datetime) -> None:
        """Forget articles first seen before `before`, as load() would not have loaded them: bounded memory."""
        while self._added and self._added[0][0] < before:
            _, article_id = self._added.popleft()
            self.index.remove(article_id)

    def _texts(self, conn: Connection, version_ids: Sequence[int | None]) -> dict[int, VersionText]:
        ids = [v for v in version_ids if v]
        if not ids:
            return {}
        return {t.version_id: t for t in load_version_texts(conn, versions.c.id.in_(ids))}

    def _assign_story(self, conn: Connection, text: VersionText, now: datetime) -> int:
        doc = StoryDoc(text.article_id, text.source, text.title, text.body, text.published or text.seen_at)
        feats = features(doc)
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
        conn.execute(_SET_STORY, {"b_id": text.article_id, "b_story": story_id})
        self._index(feats, story_id, now)
        return int(story_id)

    def _statements(self, conn: Connection) -> _Statements:
        dialect = conn.dialect.name
        found = self._prepared.get(dialect)
        if found is None:
            found = self._prepared[dialect] = _Statements(
                match=insert_ignoring(conn, matches, ["watch", "version_id"]).returning(matches.c.id),
                flag=insert_ignoring(conn, story_watches, ["story_id", "watch"]).returning(
                    story_watches.c.story_id
                ),
            )
        return found

    def _record(
        self,
        conn: Connection,
        text: VersionText,
        story_id: int,
        watch: str,
        terms: list[str],
        snippet: str,
        kind: str,
        now: datetime,
    ) -> None:
        statements = self._statements(conn)
        match_id = conn.execute(
            statements.match,
            {
                "watch": watch,
                "article_id": text.article_id,
                "version_id": text.version_id,
                "story_id": story_id,
                "terms": terms,
                "snippet": snippet,
                "flagged": False,
                "created_at": now,
            },
        ).scalar_one_or_none()
        if match_id is None:
            return  # this version was matched already (a rerun)
        flagged = conn.execute(
            statements.flag, {"story_id": story_id, "watch": watch, "match_id": match_id, "flagged_at": now}
        ).scalar_one_or_none()
        if flagged is None:
            return  # the story was flagged for this watch before: attached, no new alert
        conn.execute(_MARK_FLAGGED, {"b_id": match_id})
        event = "new_story" if kind in ("new", "enriched") else "new_version"
        rows = [
            {
                "delivery_id": uuid.uuid4().hex,
                "story_id": story_id,
                "watch": watch,
                "channel": channel,
                "match_id": match_id,
                "event": event,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for channel in self.channels.get(watch, ())
        ]
        if rows:
            conn.execute(insert_ignoring(conn, alerts, ["story_id", "watch", "channel"]), rows)
        log.info("watch %s flagged story %d: %s (%s)", watch, story_id, text.title, text.source)


def _doc(text: VersionText) -> MatchDoc:
    return MatchDoc(title=text.title, body=text.body, source=text.source, tags=text.tags)


async def attach(service: Service) -> WatchStep:
    """Evaluate the watches, group stories and queue alerts in the transaction of every version the
    service stores; the story index is rebuilt from the recent archive first (on the database threads)."""
    step = WatchStep(service.settings)
    await service.db(step.load, service.store, datetime.now(UTC))
    service.after_store.append(step)
    return step
