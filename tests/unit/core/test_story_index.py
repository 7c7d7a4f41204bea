"""The story index's mechanics: it holds each article's features once and stays bounded as it churns."""

from __future__ import annotations

import bisect
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.stories import StoryIndex, _Entry, _Story, _Sums, same_event_score
from monitor.core.story_features import StoryDoc, StoryFeatures, features
from monitor.core.watchprep import with_article_id
from tests.fixtures.seeds import mt_seed, other_seed

DATA = Path(__file__).parents[2] / "data" / "stories"


def docs() -> list[StoryDoc]:
    mt, other = mt_seed(), other_seed()
    rows = [json.loads(line) for line in (DATA / "articles.jsonl").read_text(encoding="utf-8").splitlines()]
    return [
        StoryDoc(1, "moscow-times", mt.title, mt.body, mt.published),
        StoryDoc(2, "kyiv-post", other.title, other.body, other.published),
        *(
            StoryDoc(r["id"] + 10, r["source"], r["title"], r["body"], datetime.fromisoformat(r["published"]))
            for r in rows[:40]
        ),
    ]


def test_the_index_gives_back_features_that_score_as_the_originals() -> None:
    """features_of() is what the watch step compares with instead of keeping a copy of every article's."""
    index = StoryIndex()
    feats = [features(d) for d in docs()]
    for f in feats:
        index.add(f, f.article_id)
    assert index.features_of(999) is None
    for a in feats[:12]:
        held = index.features_of(a.article_id)
        assert held is not None and (held.terms, held.title, held.what) == (a.terms, a.title, a.what)
        assert (held.article_id, held.source, held.published) == (a.article_id, a.source, a.published)
        for b in feats:
            assert same_event_score(held, b) == same_event_score(a, b)
    index.remove(feats[0].article_id)
    assert index.features_of(feats[0].article_id) is None


def test_removing_articles_keeps_the_time_heap_bounded() -> None:
    """The watch step forgets articles with remove(), not prune(): the heap of times must not keep them."""
    index = StoryIndex()
    f = features(docs()[0])
    start = datetime(2026, 2, 13, tzinfo=UTC)
    for i in range(20_000):
        g = StoryFeatures(i, f.source, start + timedelta(seconds=i), f.terms, f.title, f.names, f.what)
        index.add(g, i)
        if i >= 100:
            index.remove(i - 100)
    assert len(index) == 100
    assert len(index._by_time) <= 2 * len(index) + 1024 + 1
    assert index.prune(start + timedelta(days=1)) == 100 and len(index) == 0


def test_a_workers_encoded_features_take_the_stored_article_id() -> None:
    """The parse worker encodes the features with article id 0; the writer only puts the id in."""
    f = features(docs()[0])
    assert f.article_id == 1
    worker = StoryFeatures(0, f.source, f.published, f.terms, f.title, f.names, f.what).to_json()
    assert with_article_id(worker, 1) == f.to_json()
    assert StoryFeatures.from_json(with_article_id(worker, 1) or "") == f
    assert StoryFeatures.from_json(worker).with_article_id(1) == replace(
        StoryFeatures.from_json(worker), article_id=1
    )
    assert with_article_id(None, 1) is None and with_article_id('{"s":"x"}', 1) is None


def test_a_new_story_takes_its_real_id_without_changing_any_decision() -> None:
    """The watch step indexes a new story under a provisional id, then rekey()s it to the id the INSERT
    returned: the index then decides exactly as one that was given the real id from the start."""
    feats = sorted((features(d) for d in docs()), key=lambda f: (f.published, f.article_id))
    first, later = feats[:20], feats[20:]
    direct, rekeyed = StoryIndex(), StoryIndex()
    provisional: dict[int, int] = {}  # provisional id -> real id
    for f in first:
        found, seen = direct.assign(f), rekeyed.assign(f)
        assert (seen.matched_article_id, seen.score) == (found.matched_article_id, found.score)
        assert provisional.get(seen.story_id or 0, seen.story_id) == found.story_id
        real = found.story_id if found.story_id is not None else 1000 + f.article_id
        direct.add(f, real)
        if found.story_id is None:
            provisional[-(len(provisional) + 1)] = real
        rekeyed.add(f, next((p for p, r in provisional.items() if r == real), real))
    assert any(rekeyed.story_of(f.article_id) == -1 for f in first)
    for p, real in provisional.items():
        rekeyed.rekey(p, real)
    assert all(rekeyed.story_of(f.article_id) == direct.story_of(f.article_id) for f in first)
    assert all(rekeyed.candidates(f) == direct.candidates(f) for f in feats)
    for f in later:
        found = direct.assign(f)
        assert rekeyed.assign(f) == found
        direct.add(f, found.story_id or f.article_id)
        rekeyed.add(f, found.story_id or f.article_id)
    joined = [f for f in later if direct.story_of(f.article_id) in provisional.values()]
    assert joined, "no later article joined a re-keyed story: the test shows nothing"
    with pytest.raises(ValueError, match="in the index already"):
        rekeyed.rekey(provisional[-2], provisional[-1])
    with pytest.raises(KeyError):
        rekeyed.rekey(-1, 5)


def _postings(index: StoryIndex) -> dict[str, dict[int, int]]:
    """key -> story id -> members carrying it, whichever form the index keeps a posting in."""
    found: dict[str, dict[int, int]] = {}
    for key, posting in index._postings.items():
        found[key] = {s.id: n for s, n in posting.items()} if isinstance(posting, dict) else {posting.id: 1}
    return found


def test_postings_stay_what_the_members_carry_through_adds_removals_and_rekeys() -> None:
    """A key carried by one member maps to its story alone, else to a count per story: after any mix of
    adds, removals and re-keys the postings are those of an index built from the members left."""
    feats = sorted((features(d) for d in docs()), key=lambda f: (f.published, f.article_id))
    index = StoryIndex()
    story: dict[int, int] = {}
    for i, f in enumerate(feats):
        found = index.assign(f)
        story[f.article_id] = found.story_id if found.story_id is not None else -f.article_id
        index.add(f, story[f.article_id])
        if i % 5 == 4:  # some stories take their real ids, some articles go again
            for p in {s for s in story.values() if s < 0}:
                index.rekey(p, -p)
            story = {a: abs(s) for a, s in story.items()}
            gone = feats[i - 3]
            if index.remove(gone.article_id):
                del story[gone.article_id]
    rebuilt = StoryIndex()
    for f in feats:
        if f.article_id in story:
            rebuilt.add(f, story[f.article_id])
    assert _postings(index) == _postings(rebuilt)
    assert any(isinstance(p, dict) for p in index._postings.values())
    assert any(not isinstance(p, dict) for p in index._postings.values())
    for f in feats:
        index.remove(f.article_id)
    assert not index._postings and not index._stories and len(index) == 0


def test_a_story_finds_the_member_closest_in_time_as_a_scan_of_its_members_would() -> None:
    """_Story.closest (members by time in a SortedList) gives what it gave over a plain sorted list of the
    members: the nearer of the neighbours of (when, -1), the earlier on a tie, through adds and removes of
    many equal times."""
    rng = random.Random(4)
    start = datetime(2026, 2, 13, tzinfo=UTC)
    times = [start + timedelta(minutes=rng.randrange(60)) for _ in range(40)]
    base = features(docs()[0])
    story, entries = _Story(1), []
    for i in range(1, 3000):
        if len(entries) > 1 and rng.random() < 0.3:
            story.remove(entries.pop(rng.randrange(len(entries))))
        else:
            entry = _Entry(replace(base, article_id=i, published=rng.choice(times)), ())
            story.add(entry)
            entries.append(entry)
        if i % 7 == 0:
            plain = sorted(e.when for e in entries)
            assert story.members() == plain
            for when in (rng.choice(times), start - timedelta(hours=1), start + timedelta(hours=2)):
                at = bisect.bisect_left(plain, (when, -1))
                near = [plain[j] for j in (at - 1, at) if 0 <= j < len(plain)]
                assert story.closest(when) == min(near, key=lambda m: (abs(m[0] - when), m[0], m[1]))


def test_joining_a_story_adds_up_as_changing_it_by_one_member() -> None:
    """_Sums.join is change(entry, 1) without the removal branches, to the bit."""
    feats = [features(d) for d in docs()]
    joined, changed = _Sums(), _Sums()
    for f in feats:
        entry = _Entry(f, ())
        joined.join(entry)
        changed.change(entry, 1)
        for name in _Sums.__slots__:
            a, b = getattr(joined, name), getattr(changed, name)
            assert a == b and (not isinstance(a, float) or a.hex() == b.hex())
