"""`monitor alerts`: the outbox (pending, sent, failed), retrying failed alerts, testing a channel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import click

from monitor.cli.common import format_option, handles_errors, open_from
from monitor.cli.matches import check_filters
from monitor.cli.output import emit
from monitor.core.render import render_alert, sample_alert
from monitor.errors import DeliveryError, MonitorError
from monitor.notify.dispatch import send
from monitor.store.alerts import list_alerts, retry_alerts

STATUSES = ("pending", "sent", "failed")


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
        count = retry_alerts(app.store, list(ids), datetime.now(UTC))
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
