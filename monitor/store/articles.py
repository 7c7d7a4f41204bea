"""Articles and their versions: prior fingerprints, a poll's new articles and versions, and the versions
read back with their article's and source's fields. May import what store/ may (see its package docstring).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.errors import ConcurrentWriteError
from monitor.models import ArticleDraft, PriorArticle, StoredVersion, VersionText, version_body
from monitor.store.db import BulkInsert, Database, chunks, without_nul
from monitor.store.tables import articles, sources, versions

# Statements built once (a poll runs each of them; building and cache-keying them per call cost the writer
# thread about a second of the 1000-feed cycle).
# Read for every poll: at the driver's level (no SQLAlchemy statement to compile and cache-key per call).
_PRIOR_SQLITE = (
    "SELECT id, key, content_hash, version_count FROM articles WHERE source_id = ? AND key IN ({})"
)
_PRIOR_POSTGRES = (
    "SELECT id, key, content_hash, version_count FROM articles WHERE source_id = %s AND key = ANY(%b::text[])"
)
_VERSION_IDS = sa.select(versions.c.id, versions.c.article_id, versions.c.n).where(
    versions.c.article_id.in_(sa.bindparam("b_ids", expanding=True))
)
_NEW_VERSION = (
    articles.update()
    .where(articles.c.id == sa.bindparam("b_id"), articles.c.version_count == sa.bindparam("b_count"))
    .values(
        version_count=sa.bindparam("b_n"),
        content_hash=sa.bindparam("b_hash"),
        title=sa.bindparam("b_title"),
        url=sa.bindparam("b_url"),
        published=sa.bindparam("b_published"),
        last_seen=sa.bindparam("b_now"),
        extractor_version=None,  # the baseline is the feed's text now, not an extraction
    )
)
_SEEN = (
    articles.update()
    .where(
        articles.c.source_id == sa.bindparam("b_source"),
        articles.c.key.in_(sa.bindparam("b_keys", expanding=True)),
    )
    .values(last_seen=sa.bindparam("b_now"))
)
# The hot inserts, at the driver's level (see BulkInsert); the new rows' ids come back from them.
_INSERT_ARTICLES = BulkInsert(
    articles,
    (
        "source_id",
        "key",
        "url",
        "title",
        "published",
        "first_seen",
        "last_seen",
        "content_hash",
        "version_count",
        "next_check_at",
    ),
    on_conflict=("source_id", "key"),
    returning=("id", "key"),
)
_INSERT_VERSIONS = BulkInsert(
    versions,
    (
        "article_id",
        "n",
        "title",
        "summary",
        "body",
        "author",
        "published",
        "updated",
        "tags",
        "content_hash",
        "seen_at",
    ),
    returning=("id", "article_id", "n"),
)


class ArticleQueries(Database):
    """The Store's queries and writes of the articles and versions tables."""

    def prior_articles(
        self, conn: Connection, source_id: int, keys: Iterable[str]
    ) -> dict[str, PriorArticle]:
        """The stored identity and latest fingerprint of the given articles of a source."""
        found: dict[str, PriorArticle] = {}
        wanted = list(keys)
        if not self.sqlite:  # one statement of constant text (prepared once) for any number of keys
            rows = conn.exec_driver_sql(_PRIOR_POSTGRES, (source_id, wanted)).all()
        else:
            rows = []
            for chunk in chunks(wanted):
                sql = _PRIOR_SQLITE.format(", ".join("?" * len(chunk)))
                rows.extend(conn.exec_driver_sql(sql, (source_id, *chunk)).all())
        for article_id, key, content_hash, version_count in rows:
            found[key] = PriorArticle(article_id, key, content_hash, version_count)
        return found

    def write_changes(
        self, conn: Connection, source_id: int, changes: Sequence[Any], now: datetime, track_pages: bool
    ) -> list[StoredVersion]:
        """Write article changes alone (no source update): storing a failed poll's entries one by one."""
        return self._write_articles(conn, source_id, changes, now, track_pages)

    def _version_ids(self, conn: Connection, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
        """Ids of the given (article_id, n) versions, one query per chunk of articles."""
        wanted = set(pairs)
        found: dict[tuple[int, int], int] = {}
        for chunk in chunks(sorted({a for a, _ in wanted})):
            for row in conn.execute(_VERSION_IDS, {"b_ids": list(chunk)}):
                if (row.article_id, row.n) in wanted:
                    found[(row.article_id, row.n)] = row.id
        return found

    def _write_articles(
        self,
        conn: Connection,
        source_id: int,
        changes: Sequence[Any],
        now: datetime,
        track_pages: bool = False,
        texts: dict[int, VersionText] | None = None,
        first_poll: bool = False,
    ) -> list[StoredVersion]:
        """Write a poll's article changes; with `texts`, also put there (by version id) the text of each
        new article's first version as `load_version_texts` would read it back, so the watch step need not."""
        if not changes:
            return []
        # New articles go in with their final hash and count, so they need no update afterwards; a draft
        # without content (a link found on a listing page) makes the article only: its page makes v1.
        new_rows = [
            {
                "source_id": source_id,
                "key": c.draft.key,
                "url": c.draft.url,
                "title": c.draft.title,
                "published": c.draft.published,
                "first_seen": now,
                "last_seen": now,
                "content_hash": c.draft.content_hash,
                "version_count": 1 if c.draft.content_hash else 0,
                "next_check_at": now if track_pages and c.draft.has_page else None,
            }
            for c in changes
            if c.is_new_article
        ]
        without_nul(new_rows)
        new_ids: dict[str, int] = {}
        if new_rows:
            inserted = _INSERT_ARTICLES.run(conn, new_rows)
            if len(inserted) != len(new_rows):
                # Another writer added some of them since this poll looked: redo the poll from the top.
                raise ConcurrentWriteError(
                    f"{len(new_rows) - len(inserted)} of the new articles appeared meanwhile"
                )
            new_ids = {key: article_id for article_id, key in inserted}
        fresh = {row["key"] for row in new_rows if row["version_count"]}
        candidates: dict[str, ArticleDraft] = {
            c.draft.key: c.draft for c in changes if c.is_new_version and c.draft.content_hash
        }
        # The new articles' ids came back from their INSERT; only articles stored before are read.
        known = [key for key in candidates if key not in fresh]
        current = self.prior_articles(conn, source_id, known) if known else {}
        version_rows: list[dict[str, Any]] = []
        article_rows: list[dict[str, Any]] = []
        made: list[tuple[str, int, int, bool]] = []
        for key, draft in candidates.items():
            if key in fresh:
                article_id, n = new_ids[key], 1
            else:
                row = current.get(key)
                if row is None or row.content_hash == draft.content_hash:
                    continue
                article_id, n = row.id, row.version_count + 1
                article_rows.append(
                    {
                        "b_id": row.id,
                        "b_count": row.version_count,
                        "b_n": n,
                        "b_hash": draft.content_hash,
                        "b_title": draft.title,
                        "b_url": draft.url,
                        "b_published": draft.published,
                        "b_now": now,
                    }
                )
            version_rows.append(
                {
                    "article_id": article_id,
                    "n": n,
                    "title": draft.title,
                    "summary": draft.summary,
                    "body": draft.body,
                    "author": draft.author,
                    "published": draft.published,
                    "updated": draft.updated,
                    "tags": list(draft.tags),
                    "content_hash": draft.content_hash,
                    "seen_at": now,
                }
            )
            made.append((key, article_id, n, n == 1))
        stored: list[StoredVersion] = []
        without_nul(version_rows)
        without_nul(article_rows)
        if version_rows:
            version_ids = {(aid, n): vid for vid, aid, n in _INSERT_VERSIONS.run(conn, version_rows)}
            ids = [version_ids[(aid, n)] for _key, aid, n, _new in made]
        if article_rows:
            conn.execute(_NEW_VERSION, article_rows)
        if version_rows:
            edits = [(aid, n - 1) for _key, aid, n, new in made if not new]
            prior_ids = self._version_ids(conn, edits) if edits else {}
            stored = [
                StoredVersion(
                    article_id=aid,
                    version_id=vid,
                    n=n,
                    is_new_article=new,
                    key=key,
                    source_id=source_id,
                    kind="new" if new else "edit",
                    prior_version_id=prior_ids.get((aid, n - 1)),
                    first_poll=first_poll,
                )
                for (key, aid, n, new), vid in zip(made, ids, strict=True)
            ]
            if texts is not None and fresh:
                self._new_texts(conn, source_id, new_rows, version_rows, made, ids, texts)
        seen = [c.draft.key for c in changes if not c.is_new_version]
        for chunk in chunks(seen):
            conn.execute(_SEEN, {"b_source": source_id, "b_keys": list(chunk), "b_now": now})
        return stored

    def _new_texts(
        self,
        conn: Connection,
        source_id: int,
        new_rows: Sequence[dict[str, Any]],
        version_rows: Sequence[dict[str, Any]],
        made: Sequence[tuple[str, int, int, bool]],
        ids: Sequence[int],
        texts: dict[int, VersionText],
    ) -> None:
        """The texts of the new articles' first versions, from the rows just written (NUL removed)."""
        source = conn.execute(_SOURCE_NAME_TAGS, {"b_id": source_id}).one()
        source_tags = source.tags or []
        articles_by_key = {row["key"]: row for row in new_rows}
        for (key, aid, n, new), vid, row in zip(made, ids, version_rows, strict=True):
            if not new:
                continue
            article = articles_by_key[key]
            texts[vid] = _version_text(
                vid,
                aid,
                n,
                row["title"],
                row["summary"],
                row["body"],
                _utc(row["published"]),
                _utc(article["published"]),
                row["seen_at"].astimezone(UTC),
                source.name,
                article["url"],
                None,  # inserted by this transaction: no story yet
                row["tags"],
                source_tags,
                article["first_seen"].astimezone(UTC),
            )


_SOURCE_NAME_TAGS = sa.select(sources.c.name, sources.c.tags).where(sources.c.id == sa.bindparam("b_id"))


def load_version_texts(
    conn: Connection, where: sa.ColumnElement[bool], order_by: Sequence[Any] = ()
) -> list[VersionText]:
    """The versions matching `where` with their article's and source's fields, in one query."""
    query = (
        sa.select(
            versions.c.id,
            versions.c.article_id,
            versions.c.n,
            versions.c.title,
            versions.c.summary,
            versions.c.body,
            versions.c.tags,
            versions.c.published,
            versions.c.seen_at,
            articles.c.url,
            articles.c.story_id,
            articles.c.published.label("article_published"),
            articles.c.first_seen,
            sources.c.name,
            sources.c.tags.label("source_tags"),
        )
        .join(articles, articles.c.id == versions.c.article_id)
        .join(sources, sources.c.id == articles.c.source_id)
        .where(where)
        .order_by(*order_by)
    )
    return [
        _version_text(
            r.id,
            r.article_id,
            r.n,
            r.title,
            r.summary,
            r.body,
            r.published,
            r.article_published,
            r.seen_at,
            r.name,
            r.url,
            r.story_id,
            r.tags,
            r.source_tags,
            r.first_seen,
        )
        for r in conn.execute(query)
    ]


def _utc(when: datetime | None) -> datetime | None:
    return when.astimezone(UTC) if when is not None else None


def _version_text(
    version_id: int,
    article_id: int,
    n: int,
    title: str,
    summary: str | None,
    body: str | None,
    published: datetime | None,
    article_published: datetime | None,
    seen_at: datetime,
    source: str,
    url: str,
    story_id: int | None,
    tags: Sequence[str] | None,
    source_tags: Sequence[str] | None,
    first_seen: datetime,
) -> VersionText:
    """A version's text as the watch step reads it, from its columns (read back, or just written: the
    dates in UTC either way): the summary and body joined, the article's date when the version has none,
    the version's tags and then its source's."""
    return VersionText(
        version_id=version_id,
        article_id=article_id,
        n=n,
        title=title,
        body=version_body(summary, body),
        published=published or article_published,
        seen_at=seen_at,
        source=source,
        url=url,
        story_id=story_id,
        tags=tuple(dict.fromkeys([*(tags or []), *(source_tags or [])])),
        first_seen=first_seen,
    )
