"""The parse worker pool: processes forked from a server that preloaded the parsers (one per core, for
`monitor run` and `monitor poll` alike), and what a poll sends to it: a fetched body in, a feed and its
drafts (or a listing page's links) out. May import the core, models, errors and config.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from monitor.config import SourceConfig
from monitor.core.decide import Parsed, needs_parse
from monitor.core.feeds import Parser, parse_feed_drafts
from monitor.core.match import WatchSpec
from monitor.core.normalize import article_key, canonical_url
from monitor.core.pageread import extract_page_text, read_page
from monitor.core.track import PageText
from monitor.core.watchprep import WatchContext, parse_feed_for_watches
from monitor.errors import ParseError
from monitor.models import ArticleDraft, FetchResponse, ParsedFeed, SourceKind, SourcePollState
from monitor.parse_worker import parse_worker_init as _parse_worker_init


def pool_size(sources: int) -> int:
    """Parse processes for polling this many sources: one per core, never more than there are sources."""
    return max(1, min(os.cpu_count() or 1, sources))


# What every parse worker runs: imported once by the fork server, which workers fork from (copy-on-write).
# "__main__" first, multiprocessing's default; CPython 3.11's fork server never loads it, though (its
# ensure_running passes on a `main_path` key that get_preparation_data does not set), so each worker runs
# the `monitor` console script itself as it starts, importing the CLI (~0.45 CPU s, seen with py-spy).
# Preloading "monitor.cli.root" here moves that into the fork server: measured, it saves nothing on two
# cores (the server then pays it on every `monitor poll`, the unchanged cycle included) and doubles the
# server's RSS, so it is left as it is.
_WORKER_PRELOAD = [
    "__main__",
    "monitor.parse_worker",
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


def start_parse_server(workers: int) -> None:
    """Start the fork server `parse_pool(workers)` will fork from, if it will use one; ahead of the pool so
    the server loads the parsers on the other core while this process still opens the database."""
    if workers > 1:
        _parse_context()


def parse_pool(workers: int) -> Executor:
    """The parse workers: `workers` processes forked from the preloaded server, or one thread for one."""
    if workers > 1:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=_parse_context(),
            initializer=_parse_worker_init,
            initargs=(os.getpid(),),
        )
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-parse")


async def parse_body(
    pool: Executor,
    state: SourcePollState,
    config: SourceConfig,
    response: FetchResponse,
    parser: Parser,
    watch_specs: tuple[WatchSpec, ...] | None,
) -> Parsed | None:
    """Parse a fetched body in the pool (with the watches' features and hits when `watch_specs` is set);
    None when there is nothing new to parse."""
    if not needs_parse(state, response) or response.body is None:
        return None
    loop = asyncio.get_running_loop()
    if config.kind is SourceKind.PAGE:
        try:
            reading = await loop.run_in_executor(pool, read_page, response.body, response.final_url)
        except Exception as exc:
            return Parsed(None, error=f"{type(exc).__name__}: {exc}")
        drafts = tuple(_pending_draft(link) for link in dict.fromkeys(reading.links))
        return Parsed(ParsedFeed(title=None, link=None, entries=()), drafts, page=reading)
    headers = {"content-type": response.content_type or ""}
    insights = None
    try:
        if watch_specs is not None:
            context = WatchContext(config.name, config.tags, watch_specs)
            feed, drafts, insights = await loop.run_in_executor(
                pool,
                parse_feed_for_watches,
                response.body,
                headers,
                response.final_url,
                context,
                parser,
            )
        else:
            feed, drafts = await loop.run_in_executor(
                pool, parse_feed_drafts, response.body, headers, response.final_url, parser
            )
    except ParseError as exc:
        return Parsed(None, error=str(exc))
    except Exception as exc:  # feedparser crashing on hostile input, or a dead worker
        return Parsed(None, error=f"{type(exc).__name__}: {exc}")
    return Parsed(feed, drafts, insights=insights)


async def extract_page(pool: Executor, response: FetchResponse) -> tuple[PageText | None, str | None]:
    """An article page's text, extracted in the pool; or why it could not be (None, None: not a 200)."""
    page: PageText | None = None
    error: str | None = None
    if response.status == 200 and response.body is not None:
        loop = asyncio.get_running_loop()
        try:
            page, error = await loop.run_in_executor(
                pool, extract_page_text, response.body, response.final_url
            )
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    return page, error


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
