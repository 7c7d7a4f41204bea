"""`monitor alerts`: the outbox (pending, sent, failed), retrying failed alerts, testing a channel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import click
import sqlalchemy as sa

from monitor.cli.common import format_option, handles_errors, open_from
from monitor.cli.matches import check_filters
from monitor.cli.output import emit
from monitor.core.render import render_alert, sample_alert
from monitor.errors import MonitorError, NotFoundError
from monitor.notify.channels import DeliveryError, send
from monitor.store.repo import Store, articles, sources
from monitor.store.tables import alerts, matches

STATUSES = ("pending", "sent", "failed")


def list_alerts(store: Store, status: str | None, watch: str | None, limit: int) -> list[dict[str, Any]]:
    query = (
        sa.select(
            alerts.c.id,
            alerts.c.status,
            alerts.c.watch,
            alerts.c.channel,
            alerts.c.event,
            alerts.c.story_id,
            alerts.c.attempts,
            alerts.c.created_at,
            alerts.c.next_attempt_at,
            alerts.c.sent_at,
            alerts.c.last_error,
            alerts.c.delivery_id,
            articles.c.id.label("article_id"),
            articles.c.title,
            articles.c.url,
            sources.c.name.label("source"),
        )
        .join(matches, matches.c.id == alerts.c.match_id)
        .join(articles, articles.c.id == matches.c.article_id)
        .join(sources, sources.c.id == articles.c.source_id)
        .order_by(alerts.c.created_at.desc(), alerts.c.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(alerts.c.status == status)
    if watch:
        query = query.where(alerts.c.watch == watch)
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def retry_alerts(store: Store, ids: list[int], all_failed: bool, now: datetime) -> int:
    """Put failed (or given) alerts back in the queue, due now, with their attempts reset."""
    with store.write() as conn:
        if ids:
            found = {r.id for r in conn.execute(sa.select(alerts.c.id).where(alerts.c.id.in_(ids)))}
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFoundError(f"no alert {', '.join(map(str, missing))}")
            where = sa.and_(alerts.c.id.in_(ids), alerts.c.status != "sent")
        else:
            where = alerts.c.status == "failed"
        result = conn.execute(
            alerts.update()
            .where(where)
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
                lease_owner=None,
            )
        )
        return int(result.rowcount or 0)


@click.group("alerts", invoke_without_command=True)
@click.option("--status", type=click.Choice(STATUSES), help="Only alerts in this state.")
@click.option("--watch", "watch", help="Only this watch's alerts.")
@click.option("--limit", default=100, show_default=True)
@format_option
@click.pass_context
@handles_errors
def alerts_group(ctx: click.Context, status: str | None, watch: str | None, limit: int, fmt: str) -> None:
    """The alert outbox, newest first: pending, sent and failed deliveries."""
    if ctx.invoked_subcommand is not None:
        return
    with open_from(ctx, migrate=False) as app:
        check_filters(app, watches=(watch,) if watch else ())
        rows = list_alerts(app.store, status, watch, limit)
    emit(
        rows,
        fmt,
        ["id", "status", "watch", "channel", "event", "attempts", "created_at", "title", "last_error"],
        title="alerts",
    )


@alerts_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--failed", "all_failed", is_flag=True, help="Every failed alert.")
@click.pass_context
@handles_errors
def retry_command(ctx: click.Context, ids: tuple[int, ...], all_failed: bool) -> None:
    """Send failed alerts again (by ID, or all with --failed) on the next delivery pass."""
    if bool(ids) == all_failed:
        raise MonitorError("give alert IDs or --failed (not both)")
    with open_from(ctx, migrate=False) as app:
        count = retry_alerts(app.store, list(ids), all_failed, datetime.now(UTC))
    click.echo(f"{count} alert{'s' if count != 1 else ''} queued again")


@alerts_group.command("test")
@click.argument("channel")
@click.pass_context
@handles_errors
def test_command(ctx: click.Context, channel: str) -> None:
    """Send a sample alert through CHANNEL now and say what the other side answered."""
    with open_from(ctx, migrate=False) as app:
        settings = next((c for c in app.settings.channels if c.name == channel), None)
        if settings is None:
            known = ", ".join(c.name for c in app.settings.channels) or "none"
            raise MonitorError(f"no channel named {channel!r} in {app.config_path} (channels: {known})")
    now = datetime.now(UTC)
    context = sample_alert(now, delivery_id=f"test-{now.strftime('%Y%m%dT%H%M%S%f')}")
    message = render_alert(context, settings.templates, channel=settings.name, tz=settings.tz)
    try:
        result = asyncio.run(send(settings, message))
    except DeliveryError as error:
        raise MonitorError(f"channel {channel!r}: test message not delivered: {error.message}") from None
    click.echo(
        f"channel {channel!r}: test message delivered ({result.detail}, {result.elapsed * 1000:.0f} ms)"
    )


def register(group: click.Group) -> None:
    group.add_command(alerts_group)
