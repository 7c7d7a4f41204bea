"""Prometheus metrics (prometheus-client) for /metrics: poll counters from the daemon, gauges read at scrape.

Counters and histograms live in a registry per process (not the library's global one, so tests and the
serve command each get their own); what the archive knows (alerts, matches, outbox, sources, stories) is
read from the store when Prometheus scrapes, so any process serving /metrics reports the same numbers.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.models import PollSummary
from monitor.store.listings import archive_gauges
from monitor.store.store import Store

log = logging.getLogger("monitor.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BYTES = (1_000, 10_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 10_000_000)


class Metrics:
    """The process's metrics: record() each poll or page check, render() for a scrape."""

    def __init__(self, store: Store, *, role: str, story_index: Callable[[], int] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter(
            "monitor_polls", "Source polls by HTTP status (or 'error').", ["status"], registry=r
        )
        self.fetch_seconds = Histogram(
            "monitor_fetch_duration_seconds", "Time to fetch a source.", buckets=_SECONDS, registry=r
        )
        self.fetch_bytes = Histogram(
            "monitor_fetch_bytes", "Size of a fetched source body.", buckets=_BYTES, registry=r
        )
        self.new_articles = Counter("monitor_new_articles", "Articles seen for the first time.", registry=r)
        self.new_versions = Counter(
            "monitor_new_versions", "New versions of articles already stored.", registry=r
        )
        self.page_checks = Counter(
            "monitor_page_checks",
            "Article page re-checks by HTTP status (or 'error').",
            ["status"],
            registry=r,
        )
        roles = Gauge(
            "monitor_process_role", "This process's roles (1 for each it has).", ["role"], registry=r
        )
        for name in filter(None, role.split(",")):  # "poll,deliver,http": one series per role
            roles.labels(name).set(1)
        r.register(_ArchiveCollector(store, story_index))

    def record(self, result: object) -> None:
        """Count what one poll (PollSummary) or page check (anything with status and error) did."""
        status = getattr(result, "status", None)
        error = getattr(result, "error", None)
        label = "error" if error or status is None else str(status)
        if isinstance(result, PollSummary):
            self.polls.labels(label).inc()
            if result.status is not None:
                self.fetch_seconds.observe(result.ms / 1000)
                self.fetch_bytes.observe(result.size)
            self.new_articles.inc(result.new)
            self.new_versions.inc(result.changed)
        elif hasattr(result, "article_id"):
            self.page_checks.labels(label).inc()
            if getattr(result, "version", None):
                self.new_versions.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ArchiveCollector(Collector):
    """Gauges read from the store at each scrape."""

    def __init__(self, store: Store, story_index: Callable[[], int] | None) -> None:
        self.store = store
        self.story_index = story_index

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            gauges = archive_gauges(self.store)
            health = self.store.source_health()
        except Exception as exc:  # a scrape during a database outage reports what it can
            log.warning("metrics: cannot read the archive: %s", exc)
            return
        alerts = GaugeMetricFamily(
            "monitor_alerts", "Alerts by watch and status.", labels=["watch", "status"]
        )
        for (watch, status), count in sorted(gauges.alerts.items()):
            alerts.add_metric([watch, status], count)
        yield alerts
        matches = GaugeMetricFamily("monitor_matches", "Watch matches recorded, by watch.", labels=["watch"])
        for watch, count in sorted(gauges.matches.items()):
            matches.add_metric([watch], count)
        yield matches
        pending = sum(n for (_, status), n in gauges.alerts.items() if status == "pending")
        yield GaugeMetricFamily("monitor_outbox_pending", "Alerts waiting to be delivered.", value=pending)
        age = 0.0
        if gauges.oldest_pending_at is not None:
            age = max(0.0, (datetime.now(UTC) - gauges.oldest_pending_at).total_seconds())
        yield GaugeMetricFamily(
            "monitor_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending alert (0: none).",
            value=age,
        )
        states = GaugeMetricFamily("monitor_sources", "Sources by state.", labels=["state"])
        tally = Tally("failing" if h.state.startswith("failing") else h.state for h in health)
        for state in ("ok", "new", "failing", "disabled", "gone"):
            tally.setdefault(state, 0)
        for state, count in sorted(tally.items()):
            states.add_metric([state], count)
        yield states
        yield GaugeMetricFamily("monitor_stories", "Stories in the archive.", value=gauges.stories)
        if self.story_index is not None:
            yield GaugeMetricFamily(
                "monitor_story_index_articles",
                "Articles in the daemon's in-memory story index.",
                value=self.story_index(),
            )
