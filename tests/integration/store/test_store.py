"""Storage on SQLite and Postgres: schema from migrations, source sync, leases, idempotent writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from monitor.core.decide import Parsed, decide_poll
from monitor.core.feeds import parse_feed_drafts
from monitor.core.schedule import SchedulePolicy
from monitor.models import FetchResponse, SourceKind, SourceSpec
from monitor.store import db, leases
from monitor.store.db import _at_head, _script_head, current_revision, head_revision, make_engine, upgrade
from monitor.store.search import include_name
from monitor.store.store import Store
from monitor.store.tables import Base
from tests.fixtures.feeds import mt_news_feed

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
URL = "http://127.0.0.1:9/rss"


def test_migrations_make_exactly_the_models_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": include_name}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_the_fast_schema_check_agrees_with_alembic_and_an_older_schema_is_still_upgraded(db_url: str) -> None:
    """`monitor poll` skips alembic when the schema is at head: the files' head must be alembic's."""
    from alembic import command

    from monitor.store.db import alembic_config

    assert _script_head() == head_revision()
    engine = make_engine(db_url)
    try:
        assert _at_head(engine)
        with engine.connect() as conn:
            command.downgrade(alembic_config(conn), "-1")
            conn.commit()
        assert current_revision(engine) != head_revision()
        assert not _at_head(engine)
        upgrade(engine)
        assert current_revision(engine) == head_revision() and _at_head(engine)
    finally:
        engine.dispose()
    assert not _at_head(make_engine("sqlite://"))  # no alembic_version table: alembic decides


def test_sync_sources_adds_updates_and_retires(store: Store) -> None:
    store.sync_sources(
        [SourceSpec("a", SourceKind.FEED, URL), SourceSpec("b", SourceKind.FEED, URL + "2")], NOW
    )
    assert store.source_names() == ["a", "b"]
    store.sync_sources([SourceSpec("a", SourceKind.FEED, URL, tags=("x",))], NOW)
    assert store.source_names() == ["a"]
    store.sync_sources(
        [SourceSpec("a", SourceKind.FEED, URL), SourceSpec("b", SourceKind.FEED, URL + "2")], NOW
    )
    assert store.source_names() == ["a", "b"]
    assert store.counts()["sources"] == 2


def test_claim_due_leases_each_source_once(store: Store) -> None:
    store.sync_sources([SourceSpec(f"s{i}", SourceKind.FEED, f"{URL}{i}") for i in range(5)], NOW)
    first = store.claim_due(NOW, 3, timedelta(minutes=5), owner="h:1")
    second = store.claim_due(NOW, 10, timedelta(minutes=5), owner="h:2")
    assert len(first) == 3 and len(second) == 2
    assert not {s.id for s in first} & {s.id for s in second}
    assert store.claim_due(NOW, 10, timedelta(minutes=5)) == []
    # The lease expires, or its owner is found dead: the work comes back.
    assert len(store.claim_due(NOW + timedelta(minutes=6), 10, timedelta(minutes=5))) == 5
    freed = leases.release_dead_leases(store, NOW, timedelta(minutes=1), lambda owner: False)
    assert freed.sources == 5


def _outcome(store: Store, source_id: int, body: bytes, now: datetime) -> tuple[int, int]:
    feed, drafts = parse_feed_drafts(body, {}, URL)
    state = next(s for s in store.claim_named(None, now, timedelta(minutes=5)) if s.id == source_id)
    with store.write() as conn:
        prior = store.prior_articles(conn, source_id, [d.key for d in drafts])
        outcome = decide_poll(
            state,
            FetchResponse(URL, URL, 200, body=body),
            Parsed(feed, drafts),
            prior,
            now,
            SchedulePolicy(interval=timedelta(minutes=10)),
        )
        stored = store.apply_outcome(conn, outcome, URL)
    return sum(v.is_new_article for v in stored), sum(not v.is_new_article for v in stored)


def test_applying_the_same_feed_twice_writes_once(store: Store) -> None:
    store.sync_sources([SourceSpec("mt", SourceKind.FEED, URL)], NOW)
    (state,) = store.claim_named(None, NOW, timedelta(minutes=5))
    body = mt_news_feed(extra=9)
    assert _outcome(store, state.id, body, NOW) == (10, 0)
    assert _outcome(store, state.id, body, NOW + timedelta(minutes=10)) == (0, 0)
    counts = store.counts()
    assert counts["articles"] == 10 and counts["versions"] == 10 and counts["fetches"] == 2


def test_a_changed_entry_gets_version_two(store: Store) -> None:
    store.sync_sources([SourceSpec("mt", SourceKind.FEED, URL)], NOW)
    (state,) = store.claim_named(None, NOW, timedelta(minutes=5))
    body = mt_news_feed(extra=2)
    _outcome(store, state.id, body, NOW)
    edited = body.replace(b"1,500 special forces", b"2,000 special forces")
    assert _outcome(store, state.id, edited, NOW + timedelta(minutes=10)) == (0, 1)
    # The stale prior state of a racing poll cannot write the same version again.
    assert _outcome(store, state.id, edited, NOW + timedelta(minutes=20)) == (0, 0)
    with store.read() as conn:
        rows = conn.execute(sa.text("SELECT n, summary FROM article_versions ORDER BY article_id, n")).all()
    ns = sorted(n for n, _ in rows)
    assert ns.count(2) == 1 and any("2,000 special forces" in s for n, s in rows if n == 2)


def test_a_stale_new_article_decision_is_refused_not_duplicated(store: Store) -> None:
    import pytest

    from monitor.errors import ConcurrentWriteError

    store.sync_sources([SourceSpec("mt", SourceKind.FEED, URL)], NOW)
    (state,) = store.claim_named(None, NOW, timedelta(minutes=5))
    body = mt_news_feed(extra=2)
    feed, drafts = parse_feed_drafts(body, {}, URL)
    policy = SchedulePolicy(interval=timedelta(minutes=10))
    response = FetchResponse(URL, URL, 200, body=body)
    stale = decide_poll(
        state, response, Parsed(feed, drafts), {}, NOW, policy
    )  # decided before the first write
    assert _outcome(store, state.id, body, NOW) == (3, 0)
    with pytest.raises(ConcurrentWriteError), store.write() as conn:
        store.apply_outcome(conn, stale, URL)
    assert store.counts()["articles"] == 3 and store.counts()["versions"] == 3


def test_the_texts_a_poll_hands_on_are_those_read_back(store: Store) -> None:
    """The watch step takes the new articles' texts from the write instead of reading them back: they must
    be the same, NUL removed, dates in UTC, the source's tags added; an edit's text is not handed on."""
    from dataclasses import replace

    from monitor.models import VersionText
    from monitor.store.stories import version_texts

    store.sync_sources([SourceSpec("mt", SourceKind.FEED, URL, tags=("ru", "x"))], NOW)
    (state,) = store.claim_named(None, NOW, timedelta(minutes=5))
    body = mt_news_feed(extra=3)
    _outcome(store, state.id, body, NOW)  # four articles
    feed, drafts = parse_feed_drafts(mt_news_feed(extra=5), {}, URL)
    kyiv = timezone(timedelta(hours=2))
    drafts = [
        replace(
            drafts[0], summary=drafts[0].summary + " edited", content_hash="edited"
        ),  # an edit of a stored article
        *drafts[1:4],
        replace(drafts[4], title="A \x00title", body="the\x00 body", tags=("x", "y\x00")),
        replace(drafts[5], published=datetime(2024, 10, 18, 13, 0, tzinfo=kyiv)),
    ]
    state = next(s for s in store.claim_named(None, NOW, timedelta(minutes=5)) if s.id == state.id)
    later = NOW + timedelta(minutes=10)
    texts: dict[int, VersionText] = {}
    with store.write() as conn:
        prior = store.prior_articles(conn, state.id, [d.key for d in drafts])
        policy = SchedulePolicy(interval=timedelta(minutes=10))
        response = FetchResponse(URL, URL, 200, body=body)
        outcome = decide_poll(state, response, Parsed(feed, tuple(drafts)), prior, later, policy)
        stored = store.apply_outcome(conn, outcome, URL, texts=texts)
    assert sorted(v.kind for v in stored) == ["edit", "new", "new"]
    new_ids = {v.version_id for v in stored if v.kind == "new"}
    assert set(texts) == new_ids
    with store.read() as conn:
        assert texts == version_texts(conn, new_ids)
    by_title = {t.title: t for t in texts.values()}
    assert by_title["A title"].body.endswith("the body") and by_title["A title"].tags == ("x", "y", "ru")


def test_sqlite_commits_checkpoint_the_wal_so_it_stays_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite only (Postgres has no WAL of ours to keep): every connection checkpoints at WAL_AUTOCHECKPOINT
    pages, so the WAL never holds much more than that, however much is written."""
    default = make_engine(f"sqlite:///{tmp_path}/default.db")
    with default.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == db.WAL_AUTOCHECKPOINT == 10_000
    default.dispose()
    monkeypatch.setattr(db, "WAL_AUTOCHECKPOINT", 50)
    path = tmp_path / "small.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        store = Store(engine)
        with store.write() as conn:
            conn.exec_driver_sql("CREATE TABLE filler (text TEXT NOT NULL)")
        largest = 0
        for i in range(100):  # ~10 pages a transaction, 1,000 in all
            with store.write() as conn:
                conn.exec_driver_sql(
                    "INSERT INTO filler VALUES (?)", [(f"{i}-{j} " + "x" * 3_900,) for j in range(10)]
                )
            largest = max(largest, Path(f"{path}-wal").stat().st_size)
        with store.read() as conn:
            assert conn.exec_driver_sql("PRAGMA page_count").scalar() > 1_000
        assert 50 * 4_096 < largest < (50 + 30) * (4_096 + 24)  # frames of a page and a 24-byte header
    finally:
        engine.dispose()
