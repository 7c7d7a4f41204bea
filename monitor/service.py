"""The one place that wires store -> fetch -> core -> store: a poll of one source, end to end."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from monitor.clock import utcnow
from monitor.config import Settings, SourceConfig
from monitor.core.decide import Parsed, decide_poll, needs_parse
from monitor.core.feeds import parse_feed_drafts
from monitor.core.match import WatchSpec
from monitor.core.normalize import article_key, canonical_url
from monitor.core.pageread import extract_page_text, read_page
from monitor.core.schedule import next_check
from monitor.core.track import (
    DEFAULT_LADDER,
    PageCheck,
    PageText,
    Recheck,
    TrackedArticle,
    decide_page_check,
)
from monitor.core.watchprep import DraftInsight, WatchContext, parse_feed_for_watches
from monitor.errors import ParseError
from monitor.fetch import Fetcher, FetchLimits
from monitor.fleet import apply_config
from monitor.models import (
    ArticleDraft,
    FetchResponse,
    ParsedFeed,
    PollOutcome,
    PollSummary,
    SourceKind,
    SourcePollState,
    SourceSpec,
    StoredVersion,
)
from monitor.parsepool import parse_worker_init as _parse_worker_init
from monitor.store import leases, search_index
from monitor.store.repo import ConcurrentWriteError, Connection, PollWrites, Store, process_owner
from monitor.store.tracking import (
    apply_page_check,
    claim_due_articles,
    earlier_hashes,
    ensure_article,
    tracked_articles,
    tracked_by_key,
)

log = logging.getLogger("monitor.poll")
T = TypeVar("T")


class WriteBatcher:
    """Group commit: units queued from the event loop are run by one writer thread, many per transaction.

    A batch shares one transaction and flushes its source updates and fetch rows with one executemany each.
    If any unit in a batch fails, the batch rolls back and its units are retried one per transaction, so
    one bad poll never takes others down with it. A unit whose caller was cancelled before it started is
    skipped; once started, it commits or rolls back as a whole.
    """

    def __init__(self, store: Store, max_batch: int = 64, steps: Sequence[BatchStep] = ()) -> None:
        self.store = store
        self.max_batch = max_batch
        self.steps = steps  # their finish() runs last in each transaction, discard() after a rollback
        self._queue: queue.SimpleQueue[tuple[Callable[[Connection, PollWrites], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="monitor-writer", daemon=True)
        self._thread.start()

    async def submit(self, unit: Callable[[Connection, PollWrites], T]) -> T:
        future: Future[T] = Future()
        self._queue.put((unit, future))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Finish every queued unit, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            live = [(unit, fut) for unit, fut in batch if fut.set_running_or_notify_cancel()]
            if live:
                try:
                    self._write(live)
                except (
                    BaseException
                ) as exc:  # the writer thread must outlive any bug: no caller waits forever
                    log.exception("the writer failed on a batch of %d units", len(live))
                    for _, fut in live:
                        if not fut.done():
                            fut.set_exception(exc)
            if stop:
                return

    def _write(
        self, batch: list[tuple[Callable[[Connection, PollWrites], Any], Future[Any]]], retry: bool = True
    ) -> None:
        try:
            with self.store.write() as conn:
                writes = PollWrites()
                results = [unit(conn, writes) for unit, _ in batch]
                self.store.flush_writes(conn, writes)
                for step in self.steps:
                    if (finish := getattr(step, "finish", None)) is not None:
                        finish(conn)
        except Exception as exc:
            for step in self.steps:
                try:
                    step.discard()
                except Exception:  # the writer thread must live on, or every later poll waits forever
                    log.exception("a write step failed to discard its state")
            if len(batch) > 1:
                for item in batch:
                    self._write([item])
            elif retry and isinstance(exc, ConcurrentWriteError):
                self._write(batch, retry=False)  # the unit looks again and sees what the other writer wrote
            else:
                batch[0][1].set_exception(exc)
            return
        for step in self.steps:
            if (committed := getattr(step, "committed", None)) is not None:
                committed()
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)


class AfterStore(Protocol):
    """A step that runs inside the writing transaction after each unit stored new versions."""

    def __call__(self, conn: Connection, stored: Sequence[StoredVersion], now: datetime) -> None: ...


class BatchStep(Protocol):
    """A step over a whole write transaction (stories, matching, alerts): it gathers what each unit stored
    and applies it last, so whatever it serialises is held only until the commit right after."""

    def add(
        self,
        conn: Connection,
        stored: Sequence[StoredVersion],
        now: datetime,
        prepared: Mapping[str, DraftInsight] | None = None,
    ) -> None:
        """Take note of what one unit stored (with what the parse workers worked out, by draft key)."""

    def finish(self, conn: Connection) -> None:
        """Apply what the transaction's units stored, last before it commits."""

    def discard(self) -> None:
        """The transaction rolled back: forget what its units stored."""

    def committed(self) -> None:
        """The transaction committed."""

    # Optional: `warm()`, called from the event loop when a poll parsed drafts it is about to store, so a
    # step can start loading what its first finish() needs (the story index) in the background.


@dataclass
class ServiceOptions:
    """Knobs of the polling service that are not per-source settings."""

    parse_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    lease: timedelta = timedelta(minutes=10)
    clock: Callable[[], datetime] = utcnow


def source_specs(settings: Settings) -> list[SourceSpec]:
    return [SourceSpec(s.name, s.kind, s.url, s.enabled, s.tags) for s in settings.sources]


def fetch_limits(settings: Settings) -> FetchLimits:
    d = settings.defaults
    return FetchLimits(
        user_agent=d.user_agent,
        timeout=d.timeout.total_seconds(),
        max_bytes=d.max_bytes,
        concurrency=d.concurrency,
        per_host=d.per_host,
    )


def pool_size(sources: int) -> int:
    """Parse processes for polling this many sources: one per core, never more than there are sources."""
    return max(1, min(os.cpu_count() or 1, sources))


# What every parse worker runs: imported once by the fork server, which workers fork from (copy-on-write).
# "__main__" first, multiprocessing's default: a console script's main module is loaded there, not per worker.
_WORKER_PRELOAD = [
    "__main__",
    "monitor.parsepool",
    "monitor.core.watchprep",
    "fastfeedparser",
    "feedparser",
    "wordfreq",
]


def _parse_context() -> multiprocessing.context.ForkServerContext:
    """The parse pool's start method, its fork server started now with the parsers loaded.

    Without this, each worker imported the parsers itself (~0.45 s of CPU each, wordfreq included) after
    the first feed arrived; now the fork server loads them once, in the background, while this process
    opens the store and fetches, and each worker starts as a fork of it.
    """
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_WORKER_PRELOAD)
    forkserver.ensure_running()  # returns once the server process is started, not once it has loaded
    return context


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
        self._parse: Executor
        if self.options.parse_workers > 1:
            self._parse = ProcessPoolExecutor(
                max_workers=self.options.parse_workers,
                mp_context=_parse_context(),
                initializer=_parse_worker_init,
                initargs=(os.getpid(),),
            )
        else:
            self._parse = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-parse")
        self._by_name = {s.name: s for s in settings.sources}
        self.owner = process_owner()
        self.unreleased: set[tuple[str, int]] = set()  # ("s"|"a", id) whose release failed: retried later
        self.writer = WriteBatcher(store, steps=self.batch_steps)
        self._ignore_cache: dict[str, tuple[re.Pattern[str], ...]] = {}

    def _after_store(
        self,
        conn: Connection,
        stored: Sequence[StoredVersion],
        now: datetime,
        prepared: Mapping[str, DraftInsight] | None,
    ) -> None:
        for step in self.after_store:
            step(conn, stored, now)
        for batch_step in self.batch_steps:
            batch_step.add(conn, stored, now, prepared)

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
            error = _one_line(f"internal error: {type(exc).__name__}: {exc}")
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
        reason = _one_line(f"{type(failure).__name__}: {failure}")
        if lost:
            first = _one_line(f"{type(lost[0]).__name__}: {lost[0]}")
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
        parsed = await self._parse_body(state, config, response)
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
            stored = self.store.apply_outcome(conn, outcome, response.final_url, writes)
            if state.last_success_at is None:  # the source's first poll: what it finds is its backlog
                stored = [replace(v, first_poll=True) for v in stored]
            if is_page and self._page_is_the_article(response, parsed):
                stored += self._check_source_page(conn, state, config, response, parsed, now)
            if stored:
                self._after_store(conn, stored, now, parsed.insights if parsed else None)
            return outcome, stored

        try:
            outcome, stored = await self.writer.submit(unit)
        except Exception as exc:
            log.warning("%s: cannot store the poll (%s); storing its entries one by one", state.name, exc)
            return await self._salvage(state, config, response, parsed, now, exc)
        summary = PollSummary(
            source=state.name,
            status=outcome.fetch_status,
            new=sum(1 for v in stored if v.is_new_article),
            changed=sum(1 for v in stored if not v.is_new_article),
            ms=response.duration_ms,
            size=response.size,
            error=outcome.fetch_error,
            next_check_at=outcome.source.next_check_at,
            notes=tuple(
                n
                for n in (
                    f"moved to {outcome.source.url}" if outcome.source.url else None,
                    "disabled: the server says it is gone" if outcome.source.disable else None,
                    f"feed problem: {outcome.problem}" if outcome.problem else None,
                    "unchanged body" if response.status == 200 and parsed is None else None,
                )
                if n
            ),
        )
        _log_summary(summary, outcome)
        return summary

    @staticmethod
    def _page_is_the_article(response: FetchResponse, parsed: Parsed | None) -> bool:
        if response.status in (404, 410):
            return True
        return parsed is not None and parsed.page is not None and parsed.page.kind == "article"

    def _check_source_page(
        self,
        conn: Connection,
        state: SourcePollState,
        config: SourceConfig,
        response: FetchResponse,
        parsed: Parsed | None,
        now: datetime,
    ) -> list[StoredVersion]:
        """A page: source that is a single article: its poll is that article's check."""
        key = article_key(canonical_url(state.url))
        if response.status == 200:
            ensure_article(conn, state.id, key, state.url, now)
        tracked = tracked_by_key(conn, state.id, key)
        if tracked is None:
            return []
        reading = parsed.page if parsed else None
        check = decide_page_check(
            tracked,
            response,
            reading.page if reading else None,
            reading.error if reading else None,
            earlier_hashes(conn, tracked.id),
            now,
            ladder=(),  # the source's own schedule re-checks it
            ignore=self._ignore(config),
        )
        return apply_page_check(conn, check, state.id, response.final_url)

    def _ignore(self, config: SourceConfig) -> tuple[re.Pattern[str], ...]:
        patterns = self._ignore_cache.get(config.name)
        if patterns is None:
            patterns = self._ignore_cache[config.name] = tuple(re.compile(p) for p in config.ignore)
        return patterns

    async def _parse_body(
        self, state: SourcePollState, config: SourceConfig, response: FetchResponse
    ) -> Parsed | None:
        if not needs_parse(state, response) or response.body is None:
            return None
        loop = asyncio.get_running_loop()
        if config.kind is SourceKind.PAGE:
            try:
                reading = await loop.run_in_executor(
                    self._parse, read_page, response.body, response.final_url
                )
            except Exception as exc:
                return Parsed(None, error=f"{type(exc).__name__}: {exc}")
            drafts = tuple(_pending_draft(link) for link in dict.fromkeys(reading.links))
            return Parsed(ParsedFeed(title=None, link=None, entries=()), drafts, page=reading)
        headers = {"content-type": response.content_type or ""}
        insights = None
        try:
            parser = self.settings.defaults.parser
            if self.watch_specs is not None:
                context = WatchContext(config.name, config.tags, self.watch_specs)
                feed, drafts, insights = await loop.run_in_executor(
                    self._parse,
                    parse_feed_for_watches,
                    response.body,
                    headers,
                    response.final_url,
                    context,
                    parser,
                )
            else:
                feed, drafts = await loop.run_in_executor(
                    self._parse, parse_feed_drafts, response.body, headers, response.final_url, parser
                )
        except ParseError as exc:
            return Parsed(None, error=str(exc))
        except Exception as exc:  # feedparser crashing on hostile input, or a dead worker
            return Parsed(None, error=f"{type(exc).__name__}: {exc}")
        return Parsed(feed, drafts, insights=insights)

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
        page: PageText | None = None
        error: str | None = None
        if response.status == 200 and response.body is not None:
            loop = asyncio.get_running_loop()
            try:
                page, error = await loop.run_in_executor(
                    self._parse, extract_page_text, response.body, response.final_url
                )
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        now = self.options.clock()
        recheck = self._recheck(config)
        ignore = self._ignore(config)

        def unit(conn: Connection, _writes: PollWrites) -> tuple[PageCheck, list[StoredVersion]]:
            earlier = earlier_hashes(conn, article.id) if page is not None else {}
            check = decide_page_check(article, response, page, error, earlier, now, recheck, ignore)
            stored = apply_page_check(conn, check, article.source_id, response.final_url)
            if stored:
                self._after_store(conn, stored, now, None)
            return check, stored

        check, stored = await self.writer.submit(unit)
        summary = PageCheckSummary(
            article.id,
            article.source_name,
            response.final_url,
            response.status,
            stored[0].kind if stored else None,
            check.last_error,
            tuple(kind for kind, _ in check.events),
            check.next_check_at,
        )
        if summary.error:
            log.warning("%s #%d: %s (%s)", article.source_name, article.id, summary.error, article.url)
        else:
            log.info(
                "%s #%d: status=%s %s%s ms=%.0f",
                article.source_name,
                article.id,
                response.status,
                summary.version or "unchanged",
                "".join(f" {e}" for e in summary.events),
                response.duration_ms,
            )
        return summary

    @staticmethod
    def _recheck(config: SourceConfig) -> Recheck:
        ladder = config.recheck if config.recheck is not None else DEFAULT_LADDER
        return Recheck(tuple(ladder), tail=config.recheck_tail, until=config.recheck_until)

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


@dataclass
class CycleReport:
    """What one cycle did: the polls, the page checks and (filled in by the caller) the alerts sent."""

    polls: list[PollSummary]
    checks: list[PageCheckSummary]
    alerts_sent: int = 0
    indexed: int = 0  # versions made searchable at the end of the cycle
    index_seconds: float = 0.0  # how long that took (the cycle's rows were committed before)

    @property
    def new_articles(self) -> int:
        return sum(p.new for p in self.polls) + sum(1 for c in self.checks if c.version == "new")

    @property
    def versions(self) -> int:
        """New versions stored: new articles' first versions and edits (a filled-in version 1 is not one)."""
        return sum(p.new + p.changed for p in self.polls) + sum(
            1 for c in self.checks if c.version in ("new", "edit", "revert")
        )

    def line(self) -> str:
        failed = sum(1 for p in self.polls if p.error)
        return (
            f"{len(self.polls)} sources ({failed} failed), {self.new_articles} new articles, "
            f"{self.versions} versions, {len(self.checks)} page checks, {self.alerts_sent} alerts sent"
        ) + (f", {self.indexed} indexed for search in {self.index_seconds:.1f} s" if self.indexed else "")


@dataclass(frozen=True)
class PageCheckSummary:
    """What one article page check did, for logs and the CLI."""

    article_id: int
    source: str
    url: str
    status: int | None
    version: str | None  # the kind of version stored, if any
    error: str | None
    events: tuple[str, ...] = ()
    next_check_at: datetime | None = None


def _pending_draft(url: str) -> ArticleDraft:
    """An article known only by its link (from a listing page): its page check makes version 1."""
    return ArticleDraft(
        key=article_key(canonical_url(url)),
        url=url,
        title=url,
        summary="",
        body="",
        author=None,
        published=None,
        updated=None,
        tags=(),
        content_hash="",
    )


def _one_line(text: str, limit: int = 300) -> str:
    """An error message as one short line (database errors span many)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _log_summary(summary: PollSummary, outcome: PollOutcome) -> None:
    next_in = ""
    if summary.next_check_at is not None:
        seconds = max(0, int((summary.next_check_at - outcome.now).total_seconds()))
        next_in = f" next={seconds // 60}m{seconds % 60:02d}s"
    if summary.error:
        log.warning(
            "%s: %s (status=%s errors=%d%s)",
            summary.source,
            summary.error,
            summary.status if summary.status is not None else "-",
            outcome.source.consecutive_errors,
            next_in,
        )
    else:
        log.info(
            "%s: status=%s new=%d changed=%d ms=%.0f%s%s",
            summary.source,
            summary.status,
            summary.new,
            summary.changed,
            summary.ms,
            next_in,
            "".join(f" ({n})" for n in summary.notes),
        )


def make_fetcher(settings: Settings, transport: Any = None) -> Fetcher:
    return Fetcher(fetch_limits(settings), transport=transport)
