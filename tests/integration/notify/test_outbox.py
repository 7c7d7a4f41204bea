"""The outbox end to end on SQLite and Postgres: real webhook receivers and SMTP servers on loopback,
outages, retries, digests, the `monitor alerts` commands, and SIGKILL mid-delivery then restart."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from monitor.config import Settings, parse_settings
from monitor.core.delivery import after_failure, retry_delay, snippet_from_marked
from monitor.notify.webhook import verify_signature
from monitor.outbox import Outbox
from monitor.store.store import Store
from monitor.store.tables import alerts
from tests.fixtures.cli import run_cli, start_daemon
from tests.fixtures.feeds import labelled_items, mt_item, mt_rss, other_outlet_atom
from tests.fixtures.notify import SMTP_PASSWORD, SMTP_USER, Receiver, Reply, SMTPServer
from tests.fixtures.runtime import poll_watching, wait_for
from tests.fixtures.server import LoopbackServer, Route, free_port

SECRET = "s3cret"
WATCH = {"name": "nk-troops", "query": '"north korea" AND troop*'}


def config_data(server: LoopbackServer, channels: list[dict[str, Any]], **watch: Any) -> dict[str, Any]:
    return {
        "defaults": {"timeout": "5s", "per_host": 4, "max_age": "none"},
        "sources": [
            {"name": "moscow-times", "feed": server.url("/rss/news")},
            {"name": "kyiv-post", "feed": server.url("/feed.atom")},
        ],
        "watches": [{**WATCH, "channels": [c["name"] for c in channels], **watch}],
        "channels": channels,
    }


def settings_of(data: dict[str, Any]) -> Settings:
    return parse_settings(yaml.safe_dump(data), "test.yaml", env={})


def hook(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "url": url, "secret": SECRET, "timeout": "2s", **extra}


def serve_seeds(server: LoopbackServer) -> None:
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item(), *labelled_items(3)]))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def deliver(outbox: Outbox) -> Any:
    async def go() -> Any:
        try:
            return await outbox.deliver_due()
        finally:
            await outbox.aclose()

    return asyncio.run(go())


def alert_rows(store: Store) -> list[Any]:
    with store.read() as conn:
        return list(conn.execute(sa.select(alerts).order_by(alerts.c.id)))


# --- pure decisions ---------------------------------------------------------------------------


def test_backoff_grows_with_jitter_and_is_capped_and_honours_retry_after() -> None:
    rng = random.Random(1)
    delays = [retry_delay(n, rng).total_seconds() for n in range(1, 8)]
    assert 22 <= delays[0] <= 38 and delays == sorted(delays)
    assert retry_delay(40, rng) <= timedelta(hours=6) * 1.25
    assert retry_delay(1, rng, retry_after=600) >= timedelta(seconds=600)
    now = datetime(2024, 10, 18, tzinfo=UTC)
    assert after_failure(0, 3, retryable=True, now=now, rng=rng).retry_at is not None
    assert after_failure(2, 3, retryable=True, now=now, rng=rng).gives_up  # the third attempt was the last
    assert after_failure(0, 3, retryable=False, now=now, rng=rng).gives_up


def test_snippets_keep_their_highlights() -> None:
    snippet = snippet_from_marked("**North Korea** is sending **troop** deployments")
    assert snippet.text == "North Korea is sending troop deployments"
    assert [snippet.text[a:b] for a, b in snippet.highlights] == ["North Korea", "troop"]


# --- delivery against real servers ---------------------------------------------------------


def test_one_signed_webhook_and_one_email_per_story(
    store: Store, server: LoopbackServer, receiver: Receiver, smtp_server: Callable[..., SMTPServer]
) -> None:
    smtp = smtp_server(security="starttls", auth=True)
    serve_seeds(server)
    channels = [
        hook("hook", receiver.url()),
        {
            "name": "mail",
            "type": "email",
            "host": smtp.host,
            "port": smtp.port,
            "security": "starttls",
            "verify": False,
            "username": SMTP_USER,
            "password": SMTP_PASSWORD,
            "from": "monitor@example.org",
            "to": ["desk@example.org"],
        },
    ]
    config = settings_of(config_data(server, channels))
    poll_watching(config, store, "moscow-times")
    poll_watching(config, store, "kyiv-post")  # the same story from a second outlet: no second alert
    report = deliver(Outbox(config, store))
    assert (report.sent, report.retrying, report.failed) == (2, 0, 0)
    (request,) = receiver.requests
    assert verify_signature(SECRET, request.body, request.headers["x-monitor-signature"])
    payload = request.json()
    assert payload["event"] == "new_story" and payload["watch"] == "nk-troops"
    assert payload["delivery_id"] == request.headers["x-monitor-delivery"]
    assert payload["article"]["source"] == "moscow-times" and "North Korea" in payload["article"]["title"]
    assert [o["source"] for o in payload["story"]["other_outlets"]] == ["kyiv-post"]
    assert payload["snippet"]["highlights"] and payload["terms"]
    (mail,) = smtp.received
    email = mail.email
    assert "North Korea" in str(email["Subject"]) and email.is_multipart()
    rows = alert_rows(store)
    assert [(r.channel, r.status, r.attempts) for r in rows] == [("hook", "sent", 1), ("mail", "sent", 1)]
    # Nothing is sent twice.
    assert deliver(Outbox(config, store)).attempted == 0
    assert len(receiver.requests) == 1 and len(smtp.received) == 1


def test_a_dead_channel_holds_up_nothing_and_is_delivered_once_when_it_comes_back(
    store: Store, server: LoopbackServer, receiver: Receiver
) -> None:
    serve_seeds(server)
    dead_port = free_port()
    config = settings_of(
        config_data(server, [hook("down", f"http://127.0.0.1:{dead_port}/hook"), hook("up", receiver.url())])
    )
    poll_watching(config, store)
    clock = Clock()
    outbox = Outbox(config, store, clock=clock, rng=random.Random(3))
    first = deliver(outbox)
    assert (first.sent, first.retrying) == (1, 1)
    assert [r.path for r in receiver.requests] == ["/hook"]
    down = next(r for r in alert_rows(store) if r.channel == "down")
    assert down.status == "pending" and down.attempts == 1 and "127.0.0.1" in (down.last_error or "")
    assert deliver(outbox).attempted == 0  # resting: not hammered
    revived = Receiver(port=dead_port)
    try:
        clock.advance(hours=1)
        again = deliver(outbox)
        assert (again.sent, again.retrying) == (1, 0)
        (request,) = revived.requests
        assert request.headers["x-monitor-delivery"] == down.delivery_id  # the same id across retries
        clock.advance(hours=1)
        assert deliver(outbox).attempted == 0 and len(revived.requests) == 1
    finally:
        revived.stop()
    assert {r.status for r in alert_rows(store)} == {"sent"}


def test_server_errors_are_retried_then_give_up_keeping_the_last_error(
    store: Store, server: LoopbackServer, receiver: Receiver
) -> None:
    serve_seeds(server)
    config = settings_of(config_data(server, [hook("hook", receiver.url(), max_attempts=3)]))
    poll_watching(config, store)
    clock = Clock()
    outbox = Outbox(config, store, clock=clock, rng=random.Random(5))
    receiver.reply(Reply(500, b"boom"), Reply(503, b"busy"), Reply(502, b"bad gateway"))
    for expected in ("pending", "pending", "failed"):
        report = deliver(outbox)
        assert report.attempted == 1
        (row,) = alert_rows(store)
        assert row.status == expected
        clock.advance(hours=7)
    assert row.attempts == 3 and "502" in (row.last_error or "")
    assert len({r.headers["x-monitor-delivery"] for r in receiver.requests}) == 1
    # A 500 then a 200: delivered on the retry.
    with store.write() as conn:
        conn.execute(alerts.update().values(status="pending", attempts=0, next_attempt_at=clock.now))
    receiver.reply(Reply(500, b"boom"))
    assert deliver(outbox).retrying == 1
    clock.advance(hours=1)
    assert deliver(outbox).sent == 1
    assert alert_rows(store)[0].status == "sent"


def test_a_refused_message_fails_alone_without_resting_the_channel(
    store: Store, server: LoopbackServer, receiver: Receiver
) -> None:
    serve_seeds(server)
    config = settings_of(
        config_data(server, [hook("hook", receiver.url())], query='"north korea" OR kharkiv OR court')
    )
    poll_watching(config, store)
    count = len(alert_rows(store))
    assert count >= 2
    receiver.reply(Reply(400, b"bad payload"))  # the first message refused outright
    report = deliver(Outbox(config, store))
    assert (report.failed, report.sent) == (1, count - 1)


def test_digest_channels_bundle_pending_alerts_when_due(
    store: Store, server: LoopbackServer, receiver: Receiver
) -> None:
    serve_seeds(server)
    config = settings_of(
        config_data(
            server, [hook("digest", receiver.url(), every="30m")], query='"north korea" OR kharkiv OR court'
        )
    )
    poll_watching(config, store)
    pending = len(alert_rows(store))
    assert pending >= 2
    clock = Clock()
    outbox = Outbox(config, store, clock=clock)
    assert deliver(outbox).attempted == 0 and receiver.requests == []  # not due yet
    clock.advance(minutes=31)
    assert deliver(outbox).sent == pending
    (request,) = receiver.requests
    payload = request.json()
    assert payload["event"] == "digest" and payload["count"] == pending
    assert verify_signature(SECRET, request.body, request.headers["x-monitor-signature"])
    assert {r.status for r in alert_rows(store)} == {"sent"}


def test_unknown_channels_fail_with_a_clear_error(
    store: Store, server: LoopbackServer, receiver: Receiver
) -> None:
    serve_seeds(server)
    data = config_data(server, [hook("old", receiver.url())])
    poll_watching(settings_of(data), store)
    data["channels"] = [hook("new", receiver.url())]
    data["watches"][0]["channels"] = ["new"]
    assert deliver(Outbox(settings_of(data), store)).failed == 1
    (row,) = alert_rows(store)
    assert row.status == "failed" and row.last_error == "channel old is not in the config"


# --- the commands -------------------------------------------------------------------------


def test_poll_delivers_before_it_exits_and_the_alerts_commands(
    db_url: str, server: LoopbackServer, receiver: Receiver, tmp_path: Path
) -> None:
    serve_seeds(server)
    dead = f"http://127.0.0.1:{free_port()}/hook"
    data = config_data(server, [hook("hook", receiver.url()), hook("down", dead, max_attempts=1)])
    config = tmp_path / "feeds.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run_cli(["poll"], config, db_url)
    assert result.returncode == 0, result.stderr
    assert "alerts: 1 sent, 0 to retry, 1 failed" in result.stderr
    assert len(receiver.requests) == 1
    listed = json.loads(run_cli(["alerts", "--format", "json"], config, db_url).stdout)
    assert sorted((a["channel"], a["status"]) for a in listed) == [("down", "failed"), ("hook", "sent")]
    failed = json.loads(run_cli(["alerts", "--status", "failed", "--format", "json"], config, db_url).stdout)
    assert [a["channel"] for a in failed] == ["down"] and "connect" in failed[0]["last_error"].lower()
    retried = run_cli(["alerts", "retry", str(failed[0]["id"])], config, db_url)
    assert retried.returncode == 0 and "1 alert queued again" in retried.stdout
    assert json.loads(run_cli(["alerts", "--status", "pending", "--format", "json"], config, db_url).stdout)
    assert run_cli(["alerts", "retry", "--failed"], config, db_url).stdout.startswith("0 alerts")
    missing = run_cli(["alerts", "retry", "99999"], config, db_url)
    assert missing.returncode == 3 and "no alert 99999" in missing.stderr
    tested = run_cli(["alerts", "test", "hook"], config, db_url)
    assert tested.returncode == 0 and "test message delivered (HTTP 200" in tested.stdout
    assert receiver.requests[-1].json()["event"] == "test"
    broken = run_cli(["alerts", "test", "down"], config, db_url)
    assert broken.returncode != 0 and "channel 'down': test message not delivered" in broken.stderr
    unknown = run_cli(["alerts", "test", "nope"], config, db_url)
    assert unknown.returncode != 0 and "no channel named 'nope'" in unknown.stderr


def test_sigkill_mid_delivery_then_restart_delivers_exactly_once(
    db_url: str, store: Store, server: LoopbackServer, receiver: Receiver, tmp_path: Path
) -> None:
    serve_seeds(server)
    data = config_data(server, [hook("hook", receiver.url())])
    config = tmp_path / "feeds.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    hold = threading.Event()
    receiver.reply(Reply(hold=hold))  # the first delivery hangs: the daemon dies while it is in flight
    log = tmp_path / "daemon.log"
    first = start_daemon(config, db_url, log)
    try:
        wait_for(lambda: len(receiver.requests) == 1, what="the first delivery attempt")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        hold.set()
        (row,) = alert_rows(store)
        assert row.status == "pending" and row.lease_owner is not None
        second = start_daemon(config, db_url, log)
        try:
            wait_for(lambda: alert_rows(store)[0].status == "sent", what="the alert sent after restart")
            time.sleep(1.0)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=20) == 0
    finally:
        if first.poll() is None:
            first.kill()
    rows = alert_rows(store)
    assert len(rows) == 1 and rows[0].status == "sent"
    ids = [r.headers["x-monitor-delivery"] for r in receiver.requests]
    assert len(ids) == 2 and len(set(ids)) == 1  # the retry carries the same id: one delivery to the receiver
    assert "resumed 1 alerts left leased by a process that is gone" in log.read_text()
