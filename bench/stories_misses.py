"""Same-event grouping on the development days only: the missed same-event pairs and the closest false
ones, with titles, openings, score against STORY_THRESHOLD and what the two articles share. For tuning
(tests/data/real_stories/README.md: tune on 13-16 Feb only; this never reads the held-out days).

    .venv/bin/python bench/stories_misses.py [--false N]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stories import cluster, pair_figures, split  # noqa: E402
from monitor.core.stories import STORY_THRESHOLD, same_event_score, time_factor  # noqa: E402
from monitor.core.story_features import StoryDoc, StoryFeatures  # noqa: E402
from tests.fixtures.real_feeds import labels, week_items  # noqa: E402


def show(tag: str, a: StoryDoc, b: StoryDoc, fa: StoryFeatures, fb: StoryFeatures) -> None:
    score = same_event_score(fa, fb)
    same_outlet = " same outlet" if a.source == b.source else ""
    print(
        f"--- {tag}: score {score:.3f} (threshold {STORY_THRESHOLD}), time factor "
        f"{time_factor(a.published, b.published):.2f}{same_outlet}"
    )
    for doc in (a, b):
        print(f"  [{doc.source} {doc.published:%d %H:%M}] {doc.title}\n      {doc.body[:240]!r}")
    ta, tb = dict(fa.terms), dict(fb.terms)
    shared = sorted(ta.keys() & tb.keys(), key=lambda t: -ta[t] - tb[t])[:12]
    print("  shared terms:", ", ".join(f"{t} {ta[t]:.1f}/{tb[t]:.1f}" for t in shared))
    wa, wb = dict(fa.what), dict(fb.what)
    said = sum(wa[t] for t in wa.keys() & wb.keys())
    print(
        f"  shared `what` words: {sorted(wa.keys() & wb.keys())} mass {said:.1f} of "
        f"{sum(wa.values()):.1f} / {sum(wb.values()):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--false", type=int, default=8, help="closest different-event pairs to show")
    args = parser.parse_args()
    items = split(week_items())["dev"]
    label = labels()
    docs = {it.doc.article_id: it.doc for it in items}
    event = {it.doc.article_id: label.get(it.key, it.key) for it in items}
    story, feats = cluster(list(docs.values()))
    print(f"dev: {pair_figures(story, event)}")
    near: list[tuple[float, int, int]] = []
    for a, b in itertools.combinations(sorted(event), 2):
        if event[a] == event[b] and story[a] != story[b]:
            show("missed", docs[a], docs[b], feats[a], feats[b])
        elif event[a] != event[b]:
            near.append((same_event_score(feats[a], feats[b]), a, b))
    for _, a, b in sorted(near, reverse=True)[: args.false]:
        tag = "FALSE, grouped" if story[a] == story[b] else "different events"
        show(tag, docs[a], docs[b], feats[a], feats[b])


if __name__ == "__main__":
    main()
