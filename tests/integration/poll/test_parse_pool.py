"""`monitor poll` parses on every core, as `monitor run` does, but starts no more workers than sources."""

from __future__ import annotations

import importlib
import os
from concurrent.futures import ProcessPoolExecutor

from monitor.core.feeds import parse_feed_drafts
from monitor.parse_pool import _WORKER_PRELOAD, _parse_context, _parse_worker_init, pool_size
from tests.fixtures.feeds import mt_news_feed


def test_pool_is_sized_to_the_cores_and_the_sources() -> None:
    cores = os.cpu_count() or 1
    assert pool_size(1000) == cores
    assert pool_size(1) == 1
    assert pool_size(0) == 1


def test_workers_fork_from_a_server_that_preloaded_the_parsers() -> None:
    # The fork server skips a preload module it cannot import: a renamed one must fail here instead.
    for name in _WORKER_PRELOAD[1:]:
        importlib.import_module(name)
    pool = ProcessPoolExecutor(
        max_workers=2, mp_context=_parse_context(), initializer=_parse_worker_init, initargs=(os.getpid(),)
    )
    try:
        feed, drafts = pool.submit(parse_feed_drafts, mt_news_feed(), {}, "https://mt.example/rss").result(
            timeout=120
        )
        assert feed.title and len(drafts) == len(
            parse_feed_drafts(mt_news_feed(), {}, "https://mt.example/rss")[1]
        )
        assert pool.submit(os.getpid).result(timeout=60) != os.getpid()
    finally:
        pool.shutdown()
