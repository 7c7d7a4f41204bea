"""The fleet's shared state on SQLite and Postgres: racing source syncs, heartbeats, freeing the leases of
the dead, host slots and rests, job leases, the config the fleet applied, and retention."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.exc import OperationalError

from monitor.config import RetentionSettings, parse_settings
from monitor.fleet import apply_config
from monitor.models import SourceKind, SourceSpec
from monitor.store import leases
from monitor.store.db import make_engine
from monitor.store.retention import prune, prune_if_mine
from monitor.store.store import Store
from monitor.store.tables import alerts, articles, fetches, matches, sources, stories, versions
from monitor.store.tracking import claim_due_articles
from tests.fixtures.cli import run_cli, write_config
from tests.fixtures.runtime import service_for, settings_for

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)
DEAD_AFTER = timedelta(seconds=30)


def specs(*names: str) -> list[SourceSpec]:
    return [SourceSpec(n, SourceKind.FEED, f"http://127.0.0.1:9/{n}") for n in names]


def test_sources_synced_by_several_processes_at_once_are_added_once(db_url: str) -> None:
    names = [f"feed-{i}" for i in range(300)]
    engines = [make_engine(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def sync(engine: Any) -> None:
        barrier.wait()
        try:
            Store(engine).sync_sources(specs(*names), NOW)
        except BaseException as exc:  # the bug was a UniqueViolation here
            errors.append(exc)

    threads = [threading.Thread(target=sync, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for engine in engines:
        engine.dispose()
    assert errors == []
    engine = make_engine(db_url)
    try:
        store = Store(engine)
        assert store.source_names() == sorted(names)
        assert store.counts()["sources"] == 300
    finally:
        engine.dispose()


def _settings(*names: str) -> Any:
    data = {"sources": [{"name": n, "feed": f"http://127.0.0.1:9/{n}"} for n in names]}
    return parse_settings(yaml.safe_dump(data), "fleet.yaml", env={})


def test_a_process_with_another_config_says_so_and_retires_nothing(store: Store) -> None:
    old, new = _settings("a", "b"), _settings("a", "c")
    leases.register_worker(store, "h:1", ["poll"], old.config_hash(), NOW)
    retired, message = apply_config(store, old, specs("a", "b"), "h:1", NOW)
    assert (retired, message) == (0, None)
    leases.register_worker(store, "h:2", ["poll"], new.config_hash(), NOW)
    retired, message = apply_config(store, new, specs("a", "c"), "h:2", NOW)
    assert retired == 0 and message is not None
    assert message.startswith(f"config {new.config_hash()} differs from the running fleet's (h:1 runs ")
    assert store.source_names() == ["a", "b", "c"]  # b stays: h:1 still polls it
    # Once the old process is gone, the new config is the fleet's: b is retired and the hash recorded.
    leases.unregister_worker(store, "h:1")
    retired, message = apply_config(store, new, specs("a", "c"), "h:2", NOW)
    assert retired == 1 and message is not None and "replaces" in message
    assert store.source_names() == ["a", "c"]
    applied = leases.applied_config(store)
    assert applied is not None and applied.config_hash == new.config_hash() and applied.applied_by == "h:2"


def _count(store: Store, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def _page(store: Store, source_id: int, key: str) -> int:
    with store.write() as conn:
        return int(
            conn.execute(
                articles.insert()
                .values(
                    source_id=source_id,
                    key=key,
                    url=f"http://127.0.0.1:9/{key}",
                    title=key,
                    first_seen=NOW,
                    last_seen=NOW,
                    content_hash="h",
                    next_check_at=NOW,
                )
                .returning(articles.c.id)
            ).scalar_one()
        )


def test_a_dead_process_loses_its_leases_at_once_and_the_living_keep_theirs(store: Store) -> None:
    store.sync_sources(specs("a", "b", "c", "d"), NOW)
    leases.register_worker(store, "h:dead", ["poll"], "x", NOW - timedelta(minutes=5))
    leases.register_worker(store, "h:live", ["poll"], "x", NOW)
    assert len(store.claim_due(NOW, 2, LEASE, owner="h:dead")) == 2
    assert len(store.claim_due(NOW, 2, LEASE, owner="h:live")) == 2
    assert store.claim_due(NOW, 1, LEASE, owner="h:dead") == []  # all four are leased
    with store.read() as conn:
        first = conn.execute(sa.select(sources.c.id).order_by(sources.c.id)).scalars().first()
    assert first is not None
    _page(store, first, "p1")
    assert len(claim_due_articles(store, NOW, 5, LEASE, owner="h:dead")) == 1
    assert leases.take_host_slot(store, "example.org:80", "h:dead", 2, NOW, NOW + LEASE) == 0
    assert leases.take_host_slot(store, "example.org:80", "h:live", 2, NOW, NOW + LEASE) == 1

    freed = leases.release_dead_leases(store, NOW, DEAD_AFTER, lambda owner: True)
    assert freed.owners == ("h:dead",)
    assert (freed.sources, freed.pages, freed.host_slots) == (2, 1, 1)
    assert _count(store, sources, sources.c.lease_owner == "h:live") == 2
    assert _count(store, sources, sources.c.lease_owner.is_(None)) == 2
    # The freed work is due at once, for anyone: not after the ten-minute lease.
    assert len(store.claim_due(NOW, 10, LEASE, owner="h:other")) == 2
    assert len(claim_due_articles(store, NOW, 5, LEASE, owner="h:other")) == 1
    assert leases.take_host_slot(store, "example.org:80", "h:other", 2, NOW, NOW + LEASE) == 0
    assert [w.owner for w in leases.live_workers(store, NOW, DEAD_AFTER)] == ["h:live"]
    # A lease owner without a heartbeat row is freed only when it is known to be gone (same host, no pid).
    store.sync_sources(specs("a", "b", "c", "d", "e"), NOW)
    assert len(store.claim_due(NOW, 1, LEASE, owner="h:poll-cli")) == 1
    assert leases.release_dead_leases(store, NOW, DEAD_AFTER, lambda owner: True).sources == 0
    assert (
        leases.release_dead_leases(store, NOW, DEAD_AFTER, lambda owner: owner != "h:poll-cli").sources == 1
    )


def test_a_heartbeat_brings_back_a_worker_given_up_for_dead(store: Store) -> None:
    leases.register_worker(store, "h:1", ["poll", "deliver"], "x", NOW)
    leases.release_dead_leases(store, NOW + timedelta(minutes=5), DEAD_AFTER, lambda owner: True)
    assert leases.live_workers(store, NOW + timedelta(minutes=5), DEAD_AFTER) == []
    leases.heartbeat(store, "h:1", ["poll", "deliver"], "x", NOW + timedelta(minutes=5), NOW)
    (back,) = leases.live_workers(store, NOW + timedelta(minutes=5), DEAD_AFTER)
    assert back.owner == "h:1" and back.roles == ("poll", "deliver") and back.last_tick_at == NOW


def test_host_slots_cap_requests_in_flight_per_host(store: Store) -> None:
    host = "127.0.0.2:8080"
    taken = [leases.take_host_slot(store, host, f"h:{i}", 2, NOW, NOW + LEASE) for i in range(3)]
    assert taken == [0, 1, None]
    assert leases.take_host_slot(store, "127.0.0.3:8080", "h:9", 2, NOW, NOW + LEASE) == 0  # another host
    leases.release_host_slot(store, host, 0, "h:0")
    assert leases.take_host_slot(store, host, "h:2", 2, NOW, NOW + LEASE) == 0
    # A slot whose holder never gave it back runs out on its own.
    later = NOW + LEASE + timedelta(seconds=1)
    assert leases.take_host_slot(store, host, "h:3", 2, later, later + LEASE) == 0


def test_a_host_resting_after_retry_after_is_skipped_by_every_claim(store: Store) -> None:
    store.sync_sources(
        [
            SourceSpec("busy", SourceKind.FEED, "http://127.0.0.1:9/rss"),
            SourceSpec("busy-2", SourceKind.FEED, "http://127.0.0.1:9/other"),
            SourceSpec("calm", SourceKind.FEED, "http://127.0.0.1:10/rss"),
        ],
        NOW,
    )
    leases.rest_host(store, "http://127.0.0.1:9", NOW + timedelta(minutes=2), NOW)
    assert [s.name for s in store.claim_due(NOW, 10, LEASE, owner="h:1")] == ["calm"]
    later = NOW + timedelta(minutes=3)
    assert sorted(s.name for s in store.claim_due(later, 10, LEASE, owner="h:1")) == ["busy", "busy-2"]


def test_robots_txt_read_by_one_process_is_shared_while_fresh(store: Store) -> None:
    origin = "http://127.0.0.1:9"
    assert leases.shared_robots(store, origin, NOW) is None
    leases.save_robots(store, origin, "User-agent: *\nDisallow: /private", True, NOW + timedelta(hours=1))
    shared = leases.shared_robots(store, origin, NOW)
    assert shared is not None and shared.ok and shared.text is not None and "/private" in shared.text
    assert leases.shared_robots(store, origin, NOW + timedelta(hours=2)) is None


def test_a_job_runs_in_one_process_at_a_time(store: Store) -> None:
    assert leases.take_job(store, "prune", "h:1", NOW, NOW + timedelta(hours=1))
    assert not leases.take_job(store, "prune", "h:2", NOW, NOW + timedelta(hours=1))
    leases.finish_job(store, "prune", "h:1", NOW)
    assert leases.take_job(store, "prune", "h:2", NOW, NOW + timedelta(hours=1))
    # A holder that died without finishing loses the job when its lease runs out.
    assert leases.take_job(store, "prune", "h:3", NOW + timedelta(hours=2), NOW + timedelta(hours=3))


def _old_archive(store: Store, now: datetime) -> None:
    """Old fetches, alerts and matches beside new ones, in a story closed long ago and in an open one."""
    store.sync_sources(specs("a"), now)
    old = now - timedelta(days=100)
    with store.write() as conn:
        source_id = conn.execute(sa.select(sources.c.id)).scalar_one()
        conn.execute(
            fetches.insert(),
            [{"source_id": source_id, "url": "u", "started_at": when} for when in (old, old, now)],
        )
        closed = conn.execute(
            stories.insert().values(title="t", first_seen=old, last_seen=old).returning(stories.c.id)
        ).scalar_one()
        open_ = conn.execute(
            stories.insert().values(title="t", first_seen=old, last_seen=now).returning(stories.c.id)
        ).scalar_one()
        for key, story in (("old-1", closed), ("old-2", open_)):
            article = conn.execute(
                articles.insert()
                .values(
                    source_id=source_id,
                    key=key,
                    url=key,
                    title=key,
                    first_seen=old,
                    last_seen=old,
                    content_hash="h2",
                    version_count=2,
                    story_id=story,
                )
                .returning(articles.c.id)
            ).scalar_one()
            ids = [
                conn.execute(
                    versions.insert()
                    .values(
                        article_id=article,
                        n=n,
                        title=key,
                        summary="",
                        body="b",
                        content_hash=f"h{n}",
                        seen_at=old,
                    )
                    .returning(versions.c.id)
                ).scalar_one()
                for n in (1, 2)
            ]
            flagged = conn.execute(
                matches.insert()
                .values(
                    watch="w",
                    article_id=article,
                    version_id=ids[0],
                    story_id=story,
                    flagged=True,
                    created_at=old,
                )
                .returning(matches.c.id)
            ).scalar_one()
            conn.execute(
                matches.insert().values(
                    watch="w2",
                    article_id=article,
                    version_id=ids[1],
                    story_id=story,
                    flagged=False,
                    created_at=old,
                )
            )
            for channel, status in (("sent", "sent"), ("pending", "pending")):
                conn.execute(
                    alerts.insert().values(
                        delivery_id=f"{key}-{channel}",
                        event_key=f"story:{story}",
                        story_id=story,
                        watch="w",
                        channel=channel,
                        match_id=flagged,
                        event="new_story",
                        status=status,
                        next_attempt_at=old,
                        created_at=old,
                        sent_at=old if status == "sent" else None,
                    )
                )


def test_prune_keeps_what_is_needed_and_dry_run_deletes_nothing(store: Store) -> None:
    _old_archive(store, NOW)
    retention = RetentionSettings()
    before = store.counts()
    expected = {"fetches": 2, "alerts": 2, "matches": 1}
    assert prune(store, retention, NOW, dry_run=True) == expected
    assert store.counts() == before
    assert prune(store, retention, NOW) == expected
    assert _count(store, fetches) == 1
    # Pending alerts stay; flagged matches stay; the open story's unflagged match stays.
    assert _count(store, alerts) == 2 and _count(store, alerts, alerts.c.status == "pending") == 2
    assert _count(store, matches) == 3
    assert _count(store, versions) == 4  # versions are kept unless configured
    # With versions: configured, only old versions that are not the latest and that no match names go.
    with store.write() as conn:
        conn.execute(matches.delete().where(matches.c.flagged.is_(False)))
    assert prune(store, RetentionSettings(versions=timedelta(days=30)), NOW) == {
        "fetches": 0,
        "alerts": 0,
        "matches": 0,
        "versions": 0,
    }  # v1 of each is named by its flagged match, v2 is the latest
    with store.write() as conn:
        conn.execute(alerts.delete())
        conn.execute(matches.delete())
    assert prune(store, RetentionSettings(versions=timedelta(days=30)), NOW)["versions"] == 2
    with store.read() as conn:
        assert sorted(conn.execute(sa.select(versions.c.n)).scalars()) == [2, 2]


def test_prune_if_mine_skips_while_another_process_prunes(store: Store) -> None:
    _old_archive(store, NOW)
    now = datetime.now(UTC)
    assert leases.take_job(store, "prune", "h:other", now, now + timedelta(hours=1))
    assert prune_if_mine(store, RetentionSettings(), "h:me") == {}
    leases.finish_job(store, "prune", "h:other", now)
    assert prune_if_mine(store, RetentionSettings(), "h:me") == {"fetches": 2, "alerts": 2, "matches": 1}


@pytest.mark.parametrize("bad", ["fleet: {lease: soon}", "retention: {fetches: 3 weeks}"])
def test_fleet_and_retention_settings_are_checked(bad: str) -> None:
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_settings(bad, "fleet.yaml", env={})
    assert "fleet.yaml:1" in str(caught.value)


def test_a_lease_whose_release_failed_is_released_when_the_database_answers(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for([{"name": "a", "feed": "http://127.0.0.1:9/a"}])
    service = service_for(settings, store)
    store.sync_sources(specs("a"), NOW)
    (state,) = store.claim_due(NOW, 1, LEASE, owner=service.owner)
    real = leases.release_source
    calls: list[int] = []

    def flaky(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 1:  # the database restarts under the first attempt
            raise OperationalError("UPDATE sources", {}, Exception("server closed the connection"))
        real(*args)

    monkeypatch.setattr(leases, "release_source", flaky)

    async def go() -> int:
        await service.release("s", state.id)
        assert service.unreleased == {("s", state.id)}
        assert _count(store, sources, sources.c.lease_owner == service.owner) == 1
        return await service.retry_releases()

    try:
        assert asyncio.run(go()) == 1
    finally:
        asyncio.run(service.fetcher.aclose())
        service.close()
    assert service.unreleased == set() and len(calls) == 2
    assert _count(store, sources, sources.c.lease_owner.is_(None)) == 1
    assert [s.name for s in store.claim_due(NOW, 5, LEASE, owner="h:other")] == ["a"]


def test_db_prune_dry_run_counts_and_prune_deletes(db_url: str, store: Store, tmp_path: Path) -> None:
    _old_archive(store, datetime.now(UTC))
    config = write_config(tmp_path / "feeds.yaml", [{"name": "a", "feed": "http://127.0.0.1:9/a"}])
    dry = run_cli(["db", "prune", "--dry-run"], config, db_url)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == "would prune: 2 fetches, 2 alerts, 1 matches"
    assert _count(store, fetches) == 3
    done = run_cli(["db", "prune"], config, db_url)
    assert done.returncode == 0 and done.stdout.strip() == "pruned: 2 fetches, 2 alerts, 1 matches"
    assert _count(store, fetches) == 1
