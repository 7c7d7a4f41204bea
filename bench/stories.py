"""Same-event grouping: pair precision and recall on labelled real feeds, alerts lost, speed and memory.

1. real feeds: the week of twelve outlets labelled in tests/data/real_stories, development days (13-16 Feb,
   where the thresholds were chosen) and held-out days (17-18 Feb) each fed through one StoryIndex in
   published order; a pair is grouped when both articles got the same story. Pair counts are printed.
2. regression: the same figures on the old hand-written set in tests/data/stories.
3. alerts: watches iran, `ukraine OR russia`, trump, `gaza OR israel` (the project's matcher) over each
   part. An article matching a watch alerts unless its story was flagged for that watch already AND it
   scores at least CONFIDENT_SAME_EVENT against the article that flagged it (when in doubt, alert).
   Printed: matched events (labelled events, every unlabelled item its own) and those without an alert,
   with that rule and with the old one (a flagged story never alerts again).
4. scale: an index of --index articles over three days in stories of --members members (synthetic
   features with a realistic term count), then --assign new articles: assign() + add() per second on one
   core, and bytes per indexed article (tracemalloc, the index alone).

    .venv/bin/python bench/stories.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.core.match import MatchDoc, WatchSpec, compile_watches  # noqa: E402
from monitor.core.stories import CONFIDENT_SAME_EVENT, StoryIndex, same_event_score  # noqa: E402
from monitor.core.story_features import StoryDoc, StoryFeatures, features  # noqa: E402
from tests.fixtures.real_feeds import RealItem, available, labels, week_items  # noqa: E402

WATCHES = {
    "iran": "iran",
    "ukraine-russia": "ukraine OR russia",
    "trump": "trump",
    "gaza-israel": "gaza OR israel",
}


def split(items: Sequence[RealItem]) -> dict[str, list[RealItem]]:
    """Development days 13-16 Feb, held-out days 17-18 Feb (tests/data/real_stories/README.md)."""
    dev = [it for it in items if it.doc.published.day <= 16]
    return {"dev": dev, "held-out": [it for it in items if it.doc.published.day > 16]}


def cluster(docs: Sequence[StoryDoc]) -> tuple[dict[int, int], dict[int, StoryFeatures]]:
    index = StoryIndex()
    story: dict[int, int] = {}
    feats: dict[int, StoryFeatures] = {}
    for doc in docs:
        f = feats[doc.article_id] = features(doc)
        found = index.assign(f)
        story[doc.article_id] = found.story_id if found.story_id is not None else doc.article_id
        index.add(f, story[doc.article_id])
    return story, feats


def pair_counts(story: dict[int, int], event: dict[int, str]) -> tuple[int, int, int]:
    """Pairs grouped and of one event, grouped but not, of one event but not grouped (tp, fp, fn)."""
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(event), 2):
        grouped, same = story[a] == story[b], event[a] == event[b]
        tp += grouped and same
        fp += grouped and not same
        fn += same and not grouped
    return tp, fp, fn


def pair_figures(story: dict[int, int], event: dict[int, str]) -> str:
    tp, fp, fn = pair_counts(story, event)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return (
        f"pairs: {tp + fn} same-event, {tp + fp} grouped, {tp} both (false {fp}, missed {fn}); "
        f"precision {precision:.3f} recall {recall:.3f}"
    )


def alert_figures(items: Sequence[RealItem], story: dict[int, int], feats: dict[int, StoryFeatures]) -> str:
    matcher = compile_watches(WatchSpec(name, query) for name, query in WATCHES.items())
    label = labels()
    lines = []
    total = {"doubt": 0, "once": 0, "events": 0}
    for watch in WATCHES:
        flagger: dict[int, int] = {}  # story -> the article that flagged it for this watch
        flagged_once: set[int] = set()
        matched: set[str] = set()
        alerted: set[str] = set()
        alerted_once: set[str] = set()
        for it in items:
            doc = it.doc
            hits = matcher.match(MatchDoc(doc.title, doc.body, doc.source))
            if not any(h.watch == watch for h in hits):
                continue
            event = label.get(it.key, it.key)
            matched.add(event)
            sid = story[doc.article_id]
            first = flagger.get(sid)
            if first is None or same_event_score(feats[doc.article_id], feats[first]) < CONFIDENT_SAME_EVENT:
                alerted.add(event)
                flagger.setdefault(sid, doc.article_id)
            if sid not in flagged_once:
                flagged_once.add(sid)
                alerted_once.add(event)
        lost, lost_once = len(matched - alerted), len(matched - alerted_once)
        total["doubt"] += lost
        total["once"] += lost_once
        total["events"] += len(matched)
        lines.append(
            f"    {watch:15} {len(matched):3} matched events, {lost} without an alert (old rule: {lost_once})"
        )
    lines.append(
        f"    {'all':15} {total['events']:3} matched events, {total['doubt']} without an alert "
        f"(old rule: {total['once']})"
    )
    return "\n".join(lines)


def real_section() -> None:
    if not available():
        print("real feeds: ../shared/corpora/real-feeds is absent, skipped")
        return
    items = week_items()
    label = labels()
    for part, chosen in split(items).items():
        docs = [it.doc for it in chosen]
        event = {it.doc.article_id: label.get(it.key, it.key) for it in chosen}
        story, feats = cluster(docs)
        print(f"real feeds, {part} ({len(docs)} items): {pair_figures(story, event)}")
        print(alert_figures(chosen, story, feats))


def old_set() -> tuple[list[dict[str, Any]], list[StoryDoc]]:
    """The old hand-written set (tests/data/stories): its rows, and their documents in time order."""
    rows = [
        json.loads(line)
        for line in (ROOT / "tests" / "data" / "stories" / "articles.jsonl").read_text("utf-8").splitlines()
    ]
    docs = sorted(
        (
            StoryDoc(r["id"], r["source"], r["title"], r["body"], datetime.fromisoformat(r["published"]))
            for r in rows
        ),
        key=lambda d: (d.published, d.article_id),
    )
    return rows, docs


def regression_section() -> None:
    rows, docs = old_set()
    story, _ = cluster(docs)
    print(
        f"old set tests/data/stories ({len(docs)} items): {pair_figures(story, {r['id']: r['event_id'] for r in rows})}"
    )


def synthetic(
    rng: random.Random, article_id: int, story: int, published: datetime, vocabulary: Sequence[str]
) -> StoryFeatures:
    """An article of synthetic story `story`: 6 story words in its title and names, 40 words of the
    common vocabulary, as real features carry (about 50 terms); 16 to 21 opening (`what`) words, 4 of
    them the story's, 12 common ones, and as in the real feeds (0.7 an article) often one rare enough to
    look candidates up (WHAT_KEY_RARITY): the story's, or one of 100,000 rare words."""
    own = [f"s{story}w{i}" for i in range(12)]
    title_words = rng.sample(own, 6)
    names = rng.sample(own, 4)
    body = rng.sample(vocabulary, 40)
    terms = {t: round(rng.uniform(1.0, 6.0), 2) for t in body}
    terms.update({t: round(rng.uniform(4.0, 9.0), 2) for t in title_words + names})
    what = {t: round(rng.uniform(1.0, 3.9), 2) for t in body[:12]}
    what.update({t: 3.0 for t in rng.sample([w for w in own if w not in names], 4)})
    if rng.random() < 0.7:
        rare = f"s{story}r" if rng.random() < 0.5 else f"r{rng.randrange(100_000)}"
        what[rare] = 4.5
    return StoryFeatures(
        article_id,
        "outlet" + str(article_id % 50),
        published,
        tuple(sorted(terms.items())),
        tuple(sorted((t, 4.0) for t in title_words)),
        tuple(sorted((t, 4.0) for t in names)),
        tuple(sorted(what.items())),
    )


def scale_section(size: int, members: int, assign: int) -> None:
    rng = random.Random(9)
    vocabulary = [f"w{i}" for i in range(20_000)]
    stories = max(1, size // members)
    start = datetime(2026, 2, 13, tzinfo=UTC)
    span = timedelta(days=3).total_seconds()
    arts = [
        synthetic(rng, i, i % stories, start + timedelta(seconds=span * i / size), vocabulary)
        for i in range(size)
    ]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = StoryIndex()
    for f in arts:
        index.add(f, f.article_id % stories)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    end = start + timedelta(days=3)
    new = [
        synthetic(
            rng, size + i, rng.randrange(stories + assign // 10), end + timedelta(seconds=i), vocabulary
        )
        for i in range(assign)
    ]
    t0, c0 = time.perf_counter(), time.process_time()
    joined = 0
    for f in new:
        found = index.assign(f)
        joined += found.story_id is not None
        index.add(f, found.story_id if found.story_id is not None else 1_000_000 + f.article_id)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"scale: index of {size:,} articles over 3 days in {stories} stories of {members} members; "
        f"{assign:,} new articles (assign + add): {assign / cpu:,.0f} articles per CPU second "
        f"({assign / elapsed:,.0f}/s wall on a shared machine), {joined:,} joined a story; "
        f"{used / size:,.0f} bytes per indexed article (the index; the caller's features not counted)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=100_000, help="articles in the index for the scale run")
    parser.add_argument("--members", type=int, default=500, help="members per story in the scale run")
    parser.add_argument("--assign", type=int, default=5_000, help="articles assigned in the scale run")
    args = parser.parse_args()
    real_section()
    regression_section()
    scale_section(args.index, args.members, args.assign)


if __name__ == "__main__":
    main()
