"""A parse worker's CPU per draft, by part, and a hash of everything it outputs (the outputs must not change).

Inputs, fixed: bench/poll.py's synthetic feeds (build_feeds(300)) with its 100 watches, and the real news
feeds of ../shared/corpora/real-feeds with the same watches plus a few that real news does match (stemmed,
phrases, prefixes, accented and Cyrillic words: hits, terms and snippets get exercised). Each feed goes
through what a parse worker runs (core.watchprep.parse_feed_for_watches, with a WatchContext as
parse_pool.py builds it); the hash covers the feed, the drafts, every insight (features, their JSON, hits
with terms, snippets and highlights).

Then CPU per draft (time.process_time, best of --repeat, caches warm as in a worker) of each part:
parse_feed, entry_drafts, content_fingerprint, match, features, to_json, and draft_insights whole.

    .venv/bin/python bench/workers.py [--repeat 5] [--feeds 300] [--hash-only] [--loop SECONDS]

--loop runs parse_feed_for_watches over every input for that many seconds (for py-spy record).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.poll import bench_watches, build_feeds  # noqa: E402
from monitor.core.feeds import entry_drafts, parse_feed  # noqa: E402
from monitor.core.match import MatchDoc, WatchSpec  # noqa: E402
from monitor.core.story_features import StoryDoc, features  # noqa: E402
from monitor.core.versions import content_fingerprint  # noqa: E402
from monitor.core.watchprep import WatchContext, _matcher, draft_insights, parse_feed_for_watches  # noqa: E402
from monitor.models import ArticleDraft, version_body  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "real-feeds"
HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}
# Watches real news matches, beside the bench's (which it does not): hits, terms and snippets to hash.
REAL_WATCHES = (
    WatchSpec("trump", "trump"),
    WatchSpec("ukraine-talks", 'ukraine AND (talks OR "peace deal")', stem="en"),
    WatchSpec("elect", "elect*"),
    WatchSpec("minister-near", "prime NEAR/5 minister"),
    WatchSpec("gaza-not-israel", "gaza NOT israel"),
    WatchSpec("sanchez", "sánchez OR müller OR café"),
    WatchSpec("ru", "россия OR путин OR украина", stem="ru"),
    WatchSpec("title-climate", "title:climate OR title:ai"),
    WatchSpec("market", '"stock market" OR tariffs', stem="en"),
)


def inputs(n_bench: int) -> list[tuple[str, bytes, WatchContext]]:
    """(base URL, body, context) of every feed, bench feeds first, then the real ones in name order."""
    bench_specs = tuple(WatchSpec(f"w{i}", q) for i, q in enumerate(bench_watches(100)))
    out = []
    for i, (path, body) in enumerate(build_feeds(n_bench).items()):
        out.append(("http://127.0.0.1:8000" + path, body, WatchContext(f"feed-{i}", (), bench_specs)))
    real_specs = bench_specs + REAL_WATCHES
    for i, file in enumerate(sorted(CORPUS.glob("*.xml.gz"))):
        tags = ("news", "World") if i % 3 == 0 else ()
        context = WatchContext(f"real-{file.name[:16]}", tags, real_specs)
        out.append(
            (f"http://127.0.0.1:8000/feeds/{file.name[:-7]}.xml", gzip.decompress(file.read_bytes()), context)
        )
    return out


def output_hash(feeds: list[tuple[str, bytes, WatchContext]]) -> tuple[str, dict[str, int]]:
    digest = hashlib.sha256()
    stats = {"feeds": 0, "failed": 0, "drafts": 0, "features": 0, "hits": 0}
    for url, body, context in feeds:
        stats["feeds"] += 1
        try:
            feed, drafts, insights = parse_feed_for_watches(body, HEADERS, url, context)
        except Exception as exc:  # a feed the parser refuses: its error is part of the output
            stats["failed"] += 1
            digest.update(f"ERR {url} {type(exc).__name__}: {exc}\n".encode())
            continue
        digest.update(repr(feed).encode())
        for draft in drafts:
            stats["drafts"] += 1
            digest.update(repr(draft).encode())
            insight = insights[draft.key]
            stats["features"] += insight.features is not None
            stats["hits"] += len(insight.hits)
            digest.update(repr(insight.features).encode())
            digest.update(repr(insight.hits).encode())
            digest.update(repr(insight.encoded).encode())
        digest.update(repr(sorted(insights)).encode())
    return digest.hexdigest(), stats


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def measure(feeds: list[tuple[str, bytes, WatchContext]], repeat: int, only: str = "") -> None:
    parsed = []
    for url, body, context in feeds:
        try:
            parsed.append((url, body, context, parse_feed(body, HEADERS, url)))
        except Exception:
            continue
    per_feed: list[tuple[WatchContext, tuple[ArticleDraft, ...]]] = []
    for _, _, context, feed in parsed:
        per_feed.append((context, entry_drafts(feed)))
    drafts = [(c, d) for c, ds in per_feed for d in ds]
    n = len(drafts)
    docs = []
    for context, d in drafts:
        body = version_body(d.summary, d.body)
        tags = tuple(dict.fromkeys([*d.tags, *context.source_tags]))
        docs.append((_matcher(context.watches), MatchDoc(d.title, body, context.source, tags)))
    story_docs = [
        StoryDoc(0, c.source, d.title, version_body(d.summary, d.body), d.published)
        for c, d in drafts
        if d.published is not None
    ]
    feats = [features(s) for s in story_docs]
    fingerprints = [(d.title, f"{d.summary}\n\n{d.body}" if d.body else d.summary) for _, d in drafts]

    def run_parse() -> None:
        for url, body, _, _ in parsed:
            parse_feed(body, HEADERS, url)

    def run_drafts() -> None:
        for _, _, _, feed in parsed:
            entry_drafts(feed)

    def run_fingerprint() -> None:
        for title, text in fingerprints:
            content_fingerprint(title, text)

    def run_match() -> None:
        for matcher, doc in docs:
            matcher.match(doc)

    def run_features() -> None:
        for s in story_docs:
            features(s)

    def run_json() -> None:
        for f in feats:
            f.to_json()

    def run_insights() -> None:
        for context, ds in per_feed:
            draft_insights(ds, context)

    for run in (run_match, run_features, run_json):  # warm the caches a worker has warm
        run()
    print(f"{n} drafts ({len(story_docs)} with features); µs CPU per draft, best of {repeat}:")
    parts = [
        ("parse_feed", run_parse),
        ("entry_drafts", run_drafts),
        ("  content_fingerprint", run_fingerprint),
        ("match", run_match),
        ("features", run_features),
        ("to_json", run_json),
        ("draft_insights", run_insights),
    ]
    for name, run in parts:
        if only and name.strip() not in only.split(","):
            continue
        print(f"  {name:24s} {best(repeat, run) / n * 1e6:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--hash-only", action="store_true")
    parser.add_argument("--real-only", action="store_true")
    parser.add_argument("--bench-only", action="store_true")
    parser.add_argument("--loop", type=float, default=0.0)
    parser.add_argument("--parts", default="", help="comma-separated parts to time (default: all)")
    args = parser.parse_args()
    feeds = inputs(args.feeds)
    groups = [("bench feeds", feeds[: args.feeds]), ("real feeds", feeds[args.feeds :])]
    if args.real_only:
        groups = groups[1:]
    elif args.bench_only:
        groups = groups[:1]
    feeds = [feed for _, group in groups for feed in group]
    if args.loop:
        end = time.monotonic() + args.loop
        while time.monotonic() < end:
            output_hash(feeds)
        return
    digest, stats = output_hash(feeds)
    print("hash", digest, stats)
    if args.hash_only:
        return
    for label, group in groups:
        print(f"-- {label}")
        measure(group, args.repeat, args.parts)


if __name__ == "__main__":
    main()
