"""The driver-level bulk writes (BulkInsert, the watch step's updates) on SQLite and Postgres: they store what
SQLAlchemy's own statements would, return the new rows' ids, and skip conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.models import SourceKind, SourceSpec
from monitor.store.db import BulkInsert, _binary_chunks
from monitor.store.store import Store
from monitor.store.stories import grow_stories, new_stories, set_article_stories
from monitor.store.tables import articles, stories, versions

NOW = datetime(2024, 10, 18, 12, 0, 0, 123456, tzinfo=UTC)
CET = timezone(timedelta(hours=1))

_ARTICLES = BulkInsert(
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
    ),
    on_conflict=("source_id", "key"),
    returning=("id", "key"),
)
_VERSIONS = BulkInsert(
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
)


def _source(store: Store) -> int:
    store.sync_sources([SourceSpec(name="a", kind=SourceKind.FEED, url="http://127.0.0.1:9/a")], NOW)
    return store.claim_named(None, NOW, timedelta(minutes=5))[0].id


def _article(source_id: int, i: int) -> dict[str, Any]:
    published = None if i % 3 == 0 else NOW.astimezone(CET) - timedelta(hours=i, microseconds=i % 2)
    if i % 3 == 1:
        published = NOW.replace(microsecond=0) - timedelta(days=i)  # still written with its .000000
    return {
        "source_id": source_id,
        "key": f"k{i}",
        "url": f"https://example.org/{i}",
        "title": f'Title "{i}", with {{braces}} and \\ backslash',
        "published": published,
        "first_seen": NOW,
        "last_seen": NOW,
        "content_hash": f"{i:064d}",
        "version_count": 1,
    }


def test_chunks_are_powers_of_two_in_order() -> None:
    assert [len(c) for c in _binary_chunks(list(range(100)), 64)] == [64, 32, 4]
    assert [x for c in _binary_chunks(list(range(100)), 64) for x in c] == list(range(100))
    assert [len(c) for c in _binary_chunks(list(range(7)), 64)] == [4, 2, 1]


def test_bulk_rows_store_what_sqlalchemy_stores(store: Store) -> None:
    source_id = _source(store)
    with store.write() as conn:
        inserted = _ARTICLES.run(conn, [_article(source_id, i) for i in range(100)])
        assert sorted(key for _, key in inserted) == sorted(f"k{i}" for i in range(100))
        conn.execute(articles.insert(), [{**_article(source_id, i), "key": f"ref{i}"} for i in range(100)])
        ids = {key: article_id for article_id, key in inserted}
        rows = [
            {
                "article_id": ids[f"k{i}"],
                "n": 1,
                "title": "t",
                "summary": "s",
                "body": "b\n\t'\"",
                "author": None if i % 2 else "A",
                "published": _article(source_id, i)["published"],
                "updated": None,
                "tags": ["x", 'y "quoted"', "ü"] if i % 2 else [],
                "content_hash": "h",
                "seen_at": NOW,
            }
            for i in range(3)
        ]
        _VERSIONS.run(conn, rows)
    cols = ", ".join(["title", "published", "first_seen", "last_seen", "content_hash", "version_count"])
    with store.read() as conn:
        # The stored text itself (SQLite keeps datetimes as text): raw, past the types' result processing.
        ours = conn.exec_driver_sql(
            f"SELECT key, {cols} FROM articles WHERE substr(key, 1, 1) = 'k' ORDER BY id"
        ).all()
        theirs = conn.exec_driver_sql(
            f"SELECT key, {cols} FROM articles WHERE substr(key, 1, 1) = 'r' ORDER BY id"
        ).all()
        assert [r[1:] for r in ours] == [r[1:] for r in theirs]
        assert [r[0] for r in ours] == [f"k{i}" for i in range(100)]  # inserted in the order given
        got = conn.execute(sa.select(versions).order_by(versions.c.article_id)).all()
    assert [(r.tags, r.author, r.body, r.published) for r in got] == [
        (row["tags"], row["author"], row["body"], row["published"]) for row in rows
    ]


def test_bulk_insert_returns_only_the_rows_it_inserted(store: Store) -> None:
    source_id = _source(store)
    with store.write() as conn:
        first = _ARTICLES.run(conn, [_article(source_id, i) for i in range(3)])
        again = _ARTICLES.run(conn, [_article(source_id, i) for i in range(5)])
    assert sorted(key for _, key in again) == ["k3", "k4"]
    assert not {article_id for article_id, _ in first} & {article_id for article_id, _ in again}


def test_bulk_insert_refuses_a_naive_datetime(store: Store) -> None:
    source_id = _source(store)
    with pytest.raises(ValueError, match="naive"), store.write() as conn:
        _ARTICLES.run(conn, [{**_article(source_id, 1), "first_seen": NOW.replace(tzinfo=None)}])


def test_new_stories_ids_follow_the_rows_and_updates_apply(store: Store) -> None:
    source_id = _source(store)
    rows = [{"title": f"s{i}", "first_seen": NOW, "last_seen": NOW, "article_count": 1} for i in range(70)]
    later = NOW + timedelta(minutes=5)
    with store.write() as conn:
        ids = new_stories(conn, rows)
        ((article_id, _),) = _ARTICLES.run(conn, [_article(source_id, 1)])
        grow_stories(conn, {ids[3]: (2, later)})
        set_article_stories(conn, {article_id: ids[5]})
    with store.read() as conn:
        titles = dict(conn.execute(sa.select(stories.c.id, stories.c.title)).all())
        grown = conn.execute(sa.select(stories).where(stories.c.id == ids[3])).one()
        story_id = conn.execute(
            sa.select(articles.c.story_id).where(articles.c.id == article_id)
        ).scalar_one()
    assert [titles[i] for i in ids] == [f"s{i}" for i in range(70)]
    assert (grown.article_count, grown.last_seen) == (3, later)
    assert story_id == ids[5]
