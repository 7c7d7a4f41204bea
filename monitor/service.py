"""The one place that wires store -> fetch -> core -> store: a poll of one source, end to end.

The Service polls sources and re-checks tracked article pages; its parts are the parse worker pool
(parse_pool.py), the writer thread that commits their writes in groups (writer.py), a page check inside
the write transaction (page_checks.py), and what polls and checks report (poll_report.py). May import the
store, fetch, fleet, the core, models and config; never the CLI, the web or the composition root.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from monitor.clock import utcnow
from monitor.config import Settings, SourceConfig
from monitor.core.decide import Parsed, decide_poll, needs_parse
from monitor.core.match import WatchSpec
from monitor.core.schedule import next_check
from monitor.core.track import PageCheck, TrackedArticle
from monitor.core.watchprep import DraftInsight
from monitor.fetch import Fetcher
from monitor.fleet import apply_config
from monitor.models import (
    ArticleDraft,
    FetchResponse,
    PollOutcome,
    PollSummary,
    SourceKind,
    SourcePollState,
    SourceSpec,
    StoredVersion,
    VersionText,
)
from monitor.page_checks import (
    check_page,
    check_source_page,
    page_is_the_article,
    recheck_of,
)
from monitor.parse_pool import extract_page, parse_body, parse_pool
from monitor.poll_report import (
    CycleReport,
    PageCheckSummary,
    log_page_check,
    log_poll,
    one_line,
    page_check_summary,
    poll_summary,
)
from monitor.store import leases, search_index
from monitor.store.leases import process_owner
from monitor.store.sources import PollWrites
from monitor.store.store import Connection, Store
from monitor.store.tracking import claim_due_articles, tracked_articles
from monitor.writer import AfterStore, BatchStep, WriteBatcher

log = logging.getLogger("monitor.poll")
T = TypeVar("T")


@dataclass
class ServiceOptions:
    """Knobs of the polling service that are not per-source settings."""

    parse_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    lease: timedelta = timedelta(minutes=10)
    clock: Callable[[], datetime] = utcnow
    # Polls between parse and commit at once (None: unwritten_bound(parse_workers)); see Service._unwritten.
    unwritten: int | None = None


# A writer batch of fewer than WRITE_GATHER_UNITS polls waits up to WRITE_GATHER seconds for polls still
# parsing. A transaction's fixed cost (its commit, the watch step's statements) was a fifth of the writer
# thread's CPU at 2.3 polls a transaction (bench/poll.py --feeds 1000); 6 a transaction took 1-1.5 CPU s
# off the main process's ~12.5. Larger batches did no better: they outgrow SQLite's page cache.
WRITE_GATHER = 0.05
WRITE_GATHER_UNITS = 6


def unwritten_bound(parse_workers: int) -> int:
    """How many polls may hold a parsed result the writer has not committed yet.

    Without a bound every poll of the concurrency (50 in bench/poll.py) parsed and then waited for the
    writer holding its drafts and watch insights: the main process peaked at 270 MiB on the 1000-feed cycle.
    Sixteen slots keep a writer batch queued behind the one it writes while the parse workers fill the
    next, so the writer never waits for a parse; fetches go on meanwhile (a fetched body is small).
    """
    return max(16, 4 * parse_workers)


def source_specs(settings: Settings) -> list[SourceSpec]:
    return [SourceSpec(s.name, s.kind, s.url, s.enabled, s.tags) for s in settings.sources]


class Service:
    """Polls sources and writes what they say. Async at the edges; the database runs in its own threads."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        fetcher: Fetcher,
        options: ServiceOptions | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.options = options or ServiceOptions()
        self.after_store: list[AfterStore] = []
        self.batch_steps: list[BatchStep] = []  # the watch step
        # Set by the watch step: the parse workers also work out each draft's story features and watch hits.
        self.watch_specs: tuple[WatchSpec, ...] | None = None
        self._db: ThreadPoolExecutor = ThreadPoolExecutor(
            max_workers=1 if store.sqlite else min(8, settings.defaults.concurrency),
            thread_name_prefix="monitor-db",
        )
        self._parse: Executor = parse_pool(self.options.parse_workers)
        self._by_name = {s.name: s for s in settings.sources}
        self.owner = process_owner()
        self.unreleased: set[tuple[str, int]] = set()  # ("s"|"a", id) whose release failed: retried later
        self.writer = WriteBatcher(
            store, steps=self.batch_steps, gather=WRITE_GATHER, gather_units=WRITE_GATHER_UNITS
        )
        self.unwritten_limit = self.options.unwritten or unwritten_bound(self.options.parse_workers)
        self._unwritten: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._ignore_cache: dict[str, tuple[re.Pattern[str], ...]] = {}

    def _after_store(
        self,
        conn: Connection,
        stored: Sequence[StoredVersion],
        now: datetime,
        prepared: Mapping[str, DraftInsight] | None,
        texts: Mapping[int, VersionText] | None = None,
    ) -> None:
        for step in self.after_store:
            step(conn, stored, now)
        for batch_step in self.batch_steps:
            batch_step.add(conn, stored, now, prepared, texts)

    async def db(self, work: Callable[..., T], *args: Any) -> T:
        """Run blocking store work on the database threads."""
        return await asyncio.get_running_loop().run_in_executor(self._db, work, *args)

    def close(self) -> None:
        """Wait for database work to finish (commit or roll back) and stop the worker pools."""
        self.writer.close()
        self._db.shutdown(wait=True)
        self._parse.shutdown(wait=True, cancel_futures=True)

    async def sync_sources(self) -> None:
        """Follow the config's source list, without undoing the list of another process of the fleet."""
        retired, message = await self.db(
            apply_config,
            self.store,
            self.settings,
            source_specs(self.settings),
            self.owner,
            self.options.clock(),
        )
        if message:
            log.warning("%s", message)
        if retired:
            log.info("%d sources no longer in the config are retired", retired)

    async def release(self, kind: str, item_id: int) -> None:
        """Give a leased source ("s") or page ("a") back; if the database is away, remember to retry."""
        try:
            if kind == "s":
                await self.db(leases.release_source, self.store, item_id, self.owner)
            else:
                await self.db(leases.release_page, self.store, item_id, self.owner, self.options.clock())
        except Exception as exc:
            self.unreleased.add((kind, item_id))
            log.warning(
                "cannot release the lease of %s %d now (%s); retrying when the database answers",
                "source" if kind == "s" else "page",
                item_id,
                type(exc).__name__,
            )
        else:
            self.unreleased.discard((kind, item_id))

    async def retry_releases(self) -> int:
        """Release the leases whose release failed earlier; the number released now."""
        done = 0
        for kind, item_id in sorted(self.unreleased):
            await self.release(kind, item_id)
            if (kind, item_id) in self.unreleased:
                break  # still away: try again on the next heartbeat
            done += 1
        if done:
            log.info("released %d leases that could not be released while the database was away", done)
        return done

    async def apply_settings(self, settings: Settings) -> None:
        """Take a reloaded config: new sources are due at once, removed ones are no longer polled."""
        self.settings = settings
        self._by_name = {s.name: s for s in settings.sources}
        self._ignore_cache.clear()
        if self.watch_specs is not None:  # the parse workers match the reloaded watches
            self.watch_specs = tuple(
                WatchSpec(name=w.name, query=w.query, stem=w.stem, sources=w.sources)
                for w in settings.watches
            )
        await self.sync_sources()

    # --- one poll -------------------------------------------------------------------------------

    async def poll(self, state: SourcePollState) -> PollSummary:
        """Fetch, parse, decide and store one source; never raises for the source's own trouble."""
        config = self._by_name.get(state.name)
        if config is None:  # another process's config has it: leave it to them for a minute
            until = self.options.clock() + timedelta(minutes=1)
            await self.db(leases.defer_source, self.store, state.id, self.owner, until)
            return PollSummary(state.name, None, 0, 0, 0.0, error="not in the configuration")
        try:
            return await self._poll(state, config)
        except Exception as exc:  # a bug or a database outage must not stop the daemon
            log.exception("poll %s: unexpected %s", state.name, type(exc).__name__)
            error = one_line(f"internal error: {type(exc).__name__}: {exc}")
            try:  # back off like any failure, so a poll that always fails is not retried every tick
                await self.db(
                    self.store.record_poll_failure, state.id, error, self._backoff(state, config), self._now()
                )
            except Exception:
                log.exception("poll %s: cannot record its failure", state.name)
                await self.release("s", state.id)
            return PollSummary(state.name, None, 0, 0, 0.0, error=error)

    def _now(self) -> datetime:
        return self.options.clock()

    def _unwritten_slots(self) -> asyncio.Semaphore:
        """The bound on polls between parse and commit (one semaphore per event loop: tests run several)."""
        loop = asyncio.get_running_loop()
        slots = self._unwritten.get(loop)
        if slots is None:
            self._unwritten = {loop: (slots := asyncio.Semaphore(self.unwritten_limit))}
        return slots

    def _backoff(self, state: SourcePollState, config: SourceConfig) -> datetime:
        now = self.options.clock()
        return next_check(
            now,
            config.policy(self.settings.defaults),
            seed=state.name,
            consecutive_errors=state.consecutive_errors + 1,
        )

    async def _salvage(
        self,
        state: SourcePollState,
        config: SourceConfig,
        response: FetchResponse,
        parsed: Parsed | None,
        now: datetime,
        failure: Exception,
    ) -> PollSummary:
        """The poll's transaction failed: store each entry on its own, then record the error with a backoff."""
        policy = config.policy(self.settings.defaults)
        follow = config.follow_links or config.kind is SourceKind.PAGE
        drafts = parsed.drafts if parsed else ()

        def one(draft: ArticleDraft) -> Callable[[Connection, PollWrites], list[StoredVersion]]:
            def unit(conn: Connection, _writes: PollWrites) -> list[StoredVersion]:
                assert parsed is not None
                prior = self.store.prior_articles(conn, state.id, [draft.key])
                alone = replace(parsed, drafts=(draft,))
                outcome = decide_poll(state, response, alone, prior, now, policy, follow_links=follow)
                stored = self.store.write_changes(conn, state.id, outcome.changes, now, outcome.track_pages)
                if state.last_success_at is None:  # the source's first poll: what it finds is its backlog
                    stored = [replace(v, first_poll=True) for v in stored]
                if stored:
                    self._after_store(conn, stored, now, parsed.insights)
                return stored

            return unit

        results = await asyncio.gather(*(self.writer.submit(one(d)) for d in drafts), return_exceptions=True)
        stored = [v for r in results if isinstance(r, list) for v in r]
        lost = [r for r in results if isinstance(r, BaseException)]
        reason = one_line(f"{type(failure).__name__}: {failure}")
        if lost:
            first = one_line(f"{type(lost[0]).__name__}: {lost[0]}")
            error = f"cannot store {len(lost)} of {len(drafts)} entries: {first}"
        else:
            error = f"cannot store the poll: {reason}"
        log.warning("%s: %s", state.name, error)
        await self.db(
            self.store.record_poll_failure,
            state.id,
            error,
            self._backoff(state, config),
            now,
            response.status,
        )
        return PollSummary(
            source=state.name,
            status=response.status,
            new=sum(1 for v in stored if v.is_new_article),
            changed=sum(1 for v in stored if not v.is_new_article),
            ms=response.duration_ms,
            error=error,
        )

    async def _poll(self, state: SourcePollState, config: SourceConfig) -> PollSummary:
        defaults = self.settings.defaults
        response = await self.fetcher.fetch(
            state.url,
            etag=state.etag,
            last_modified=state.last_modified,
            obey_robots=config.obeys_robots(defaults),
            read_timeout=config.timeout.total_seconds() if config.timeout else None,
            policy=config.fetch_policy(),
        )
        if not needs_parse(state, response) or response.body is None:  # nothing to parse or hold
            return await self._parse_and_store(state, config, response)
        # Parse only with a slot, held until the writer has committed (or the salvage stored) the result:
        # parsed results never pile up in memory behind a busy writer.
        async with self._unwritten_slots():
            return await self._parse_and_store(state, config, response)

    async def _parse_and_store(
        self, state: SourcePollState, config: SourceConfig, response: FetchResponse
    ) -> PollSummary:
        defaults = self.settings.defaults
        self.writer.expect(1)  # the writer may hold its next batch a moment for this poll's unit
        try:
            parsed = await parse_body(self._parse, state, config, response, defaults.parser, self.watch_specs)
        finally:
            self.writer.expect(-1)  # no await from here to its submit: the unit is queued before it counts
        if parsed is not None and parsed.drafts:
            for step in self.batch_steps:  # something to store: the watch step loads its index now
                if (warm := getattr(step, "warm", None)) is not None:
                    warm()
        now = self.options.clock()
        policy = config.policy(defaults)

        is_page = config.kind is SourceKind.PAGE

        def unit(conn: Connection, writes: PollWrites) -> tuple[PollOutcome, list[StoredVersion]]:
            keys = [d.key for d in parsed.drafts] if parsed else []
            prior = self.store.prior_articles(conn, state.id, keys) if keys else {}
            outcome = decide_poll(
                state, response, parsed, prior, now, policy, follow_links=config.follow_links or is_page
            )
            texts: dict[int, VersionText] | None = {} if self.batch_steps else None
            # The source's first poll (never a success before): what it finds is its backlog.
            stored = self.store.apply_outcome(
                conn, outcome, response.final_url, writes, texts, first_poll=state.last_success_at is None
            )
            if is_page and page_is_the_article(response, parsed):
                checked = check_source_page(conn, state, response, parsed, now, self._ignore(config))
                for version in checked:  # the page may have rewritten a text just written: read it back
                    if texts is not None:
                        texts.pop(version.version_id, None)
                stored += checked
            if stored:
                self._after_store(conn, stored, now, parsed.insights if parsed else None, texts)
            return outcome, stored

        try:
            outcome, stored = await self.writer.submit(unit)
        except Exception as exc:
            log.warning("%s: cannot store the poll (%s); storing its entries one by one", state.name, exc)
            return await self._salvage(state, config, response, parsed, now, exc)
        summary = poll_summary(state.name, outcome, stored, response, unchanged=parsed is None)
        log_poll(summary, outcome)
        return summary

    def _ignore(self, config: SourceConfig) -> tuple[re.Pattern[str], ...]:
        patterns = self._ignore_cache.get(config.name)
        if patterns is None:
            patterns = self._ignore_cache[config.name] = tuple(re.compile(p) for p in config.ignore)
        return patterns

    # --- many polls -----------------------------------------------------------------------------

    async def drain_search_index(self) -> int:
        """Index for search every version stored so far (the daemon's indexer does it in the background)."""
        return await asyncio.to_thread(search_index.drain, self.store)

    async def poll_sources(
        self, names: Sequence[str] | None = None, *, index: bool = True
    ) -> list[PollSummary]:
        """Poll the named (or all) sources now, whatever their schedule; for `monitor poll`. With ``index``,
        what they stored is searchable when this returns."""
        states = await self.db(
            self.store.claim_named, list(names) if names else None, self.options.clock(), self.options.lease
        )
        limit = asyncio.Semaphore(self.settings.defaults.concurrency)

        async def one(state: SourcePollState) -> PollSummary:
            async with limit:
                return await self.poll(state)

        polls = list(await asyncio.gather(*(one(s) for s in states)))
        if index:
            await self.drain_search_index()
        return polls

    # --- article pages --------------------------------------------------------------------------

    async def check_article(self, article: TrackedArticle) -> PageCheckSummary:
        """Re-fetch one tracked article page and store what changed; never raises for the page's trouble."""
        try:
            return await self._check_article(article)
        except Exception as exc:
            log.exception("check %s #%d: unexpected %s", article.source_name, article.id, type(exc).__name__)
            await self.release("a", article.id)
            return PageCheckSummary(
                article.id, article.source_name, article.url, None, None, f"internal error: {exc}"
            )

    async def _check_article(self, article: TrackedArticle) -> PageCheckSummary:
        config = self._by_name.get(article.source_name)
        if config is None:
            return PageCheckSummary(
                article.id, article.source_name, article.url, None, None, "not in the configuration"
            )
        response = await self.fetcher.fetch(
            article.url,
            etag=article.etag,
            last_modified=article.last_modified,
            obey_robots=config.obeys_robots_for_pages(self.settings.defaults),
            read_timeout=config.timeout.total_seconds() if config.timeout else None,
            accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
            policy=config.fetch_policy(),
        )
        page, error = await extract_page(self._parse, response)
        now = self.options.clock()
        recheck = recheck_of(config)
        ignore = self._ignore(config)

        def unit(conn: Connection, _writes: PollWrites) -> tuple[PageCheck, list[StoredVersion]]:
            check, stored = check_page(conn, article, response, page, error, now, recheck, ignore)
            if stored:
                self._after_store(conn, stored, now, None)
            return check, stored

        check, stored = await self.writer.submit(unit)
        summary = page_check_summary(article, response, check, stored)
        log_page_check(summary, article.url, response.duration_ms)
        return summary

    async def claim_due_articles(
        self, limit: int | None, names: Sequence[str] | None = None
    ) -> list[TrackedArticle]:
        """Lease the article pages due now (ladder first, then each source's tail budget, newest first)."""
        budgets = {s.name: s.recheck_budget for s in self.settings.sources}

        def claim() -> list[TrackedArticle]:
            return claim_due_articles(
                self.store,
                self.options.clock(),
                limit,
                self.options.lease,
                self.owner,
                source_names=names,
                tail_budget=budgets,
            )

        return await self.db(claim)

    async def poll_cycle(self, names: Sequence[str] | None = None, *, pages: bool = True) -> CycleReport:
        """One whole cycle, as the daemon would run it: the named (or all) sources whatever their schedule,
        then the first checks of the pages they found and the page re-checks that are due; for `monitor poll`.
        """
        polls = await self.poll_sources(names, index=False)
        checks: list[PageCheckSummary] = []
        if pages:
            due = await self.claim_due_articles(None, names)
            limit = asyncio.Semaphore(self.settings.defaults.concurrency)

            async def one(article: TrackedArticle) -> PageCheckSummary:
                async with limit:
                    return await self.check_article(article)

            checks = list(await asyncio.gather(*(one(a) for a in due)))
        started = time.perf_counter()
        indexed = await self.drain_search_index()  # the cycle's rows are committed: now make them searchable
        return CycleReport(
            polls=polls, checks=checks, indexed=indexed, index_seconds=time.perf_counter() - started
        )

    async def check_articles(self, names: Sequence[str] | None = None) -> list[PageCheckSummary]:
        """Re-check every tracked article page (of the named sources) now; for `monitor poll --articles`."""
        tracked = await self.db(tracked_articles, self.store, list(names) if names else None)
        limit = asyncio.Semaphore(self.settings.defaults.concurrency)

        async def one(article: TrackedArticle) -> PageCheckSummary:
            async with limit:
                return await self.check_article(article)

        checks = list(await asyncio.gather(*(one(a) for a in tracked)))
        await self.drain_search_index()
        return checks

    async def claim_due(self, limit: int) -> list[SourcePollState]:
        return await self.db(
            self.store.claim_due, self.options.clock(), limit, self.options.lease, self.owner
        )
