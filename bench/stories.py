"""Same-story grouping: precision and recall on the labelled set, and assign() throughput.

1. pairs: same_story(a, b, stats) >= STORY_THRESHOLD on tests/data/stories/pairs.jsonl, with the
   document frequencies of the whole set; a threshold sweep; and leave-one-topic-out figures (each
   topic's pairs judged with the threshold that does best on the other topics), an estimate of how the
   threshold choice carries to events it was not chosen on.
2. clusters: every labelled article fed through StoryIndex in published order (assign, then add); a pair
   counts as grouped when both articles got the same story id. Scored over all article pairs.
3. noisy stream: the labelled articles at their own times inside a stream of synthetic articles (~20,000
   in all), index pruned to 3 days: the same cluster figures, how many synthetic articles joined a
   labelled story, candidate recall, and articles/s.
4. dense stream: 20,000 synthetic articles over 10 days (an index of ~6,000 articles): articles/s for
   features() and for assign() + add().
5. candidate generators on the labelled set: MinHash LSH (datasketch) over term sets against the
   index's key-term lookup: share of same-event pairs each finds.

    .venv/bin/python bench/stories.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasketch import MinHash, MinHashLSH  # noqa: E402

from monitor.core.stories import (  # noqa: E402
    STORY_THRESHOLD,
    StoryDoc,
    StoryFeatures,
    StoryIndex,
    TermStats,
    features,
    same_story,
)

DATA = ROOT / "tests" / "data" / "stories"
INDEX_SPAN = timedelta(days=3)


@dataclass(frozen=True)
class Labelled:
    doc: StoryDoc
    event: str
    topic: str


@dataclass(frozen=True)
class Pair:
    a: int
    b: int
    same: bool
    kind: str


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        self.tp += predicted and actual
        self.fp += predicted and not actual
        self.fn += actual and not predicted

    def __str__(self) -> str:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return f"precision {p:.3f}  recall {r:.3f}  F1 {f1:.3f}  (tp {self.tp}, fp {self.fp}, fn {self.fn})"


def load() -> tuple[list[Labelled], list[Pair]]:
    articles = []
    for line in (DATA / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        doc = StoryDoc(
            row["id"], row["source"], row["title"], row["body"], datetime.fromisoformat(row["published"])
        )
        articles.append(Labelled(doc, row["event_id"], row["topic"]))
    pairs = [
        Pair(row["a"], row["b"], row["same"], row["kind"])
        for row in map(json.loads, (DATA / "pairs.jsonl").read_text(encoding="utf-8").splitlines())
    ]
    return articles, pairs


def cluster(docs: Iterable[StoryFeatures], index: StoryIndex | None = None) -> dict[int, int]:
    """Story id of each article, fed in published order through one StoryIndex."""
    index = index or StoryIndex()
    stories: dict[int, int] = {}
    for f in sorted(docs, key=lambda f: (f.published, f.article_id)):
        assignment = index.assign(f)
        story_id = assignment.story_id if assignment.story_id is not None else f.article_id
        index.add(f, story_id)
        stories[f.article_id] = story_id
    return stories


def cluster_counts(stories: dict[int, int], events: dict[int, str]) -> Counts:
    counts = Counts()
    for a, b in itertools.combinations(sorted(events), 2):
        counts.add(stories[a] == stories[b], events[a] == events[b])
    return counts


def pair_counts(scores: Sequence[tuple[float, Pair]], threshold: float) -> Counts:
    counts = Counts()
    for score, pair in scores:
        counts.add(score >= threshold, pair.same)
    return counts


def best_threshold(scores: Sequence[tuple[float, Pair]]) -> float:
    """The threshold with the best recall at precision >= 0.95 (best F1 if none reaches it)."""
    candidates = sorted({s for s, _ in scores if s > 0})

    def key(t: float) -> tuple[bool, float, float]:
        c = pair_counts(scores, t)
        p = c.tp / (c.tp + c.fp) if c.tp + c.fp else 1.0
        r = c.tp / (c.tp + c.fn) if c.tp + c.fn else 1.0
        return (p >= 0.95, r if p >= 0.95 else 2 * p * r / (p + r or 1), t)

    return max(candidates, key=key)


def pairs_section(articles: list[Labelled], pairs: list[Pair]) -> None:
    feats = {a.doc.article_id: features(a.doc) for a in articles}
    stats = TermStats.of(feats.values())
    scores = [(same_story(feats[p.a], feats[p.b], stats), p) for p in pairs]
    print(
        f"labelled set: {len(articles)} articles, {len({a.event for a in articles})} events, "
        f"{len({a.doc.source for a in articles})} outlets; {len(pairs)} pairs "
        f"({dict(Counter(p.kind for p in pairs))})"
    )
    print(f"\n1. pairs, same_story >= {STORY_THRESHOLD}:  {pair_counts(scores, STORY_THRESHOLD)}")
    for kind in ("same_event", "hard_negative", "random_negative"):
        subset = [(s, p) for s, p in scores if p.kind == kind]
        joined = sum(s >= STORY_THRESHOLD for s, _ in subset)
        print(f"   {kind:16s} judged same: {joined}/{len(subset)}")
    print("   threshold sweep:")
    for t in (0.14, 0.16, 0.18, 0.20, STORY_THRESHOLD, 0.22, 0.24, 0.26, 0.28, 0.30):
        print(f"     {t:.2f}  {pair_counts(scores, t)}")
    topic = {a.doc.article_id: a.topic for a in articles}
    held_out = Counts()
    for name in sorted(set(topic.values())):
        train = [(s, p) for s, p in scores if topic[p.a] != name]
        test = [(s, p) for s, p in scores if topic[p.a] == name]
        t = best_threshold(train)
        c = pair_counts(test, t)
        held_out.tp, held_out.fp, held_out.fn = held_out.tp + c.tp, held_out.fp + c.fp, held_out.fn + c.fn
        print(f"   leave out {name:16s} threshold {t:.3f}:  {c}")
    print(f"   leave-one-topic-out total:        {held_out}")

    events = {a.doc.article_id: a.event for a in articles}
    stories = cluster(feats.values())
    print(f"\n2. clusters (StoryIndex, published order): {cluster_counts(stories, events)}")
    print(f"   {len(set(stories.values()))} stories for {len(set(events.values()))} events")
    in_pairs = Counts()
    for p in pairs:
        in_pairs.add(stories[p.a] == stories[p.b], p.same)
    print(f"   over the labelled pairs only:     {in_pairs}")


class Synthetic:
    """Synthetic articles: corpus words in corpus proportions, plus each event's own names and numbers."""

    def __init__(self, corpus: Iterable[str], seed: int) -> None:
        self.rng = random.Random(seed)
        words = Counter(w for text in corpus for w in text.split() if w.isalpha())
        self.words = list(words)
        self.cumulative = list(itertools.accumulate(words.values()))
        syllables = [
            "ka",
            "ro",
            "vel",
            "mir",
            "tan",
            "os",
            "bru",
            "zen",
            "li",
            "dor",
            "sha",
            "quin",
            "ar",
            "pe",
        ]
        self.syllables = syllables
        self.next_id = 1_000_000

    def name(self) -> str:
        return "".join(self.rng.choice(self.syllables) for _ in range(self.rng.randint(2, 4))).capitalize()

    def sample(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=k)

    def event(self, start: datetime, sources: Sequence[str]) -> list[tuple[StoryDoc, str]]:
        """1-4 reports of one synthetic event within 12 hours, from different outlets."""
        rng = self.rng
        event = f"synthetic-{self.next_id}"
        names = [self.name() for _ in range(rng.randint(3, 6))]
        numbers = [f"{rng.randint(2, 900) * 10:,}" for _ in range(rng.randint(1, 3))]
        topical = self.sample(40)
        reports = []
        for source in rng.sample(list(sources), rng.randint(1, 4)):
            words: list[str] = []
            for _ in range(rng.randint(150, 450)):
                roll = rng.random()
                if roll < 0.6:
                    words.extend(self.sample(1))
                elif roll < 0.85:
                    words.append(rng.choice(topical))
                elif roll < 0.95:
                    words.append(rng.choice(names))
                else:
                    words.append(rng.choice(numbers))
            sentences = [" ".join(words[i : i + 20]).capitalize() + "." for i in range(0, len(words), 20)]
            body = "\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))
            title = " ".join([*rng.sample(names, 2), *rng.sample(topical, 5)]).capitalize()
            published = start + timedelta(minutes=rng.randint(0, 720))
            self.next_id += 1
            reports.append((StoryDoc(self.next_id, source, title, body, published), event))
        return reports

    def stream(self, n: int, start: datetime, span: timedelta) -> list[tuple[StoryDoc, str]]:
        sources = [f"Outlet {i}" for i in range(40)]
        out: list[tuple[StoryDoc, str]] = []
        while len(out) < n:
            out.extend(self.event(start + span * self.rng.random(), sources))
        return out[:n]


def run_stream(
    docs: Sequence[StoryFeatures], on_assign: Callable[[StoryIndex, StoryFeatures], None] | None = None
) -> tuple[dict[int, int], float]:
    """Feed in published order with a 3-day index; returns story ids and the seconds spent in assign+add."""
    index = StoryIndex()
    stories: dict[int, int] = {}
    spent = 0.0
    last_prune: datetime | None = None
    for f in sorted(docs, key=lambda f: (f.published, f.article_id)):
        if on_assign is not None:
            on_assign(index, f)
        t0 = time.perf_counter()
        if last_prune is None or f.published - last_prune > timedelta(hours=1):
            index.prune(f.published - INDEX_SPAN)
            last_prune = f.published
        assignment = index.assign(f)
        story_id = assignment.story_id if assignment.story_id is not None else f.article_id
        index.add(f, story_id)
        spent += time.perf_counter() - t0
        stories[f.article_id] = story_id
    return stories, spent


def noisy_section(articles: list[Labelled], total: int) -> None:
    synthetic = Synthetic((a.doc.title + " " + a.doc.body for a in articles), seed=7)
    first = min(a.doc.published for a in articles) - timedelta(days=1)
    span = max(a.doc.published for a in articles) - first + timedelta(days=1)
    filler = synthetic.stream(total - len(articles), first, span)
    feats = [features(a.doc) for a in articles] + [features(d) for d, _ in filler]
    events = {a.doc.article_id: a.event for a in articles}
    earlier: dict[str, list[int]] = defaultdict(list)
    found = missed = 0

    def check_candidates(index: StoryIndex, f: StoryFeatures) -> None:
        nonlocal found, missed
        event = events.get(f.article_id)
        if event is None:
            return
        candidates = set(index.candidates(f))
        for other in earlier[event]:
            if other in index:
                found += other in candidates
                missed += other not in candidates
        earlier[event].append(f.article_id)

    stories, spent = run_stream(feats, check_candidates)
    labelled_stories = {stories[i] for i in events}
    intruders = sum(1 for d, _ in filler if stories[d.article_id] in labelled_stories)
    print(
        f"\n3. noisy stream: {len(articles)} labelled + {len(filler)} synthetic articles over "
        f"{span.days} days, index of {INDEX_SPAN.days} days"
    )
    print(f"   labelled clusters:                {cluster_counts(stories, events)}")
    print(f"   synthetic articles in a labelled story: {intruders}")
    print(f"   candidate recall (earlier same-event article among candidates): {found}/{found + missed}")
    synthetic_events = {d.article_id: e for d, e in filler[:3000]}
    print(f"   synthetic events (first 3,000):   {cluster_counts(stories, synthetic_events)}")
    print(f"   assign+add: {len(feats) / spent:,.0f} articles/s")


def dense_section(articles: list[Labelled], total: int) -> None:
    synthetic = Synthetic((a.doc.title + " " + a.doc.body for a in articles), seed=11)
    start = datetime.fromisoformat("2024-11-01T00:00:00+00:00")
    docs = [d for d, _ in synthetic.stream(total, start, timedelta(days=10))]
    t0 = time.perf_counter()
    feats = [features(d) for d in docs]
    featurise = time.perf_counter() - t0
    index_size: list[int] = []

    def measure(index: StoryIndex, f: StoryFeatures) -> None:
        if f.article_id % 1000 == 0:
            index_size.append(len(index))

    _, spent = run_stream(feats, measure)
    print(
        f"\n4. dense stream: {total:,} synthetic articles over 10 days, index of {INDEX_SPAN.days} days "
        f"(~{max(index_size):,} articles indexed)"
    )
    print(f"   features():  {total / featurise:,.0f} articles/s")
    print(f"   assign+add:  {total / spent:,.0f} articles/s")


def lsh_section(articles: list[Labelled], pairs: list[Pair]) -> None:
    feats = {a.doc.article_id: features(a.doc) for a in articles}
    sets = {i: {t for t, _ in f.terms} for i, f in feats.items()}
    same = [p for p in pairs if p.same]
    print("\n5. candidate generators on the labelled set (same-event pairs found / candidate pairs in all):")
    for threshold in (0.1, 0.2, 0.3):
        lsh = MinHashLSH(threshold=threshold, num_perm=128)
        hashes = {}
        for i, terms in sets.items():
            m = MinHash(num_perm=128, seed=1)
            m.update_batch([t.encode() for t in sorted(terms)])
            hashes[i] = m
            lsh.insert(str(i), m)
        candidate_pairs = {
            tuple(sorted((i, int(j)))) for i, m in hashes.items() for j in lsh.query(m) if int(j) != i
        }
        found = sum((p.a, p.b) in candidate_pairs for p in same)
        print(
            f"   MinHash LSH, Jaccard threshold {threshold}: {found}/{len(same)}, {len(candidate_pairs)} pairs"
        )
    index = StoryIndex()
    candidate_pairs = set()
    for f in sorted(feats.values(), key=lambda f: (f.published, f.article_id)):
        candidate_pairs |= {tuple(sorted((f.article_id, c))) for c in index.candidates(f)}
        index.add(f, f.article_id)
    found = sum((p.a, p.b) in candidate_pairs for p in same)
    print(f"   StoryIndex key terms:             {found}/{len(same)}, {len(candidate_pairs)} pairs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000, help="size of the synthetic streams")
    args = parser.parse_args()
    articles, pairs = load()
    pairs_section(articles, pairs)
    noisy_section(articles, args.articles)
    dense_section(articles, args.articles)
    lsh_section(articles, pairs)


if __name__ == "__main__":
    main()
