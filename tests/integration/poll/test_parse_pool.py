"""`monitor poll` parses on every core, as `monitor run` does, but starts no more workers than sources."""

from __future__ import annotations

import gc
import importlib
import os
from concurrent.futures import ProcessPoolExecutor

from monitor.core.feeds import parse_feed_drafts
from monitor.core.match import WatchSpec
from monitor.core.watchprep import WatchContext, parse_feed_for_watches
from monitor.parse_pool import _WORKER_PRELOAD, _parse_context, _parse_worker_init, pool_size
from monitor.runtime import POLLING_GC_THRESHOLDS, collect_garbage_less
from tests.fixtures.feeds import labelled_items, mt_item, mt_news_feed, mt_rss


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


def test_workers_match_the_watches_of_each_call_across_a_reload() -> None:
    # The watches cross once per set and worker (by digest): a reloaded set must still reach every worker.
    body = mt_rss([mt_item(), *labelled_items(3)])
    url = "https://www.themoscowtimes.com/rss/news"
    before = (WatchSpec("nk", '"North Korea" AND troop*'), WatchSpec("none", "Zanzibar"))
    after = (WatchSpec("korea", "Korea"), WatchSpec("none", "Zanzibar"))
    pool = ProcessPoolExecutor(
        max_workers=2, mp_context=_parse_context(), initializer=_parse_worker_init, initargs=(os.getpid(),)
    )
    try:
        for watches in (before, after, before):
            context = WatchContext("moscow-times", ("russia",), watches)
            expected = parse_feed_for_watches(body, {}, url, context)
            results = [pool.submit(parse_feed_for_watches, body, {}, url, context) for _ in range(6)]
            for done in results:
                assert done.result(timeout=120) == expected
            assert {h.watch for i in expected[2].values() for h in i.hits} == {watches[0].name}
    finally:
        pool.shutdown()


def test_a_polling_process_collects_garbage_less_often_never_more() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # CPython's default
        collect_garbage_less()
        assert gc.get_threshold() == POLLING_GC_THRESHOLDS and gc.isenabled()
        gc.set_threshold(100_000, 5, 50)
        collect_garbage_less()
        assert gc.get_threshold() == (100_000, POLLING_GC_THRESHOLDS[1], 50)
    finally:
        gc.set_threshold(*saved)
