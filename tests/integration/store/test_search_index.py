"""The background search indexer on SQLite and Postgres: queued, indexed in batches, crash-safe, fleet-safe."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.store import search_index
from monitor.store.db import make_engine
from monitor.store.search import SearchQuery, search
from monitor.store.search_index import SQLITE_INDEX, drain, index_batch, index_if_mine, index_lag
from monitor.store.store import Store
from monitor.store.tables import articles, sources, versions
from tests.fixtures.cli import run_cli, write_config

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)


def add_versions(store: Store, texts: list[str]) -> list[int]:
    """One source, one article per text, its one version carrying the text: as a poll commits them."""
    with store.write() as conn:
        source_id = conn.execute(sa.select(sources.c.id).where(sources.c.name == "wire")).scalar()
        if source_id is None:
            source_id = conn.execute(
                sources.insert()
                .values(
                    name="wire",
                    kind="feed",
                    config_url="http://127.0.0.1:9/rss",
                    url="http://127.0.0.1:9/rss",
                    enabled=True,
                    in_config=True,
                    tags=[],
                    next_check_at=NOW,
                    consecutive_errors=0,
                    created_at=NOW,
                )
                .returning(sources.c.id)
            ).scalar_one()
        ids: list[int] = []
        for text in texts:
            key = f"{text}-{len(ids)}-{datetime.now(UTC).timestamp()}"
            article_id = conn.execute(
                articles.insert()
                .values(
                    source_id=source_id,
                    key=key,
                    url=f"http://127.0.0.1:9/{key}",
                    title=text,
                    first_seen=NOW,
                    last_seen=NOW,
                    content_hash="h",
                    version_count=1,
                    check_errors=0,
                )
                .returning(articles.c.id)
            ).scalar_one()
            ids.append(
                conn.execute(
                    versions.insert()
                    .values(
                        article_id=article_id,
                        n=1,
                        title=f"Report on {text}",
                        summary=f"The {text} summary.",
                        body=f"Ministers discussed {text} at length today.",
                        tags=[],
                        content_hash="h",
                        seen_at=NOW,
                    )
                    .returning(versions.c.id)
                ).scalar_one()
            )
    return ids


def hits(store: Store, text: str) -> list[int]:
    return [h.version_id for h in search(store, SearchQuery(text, limit=100)).hits]


def unindexed(store: Store) -> int:
    """Versions the engine's index lacks (SQLite: FTS5's integrity check also holds)."""
    with store.read() as conn:
        if store.sqlite:
            conn.exec_driver_sql("INSERT INTO fts_versions(fts_versions) VALUES ('integrity-check')")
            indexed = conn.exec_driver_sql("SELECT count(*) FROM fts_versions_docsize").scalar_one()
            return int(conn.execute(sa.select(sa.func.count()).select_from(versions)).scalar_one() - indexed)
        return int(
            conn.exec_driver_sql(
                "SELECT count(*) FROM article_versions WHERE fts_document IS NULL"
            ).scalar_one()
        )


def test_a_version_is_searchable_once_the_indexer_has_run(store: Store) -> None:
    (first,) = add_versions(store, ["zanzibar"])
    page = search(store, SearchQuery("zanzibar"))
    assert page.hits == [] and page.lag.pending == 1 and page.lag.seconds >= 0
    assert "1 versions" in page.lag.line() and "catching up" in page.lag.line()
    assert index_lag(store, datetime.now(UTC)).pending == 1
    assert index_batch(store) == 1
    assert hits(store, "zanzibar") == [first]
    assert search(store, SearchQuery("zanzibar")).lag == search_index.IndexLag()
    assert index_batch(store) == 0 and unindexed(store) == 0
    # A title-only query (Postgres: the titles' own index) also waits for the indexer.
    (second,) = add_versions(store, ["zanzibar"])
    assert [h.version_id for h in search(store, SearchQuery("title:zanzibar")).hits] == [first]
    assert drain(store) == 1
    assert sorted(h.version_id for h in search(store, SearchQuery("title:zanzibar")).hits) == [first, second]


def test_edits_and_deletes_of_queued_and_indexed_versions(store: Store) -> None:
    indexed, queued = add_versions(store, ["lisbon", "oporto"])
    index_batch(store, limit=1)  # the oldest only
    assert hits(store, "lisbon") == [indexed] and hits(store, "oporto") == []
    with store.write() as conn:
        for version_id, word in ((indexed, "madrid"), (queued, "seville")):
            conn.execute(
                versions.update().where(versions.c.id == version_id).values(body=f"Now about {word}.")
            )
    # An edited version leaves the index at once (its old text) and is queued; an unchanged text is not.
    assert hits(store, "lisbon") == [] and hits(store, "madrid") == []
    assert index_lag(store, datetime.now(UTC)).pending == 2
    with store.write() as conn:
        conn.execute(versions.update().where(versions.c.id == indexed).values(title="Report on lisbon"))
    assert drain(store) == 2
    assert hits(store, "madrid") == [indexed] and hits(store, "seville") == [queued]
    assert hits(store, "ministers") == [] and unindexed(store) == 0
    (gone,) = add_versions(store, ["valencia"])
    with store.write() as conn:
        conn.execute(
            articles.delete().where(
                articles.c.id.in_(sa.select(versions.c.article_id).where(versions.c.id.in_([indexed, gone])))
            )
        )
    assert index_lag(store, datetime.now(UTC)).pending == 0
    assert hits(store, "madrid") == [] and hits(store, "valencia") == [] and unindexed(store) == 0


def test_a_crash_mid_batch_loses_nothing(store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = add_versions(store, [f"word{i}" for i in range(5)])
    real = sa.text

    def failing(sql: str) -> Any:
        if sql.startswith("DELETE FROM fts_pending"):
            raise RuntimeError("killed mid-batch")
        return real(sql)

    monkeypatch.setattr(sa, "text", failing)
    with pytest.raises(RuntimeError):
        index_batch(store)
    monkeypatch.undo()
    assert hits(store, "ministers") == [] and index_lag(store, datetime.now(UTC)).pending == 5
    # A new process (a restart) finds the queue as it was and indexes every version once.
    engine = make_engine(db_url)
    try:
        restarted = Store(engine)
        assert drain(restarted) == 5
        assert sorted(hits(restarted, "ministers")) == ids and unindexed(restarted) == 0
    finally:
        engine.dispose()


def test_two_indexers_never_index_a_version_twice(store: Store, db_url: str) -> None:
    ids = add_versions(store, [f"city{i}" for i in range(60)])
    engines = [make_engine(db_url) for _ in range(2)]
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def indexer(work: Callable[[Store], int]) -> Callable[[sa.Engine], None]:
        def run(engine: sa.Engine) -> None:
            barrier.wait()
            counts.append(work(Store(engine)))

        return run

    def batches(store: Store) -> int:
        total = 0
        while done := index_batch(store, limit=7):
            total += done
        return total

    try:
        for work in (batches, drain):
            threads = [threading.Thread(target=indexer(work), args=(e,)) for e in engines]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            ids += [] if work is drain else add_versions(store, [f"town{i}" for i in range(60)])
        assert sum(counts) == len(ids) == 120 and unindexed(store) == 0
        assert len(search(store, SearchQuery("ministers", limit=200)).hits) == 120
        # The daemon's job lease: one process of the fleet indexes at a time.
        add_versions(store, ["harbour"])
        assert index_if_mine(Store(engines[0]), "host:1", NOW) == 1
        add_versions(store, ["harbour"])
        assert index_if_mine(Store(engines[1]), "host:2", NOW + timedelta(seconds=1)) == 0
        assert index_if_mine(Store(engines[1]), "host:2", NOW + timedelta(minutes=1)) == 1
    finally:
        for engine in engines:
            engine.dispose()


def test_monitor_search_says_when_the_index_is_catching_up(store: Store, db_url: str, tmp_path: Path) -> None:
    add_versions(store, ["zanzibar", "zanzibar"])
    config = write_config(tmp_path / "feeds.yaml", [{"name": "wire", "feed": "http://127.0.0.1:9/rss"}])
    done = run_cli(["search", "zanzibar"], config, db_url)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "0 hits of 0 articles from offset 0"
    assert (
        lines[1].startswith("the search index is catching up: 2 versions (")
        and "not yet searchable" in lines[1]
    )
    drain(store)
    done = run_cli(["search", "zanzibar"], config, db_url)
    assert done.returncode == 0 and done.stderr.splitlines() == ["2 hits of 2 articles from offset 0"]


def test_a_batch_reads_the_queued_versions_not_the_archive(store: Store) -> None:
    """The newest version queued after an indexed archive: SQLite's statement walks the queue, then looks
    each version up by id (never the archive's versions up to the batch's last id)."""
    add_versions(store, [f"old{i}" for i in range(30)])
    drain(store)
    (new,) = add_versions(store, ["newest"])
    if store.sqlite:
        with store.read() as conn:
            plan = [
                row.detail
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + SQLITE_INDEX, {"last": new})
            ]
        assert plan == [
            "SEARCH p USING INTEGER PRIMARY KEY (rowid<?)",
            "SEARCH v USING INTEGER PRIMARY KEY (rowid=?)",
        ]
    assert index_batch(store) == 1 and hits(store, "newest") == [new] and unindexed(store) == 0


def test_the_one_shot_drain_takes_bigger_batches_on_sqlite(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`monitor poll`'s drain: DRAIN_BATCH versions a transaction on SQLite (FTS5 writes a segment per
    transaction), BATCH on Postgres, as its indexers take them."""
    monkeypatch.setattr(search_index, "BATCH", 2)
    monkeypatch.setattr(search_index, "DRAIN_BATCH", 5)
    limits: list[int] = []
    real = search_index.index_batch

    def spy(store: Store, limit: int, *, wait: bool = False) -> int:
        limits.append(limit)
        return real(store, limit, wait=wait)

    monkeypatch.setattr(search_index, "index_batch", spy)
    ids = add_versions(store, [f"port{i}" for i in range(7)])
    assert drain(store) == 7
    assert limits == ([5, 5, 5] if store.sqlite else [2, 2, 2, 2, 2])
    assert sorted(hits(store, "ministers")) == ids and unindexed(store) == 0
    assert index_lag(store, datetime.now(UTC)) == search_index.IndexLag()


def test_sqlite_fts5_buffers_8_mib_of_terms_before_writing_a_segment(store: Store) -> None:
    """Migration 0010 (SQLite; Postgres has no such buffer): the setting is FTS5's own, read by every
    connection, and the index it writes answers as before."""
    if store.sqlite:
        with store.read() as conn:
            setting = "SELECT v FROM fts_versions_config WHERE k = 'hashsize'"
            assert conn.exec_driver_sql(setting).scalar() == 8 * 1024 * 1024
    ids = add_versions(store, [f"quay{i}" for i in range(5)])
    assert drain(store) == 5 and unindexed(store) == 0
    assert sorted(hits(store, "ministers")) == ids and hits(store, "quay3") == [ids[3]]
