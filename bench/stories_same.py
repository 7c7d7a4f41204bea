"""Same grouping decisions, to the bit: one hash over every StoryIndex.assign result (story id, matched
article, score) for a fixed sequence of articles, so a change to the index can be checked to decide
exactly as before (compare the printed hash before and after).

Fed, each through its own index: the development days (13-16 Feb) of the labelled real feeds (never the
held-out days), the old hand-written set in tests/data/stories, bench/stories.py's synthetic scale set
(--index articles in stories of 500 members, then --assign new ones), and a synthetic stream the way the
watch step feeds it: batches whose new stories get provisional negative ids, then their real ids (by
`StoryIndex.rekey` when the index has it, else by adding the story's articles again as the watch step
used to), with removals and pruning. The candidates and the stored features are hashed too.

    .venv/bin/python bench/stories_same.py [--index 20000 --assign 2000]

With the defaults it printed `3d43fae7847c2fd8  all` before and after the index was made cheaper and
smaller (rekey, shared entries, one array per entry; 3 Dec 2026).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import random
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from stories import old_set, split, synthetic  # noqa: E402

from monitor.core.stories import StoryAssignment, StoryIndex, same_event_score  # noqa: E402
from monitor.core.story_features import StoryFeatures, features  # noqa: E402
from tests.fixtures.real_feeds import available, week_items  # noqa: E402


class Hasher:
    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.count = 0

    def put(self, *values: object) -> None:
        self.h.update(repr(values).encode())
        self.count += 1

    def assignment(self, a: StoryAssignment) -> None:
        self.put(a.story_id, a.matched_article_id, a.score.hex())

    def digest(self) -> str:
        return self.h.hexdigest()[:16]


def plain(feats: Sequence[StoryFeatures], h: Hasher, check_every: int = 0) -> StoryIndex:
    """assign then add each article; its own id when new (as bench/stories.py's cluster())."""
    index = StoryIndex()
    for i, f in enumerate(feats):
        found = index.assign(f)
        h.assignment(found)
        index.add(f, found.story_id if found.story_id is not None else f.article_id)
        if check_every and i % check_every == 0:
            h.put(index.candidates(f), index.story_of(f.article_id), index.features_of(f.article_id))
    return index


def batched(feats: Sequence[StoryFeatures], h: Hasher, rng: random.Random) -> None:
    """The watch step's way: batches, provisional ids, real ids after; some removals, re-assignments
    of indexed articles, pruning."""
    index = StoryIndex()
    next_id = 10_000_000
    at = 0
    done: list[StoryFeatures] = []
    while at < len(feats):
        batch = feats[at : at + rng.randint(1, 60)]
        at += len(batch)
        placed: dict[int, int] = {}
        new: list[int] = []
        for f in batch:
            found = index.assign(f)
            h.assignment(found)
            story_id = found.story_id
            if story_id is None:
                story_id = -(len(new) + 1)
                new.append(story_id)
            index.add(f, story_id)
            placed[f.article_id] = story_id
        real = {p: next_id + i for i, p in enumerate(new)}
        next_id += len(new)
        rekey = getattr(index, "rekey", None)
        if rekey is not None:
            for provisional, story_id in real.items():
                rekey(provisional, story_id)
        else:
            for f in batch:
                if placed[f.article_id] < 0:
                    index.add(f, real[placed[f.article_id]])
        for f in batch:
            h.put(f.article_id, index.story_of(f.article_id))
        done.extend(batch)
        if rng.random() < 0.2 and done:  # an indexed article assigned again (it skips its own story)
            f = rng.choice(done)
            h.assignment(index.assign(f))
            h.put(index.candidates(f))
        if rng.random() < 0.05 and done:  # a rolled-back article
            f = done.pop(rng.randrange(len(done)))
            h.put(index.remove(f.article_id))
        if rng.random() < 0.1:
            h.put(index.prune(batch[-1].published - timedelta(hours=30)), len(index))
    h.put(len(index))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=20_000)
    parser.add_argument("--assign", type=int, default=2_000)
    args = parser.parse_args()
    parts: dict[str, str] = {}

    if available():
        h = Hasher()
        dev = [features(it.doc) for it in split(week_items())["dev"]]
        plain(dev, h, check_every=1)
        batched(dev, h, random.Random(1))
        for a, b in itertools.pairwise(dev):
            h.put(same_event_score(a, b).hex())
        parts[f"real dev ({len(dev)} items, {h.count} values)"] = h.digest()
    _, docs = old_set()
    h = Hasher()
    old = [features(d) for d in docs]
    plain(old, h, check_every=1)
    batched(old, h, random.Random(2))
    parts[f"old set ({len(old)} items, {h.count} values)"] = h.digest()

    # bench/stories.py's scale set, as scale_section builds it
    rng = random.Random(9)
    vocabulary = [f"w{i}" for i in range(20_000)]
    size, members = args.index, 500
    stories = max(1, size // members)
    start = datetime(2026, 2, 13, tzinfo=UTC)
    span = timedelta(days=3).total_seconds()
    arts = [
        synthetic(rng, i, i % stories, start + timedelta(seconds=span * i / size), vocabulary)
        for i in range(size)
    ]
    index = StoryIndex()
    for f in arts:
        index.add(f, f.article_id % stories)
    end = start + timedelta(days=3)
    new = [
        synthetic(
            rng, size + i, rng.randrange(stories + args.assign // 10), end + timedelta(seconds=i), vocabulary
        )
        for i in range(args.assign)
    ]
    h = Hasher()
    for f in new:
        found = index.assign(f)
        h.assignment(found)
        index.add(f, found.story_id if found.story_id is not None else 1_000_000 + f.article_id)
    parts[f"scale set ({size} + {args.assign}, {h.count} values)"] = h.digest()

    # small stories (most real ones), fed in batches with provisional ids
    rng = random.Random(5)
    small = [
        synthetic(rng, i, rng.randrange(args.assign), start + timedelta(seconds=20 * i), vocabulary)
        for i in range(args.assign * 3)
    ]
    h = Hasher()
    batched(small, h, random.Random(3))
    plain(small[: args.assign], h, check_every=7)
    parts[f"small stories, batched ({len(small)}, {h.count} values)"] = h.digest()

    for name, digest in parts.items():
        print(f"{digest}  {name}")
    total = hashlib.sha256("".join(parts.values()).encode()).hexdigest()[:16]
    print(f"{total}  all")


if __name__ == "__main__":
    main()
