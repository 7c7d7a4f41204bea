"""Same-event grouping: reports of one specific occurrence, from any outlet, share a story id (pure).

An article is reduced to its heaviest terms (`features`, in story_features.py): words folded, stop words dropped, stemmed by
script (monitor/core/story_terms.py), each weighed by its rarity in the language at large (wordfreq), not
in the local index; title words count double and names (capitalised inside a sentence, Latin or
Cyrillic) half again. Titles, names and figures ("1,500", "12.5") are kept apart as the evidence that
separates an event from a topic, and so are the `what` words of the title and opening (neither names nor
figures): names say who, those say what happened.

`same_event_score(a, b)` puts that evidence together in [0, 1]; `StoryIndex.assign` compares a new
article with each candidate story as a whole (the sum of its members' terms, and the share of members
carrying each title word and name), never with its closest single member, so a story cannot chain from
one event to the next through a roundup. Thresholds are chosen for precision: a wrong merge hides an
alert, a missed one costs at most a duplicate.
"""

from __future__ import annotations

import heapq
import math
import sys
from array import array
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from operator import itemgetter

from sortedcontainers import SortedList

from monitor.core.story_features import StoryDoc, StoryFeatures, features
from monitor.core.story_terms import NUMBER_RARITY

# A new article joins a story when its score against the story is at least STORY_THRESHOLD.
STORY_THRESHOLD = 0.4
# The watch step keeps an article silent (its story was flagged already) only at or above this score
# against the article that flagged the story; below it, it alerts as a new story.
CONFIDENT_SAME_EVENT = 0.48
# Evidence counts in full up to FULL_WEIGHT_WITHIN apart, then fades linearly to nothing at WINDOW.
FULL_WEIGHT_WITHIN = timedelta(hours=12)
WINDOW = timedelta(hours=48)

KEY_RARITY = 2.5  # a title word, name or figure this rare (or rarer) looks candidate stories up
WHAT_KEY_RARITY = 4.0  # an opening word this rare looks candidates up too (reports can share no title word)
MAX_CANDIDATES = 24  # candidate stories scored per assignment, most shared key rarity first
MAX_POSTINGS = 400  # a key held by more stories than this is too common to look candidates up by

# How the evidence adds up (weights sum to 1).
W_COSINE, W_TITLE = 0.3, 0.7
# What happened, beside who: the words of the title and opening (the body's first LEAD_TERMS terms,
# story_features.py) that are neither names nor figures and that wordfreq knows (an unknown word is a name, a foreign
# word or boilerplate). Reports of one topic share its names; reports of one event also say the same thing
# happened. Their shared rarity mass (`said`) and its share of both openings (`alike`: the mass over the
# geometric mean of the two openings' masses) add up to W_WHAT to the evidence: none below WHAT_FROM or
# ALIKE_FROM, all of it from WHAT_FULL and ALIKE_FULL on. Only between outlets (an outlet's reports share
# its house style), and only the same day: in full up to FULL_WEIGHT_WITHIN apart, fading to nothing at
# WHAT_FADED_AT (a later development of a story uses the words of its first report).
W_WHAT = 0.25
WHAT_FROM, WHAT_FULL = 8.0, 14.0
ALIKE_FROM, ALIKE_FULL = 0.15, 0.3
WHAT_FADED_AT = timedelta(hours=24)
# One outlet rarely reports one event twice, and its reports share its house style: its second report
# needs more evidence. The evidence is lowered by SAME_OUTLET in full against the outlet's own reports and
# in proportion to their share of a story's members (what other outlets' reports say is no house style).
SAME_OUTLET = 0.6


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """Where an article goes: into `story_id` (matched `matched_article_id` with `score`) or a new story."""

    story_id: int | None
    matched_article_id: int | None = None
    score: float = 0.0

    @property
    def is_new(self) -> bool:
        return self.story_id is None


def time_factor(a: datetime, b: datetime) -> float:
    """1 within FULL_WEIGHT_WITHIN of each other, fading linearly to 0 at WINDOW apart."""
    gap = abs(a - b)
    if gap <= FULL_WEIGHT_WITHIN:
        return 1.0
    if gap >= WINDOW:
        return 0.0
    return (WINDOW - gap) / (WINDOW - FULL_WEIGHT_WITHIN)


_NONE: tuple[str, ...] = ()


def _figures(f: StoryFeatures) -> set[str]:
    return {t for t, w in f.terms if t[0] == "#" and w >= 4.0}


def _keys(f: StoryFeatures) -> tuple[str, ...]:
    """The terms an article looks candidate stories up by: rare title words, names, opening words and
    figures."""
    return _keys_and_names(f)[0]


def _keys_and_names(f: StoryFeatures) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`_keys(f)`, and those of them that are only names (the rest follow from an entry: `_Entry.key_terms`)."""
    keys = {t for t, r in f.title if r >= KEY_RARITY}
    keys.update(t for t, r in f.what if r >= WHAT_KEY_RARITY)
    keys |= _figures(f)
    names = {t for t, r in f.names if r >= KEY_RARITY}.difference(keys)
    return tuple(sorted(keys | names)), tuple(sorted(names)) if names else _NONE


class _Entry:
    """An indexed article, compactly: what adding it changed, so removing it can undo exactly that.
    About 1.4 KB for a feed item (1.9 KB with its story and postings): the terms are the interned
    strings every article shares, the term weights, title rarities and `what` rarities one C array, the
    totals a score of a one-article story needs are worked out once, and of its keys only the names are
    kept (the rest follow from the title, the `what` words and the figures among the terms: `key_terms`)."""

    __slots__ = (
        "article_id",
        "names",
        "norm2",
        "source",
        "story",
        "terms",
        "title",
        "title_total",
        "values",
        "what",
        "what_total",
        "when",
    )

    def __init__(self, f: StoryFeatures, names: tuple[str, ...]) -> None:
        intern = sys.intern
        first, second = itemgetter(0), itemgetter(1)
        self.article_id = f.article_id
        self.story = _UNPLACED
        self.source = intern(f.source)
        self.when = (f.published, f.article_id)  # the same tuple in the story's members and the time heap
        self.terms = tuple(map(intern, map(first, f.terms))) if f.terms else _NONE
        self.title = tuple(map(intern, map(first, f.title))) if f.title else _NONE
        self.what = tuple(map(intern, map(first, f.what))) if f.what else _NONE
        weights = tuple(map(second, f.terms))
        rarity, what_rarity = tuple(map(second, f.title)), tuple(map(second, f.what))
        self.values = array("d", weights + rarity + what_rarity)
        # As a score of the article's one-article story would add them up (not math.fsum).
        self.norm2 = math.hypot(*weights) ** 2
        self.title_total: float = sum(rarity)
        self.what_total: float = sum(what_rarity)
        self.names = tuple(map(intern, names)) if names else _NONE  # keys that are only names

    @property
    def published(self) -> datetime:
        return self.when[0]

    @property
    def weights(self) -> array[float]:
        return self.values[: len(self.terms)]

    @property
    def title_rarity(self) -> array[float]:
        start = len(self.terms)
        return self.values[start : start + len(self.title)]

    @property
    def what_rarity(self) -> array[float]:
        return self.values[len(self.terms) + len(self.title) :]

    def key_terms(self) -> set[str]:
        """The keys the article was posted under (`_keys` of its features)."""
        keys = {t for t, r in zip(self.title, self.title_rarity, strict=True) if r >= KEY_RARITY}
        keys.update(t for t, r in zip(self.what, self.what_rarity, strict=True) if r >= WHAT_KEY_RARITY)
        keys.update(t for t, w in zip(self.terms, self.weights, strict=True) if t[0] == "#" and w >= 4.0)
        keys.update(self.names)
        return keys


class _Sums:
    """What a story of several members adds up: the sum of their term weights, how many carry each term,
    the rarity mass of each title word, the members using each `what` word, the reports of each outlet."""

    __slots__ = ("counts", "norm2", "outlets", "sums", "title_mass", "title_total", "what", "what_total")

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.title_mass: dict[str, float] = {}
        self.what: dict[str, int] = {}  # members using each `what` word
        self.outlets: dict[str, int] = {}
        self.norm2 = 0.0
        self.title_total = 0.0
        self.what_total = 0.0  # the rarity mass of the members' `what` words, summed over members

    def join(self, entry: _Entry) -> None:
        """Add a member: `change(entry, 1)`, to the bit, without its removal branches. A plain loop: the
        interpreter's float arithmetic beats map/reduce over the operator module's functions (12 vs 25 us
        for a feed item's 42 terms)."""
        sums, counts, norm2 = self.sums, self.counts, self.norm2
        for term, w in zip(entry.terms, entry.values, strict=False):  # as far as the terms go
            old = sums.get(term, 0.0)
            new = old + w
            norm2 += new * new - old * old
            sums[term] = new
            counts[term] = counts.get(term, 0) + 1
        self.norm2 = norm2
        title_mass = self.title_mass
        for term, r in zip(entry.title, islice(entry.values, len(entry.terms), None), strict=False):
            mass = title_mass.get(term, 0.0) + r
            self.title_total += r
            if mass <= 1e-9:
                title_mass.pop(term, None)
            else:
                title_mass[term] = mass
        what = self.what
        self.what_total += entry.what_total
        for term in entry.what:
            what[term] = what.get(term, 0) + 1
        self.outlets[entry.source] = self.outlets.get(entry.source, 0) + 1

    def change(self, entry: _Entry, sign: int) -> None:
        sums, counts = self.sums, self.counts
        norm2 = self.norm2
        for term, w in zip(entry.terms, entry.weights, strict=True):
            old = sums.get(term, 0.0)
            new = old + sign * w
            norm2 += new * new - old * old
            n = counts.get(term, 0) + sign
            if n <= 0:
                del sums[term], counts[term]
            else:
                sums[term] = new
                counts[term] = n
        self.norm2 = norm2
        for term, r in zip(entry.title, entry.title_rarity, strict=True):
            mass = self.title_mass.get(term, 0.0) + sign * r
            self.title_total += sign * r
            if mass <= 1e-9:
                self.title_mass.pop(term, None)
            else:
                self.title_mass[term] = mass
        what = self.what
        self.what_total += sign * sum(entry.what_rarity)
        for term in entry.what:
            n = what.get(term, 0) + sign
            if n <= 0:
                what.pop(term, None)
            else:
                what[term] = n
        left = self.outlets.get(entry.source, 0) + sign
        if left > 0:
            self.outlets[entry.source] = left
        else:
            self.outlets.pop(entry.source, None)


class _Story:
    """A story as a whole: the sum of its members' term weights, how many members carry each term, the
    rarity mass of each title word over its members, and how many reports each outlet made (`_Sums`).
    Bounded by its members' vocabulary, whatever their number; every score against it costs O(terms of
    the query), and adding a member O(its terms + log members) (its members by time in a `SortedList`). A story of one article
    (most of them) keeps only that article's entry until a second one joins (no member list, no sums).
    Postings and entries refer to the story itself, so its id can change in O(1) (`StoryIndex.rekey`)."""

    __slots__ = ("by_time", "id", "single", "total")

    def __init__(self, story_id: int) -> None:
        self.id = story_id
        self.single: _Entry | None = None  # the member while there is one
        # (published, id) of several, by time: a SortedList (sorted chunks), so adding one costs the same
        # at 25,000 members as at 2 (a plain sorted list moved half of itself per insertion)
        self.by_time: SortedList | None = None
        self.total: _Sums | None = None  # with several members

    def __len__(self) -> int:
        return 1 if self.single is not None else len(self.by_time or ())

    def members(self) -> list[tuple[datetime, int]]:
        """(published, id) of every member, by time."""
        return [self.single.when] if self.single is not None else list(self.by_time or ())

    def add(self, entry: _Entry) -> None:
        single = self.single
        if single is None and not self.by_time:
            self.single = entry
            return
        total = self.total
        if total is None:
            total = self.total = _Sums()
        if single is not None:
            total.join(single)
            self.by_time = SortedList([single.when])
            self.single = None
        total.join(entry)
        assert self.by_time is not None
        self.by_time.add(entry.when)

    def remove(self, entry: _Entry) -> None:
        if self.single is not None:
            self.single = None
            return
        by_time = self.by_time
        if by_time is None:
            return
        by_time.discard(entry.when)
        if not by_time:  # start clean: no float residue
            self.by_time = self.total = None
        elif self.total is not None:
            self.total.change(entry, -1)

    def closest(self, when: datetime) -> tuple[datetime, int]:
        """The member published closest to `when` (the earlier one on a tie), as (published, id)."""
        if self.single is not None:
            return self.single.when
        by_time = self.by_time
        assert by_time, "a story of no members has no closest one"
        # The members just before and at-or-after (when, -1), by position: cheaper than two irange()
        # generators (a third of the cost of an assignment went there).
        at = by_time.bisect_left((when, -1))
        if at == 0:
            return by_time[0]  # type: ignore[no-any-return]
        before: tuple[datetime, int] = by_time[at - 1]
        if at == len(by_time):
            return before
        after: tuple[datetime, int] = by_time[at]
        if (abs(after[0] - when), *after) < (abs(before[0] - when), *before):
            return after
        return before


_UNPLACED = _Story(0)  # an entry's story until it is added


class _Query:
    """An article about to be scored against stories: what every score needs, computed once (the
    article's entry, not yet in a story, holds its words and weights)."""

    __slots__ = (
        "norm",
        "pairs",
        "published",
        "source",
        "title_pairs",
        "title_total",
        "what_pairs",
        "what_total",
    )

    def __init__(self, f: StoryFeatures, entry: _Entry) -> None:
        self.source = f.source
        self.published = f.published
        self.pairs, self.title_pairs, self.what_pairs = f.terms, f.title, f.what
        self.norm = math.hypot(*entry.weights)
        self.title_total = math.fsum(entry.title_rarity)
        self.what_total = math.fsum(entry.what_rarity)


def _score(q: _Query, story: _Story, closest: datetime) -> float:
    """The evidence that the article reports the event of `story`, in [0, 1]: the weighted mean of the
    rarity-weighted cosine with the story's summed terms and the title cover (the lesser of: the share
    of the article's title rarity found in the story's members, and the share of the story's title
    rarity found in the article), faded by time from the closest member and lowered when the outlet
    already reported the story."""
    factor = time_factor(q.published, closest)
    n = len(story)
    if factor == 0.0 or n == 0 or q.norm == 0.0:
        return 0.0
    single = story.single
    title_pairs = q.title_pairs
    own_hits = 0.0  # plain loops, not sum() over generators: a quarter of a score's cost went there
    if single is not None:  # one member: its own terms are the sums, each carried once
        terms, values = single.terms, single.values
        sums = dict(zip(terms, values, strict=False))  # as far as the terms go
        norm2 = single.norm2
        title_mass = dict(zip(single.title, islice(values, len(terms), None), strict=False))
        title_total = single.title_total
        own_reports = 1.0 if q.source == single.source else 0.0
        for t, r in title_pairs:
            if t in sums:
                own_hits += r
    else:
        total = story.total
        assert total is not None  # more than one member joined
        sums, norm2, title_mass, title_total = total.sums, total.norm2, total.title_mass, total.title_total
        own_reports = total.outlets.get(q.source, 0) / n
        counts = total.counts
        for t, r in title_pairs:
            own_hits += r * counts.get(t, 0)
        own_hits /= n
    if norm2 <= 0.0:
        return 0.0
    dot = theirs = 0.0
    for term, w in q.pairs:
        got = sums.get(term)
        if got is not None:
            dot += w * got
            theirs += title_mass.get(term, 0.0)
    cosine = min(1.0, dot / (q.norm * math.sqrt(norm2)))
    own = own_hits / q.title_total if q.title_total > 0.0 else 0.0
    theirs = theirs / title_total if title_total > 0.0 else 0.0
    evidence = W_COSINE * cosine + W_TITLE * min(own, theirs)
    if own_reports:
        return factor * (evidence * (1.0 - (1.0 - SAME_OUTLET) * own_reports))
    # What was said (the `what` words shared): only between outlets, so worked out only here.
    said = 0.0
    if single is not None:
        what = single.what
        for t, r in q.what_pairs:
            if t in what:
                said += r
        what_total = single.what_total
    else:
        assert total is not None
        used, half = total.what, n / 2.0  # a word half the members use counts in full
        for t, r in q.what_pairs:
            c = used.get(t)
            if c is not None:
                said += r if c >= half else r * c / half
        what_total = total.what_total / n
    if said > WHAT_FROM:
        alike = said / math.sqrt(q.what_total * what_total)
        gap = abs(q.published - closest)
        if alike > ALIKE_FROM and gap < WHAT_FADED_AT:
            same_said = min(1.0, (said - WHAT_FROM) / (WHAT_FULL - WHAT_FROM))
            same_said *= min(1.0, (alike - ALIKE_FROM) / (ALIKE_FULL - ALIKE_FROM))
            if gap > FULL_WEIGHT_WITHIN:
                same_said *= (WHAT_FADED_AT - gap) / (WHAT_FADED_AT - FULL_WEIGHT_WITHIN)
            evidence = min(1.0, evidence + W_WHAT * same_said)
    return factor * evidence


def _story_of(f: StoryFeatures) -> _Story:
    story = _Story(0)
    story.add(_Entry(f, ()))
    return story


def same_event_score(a: StoryFeatures, b: StoryFeatures) -> float:
    """How sure it is that two articles report the same specific occurrence, in [0, 1] and symmetric:
    rarity-weighted term cosine and title cover, faded by time apart, lowered for one outlet's two
    reports. Independent of any index, so it means the same on a fresh archive as on a full one."""
    story_a, story_b = _story_of(a), _story_of(b)
    assert story_a.single is not None and story_b.single is not None
    return (
        _score(_Query(a, story_a.single), story_b, b.published)
        + _score(_Query(b, story_b.single), story_a, a.published)
    ) / 2.0


class StoryIndex:
    """Recent articles with their story ids; finds the story a new article belongs to.

    Use: `a = index.assign(f)`; the caller takes `a.story_id`, or allocates a new id when `a.is_new`,
    then calls `index.add(f, story_id)` before assigning the next article (add reuses what assign worked
    out for the same `f`). `rekey(old, new)` renames a story. `prune(before)` drops old articles (nothing
    WINDOW apart can match anyway). Results depend only on the calls made, in order. An assignment
    scores at most MAX_CANDIDATES stories at O(terms of the article) each, however large the stories and
    the index.
    """

    def __init__(self, threshold: float = STORY_THRESHOLD) -> None:
        self.threshold = threshold
        self._entries: dict[int, _Entry] = {}
        self._stories: dict[int, _Story] = {}
        # key term -> story -> members carrying it; a key only one member carries maps to its story alone
        self._postings: dict[str, _Story | dict[_Story, int]] = {}
        self._by_time: list[tuple[datetime, int]] = []  # heap; may hold ids since removed or re-added
        # The last article assign() prepared: its features, entry and keys, for add() to take.
        self._prepared: tuple[StoryFeatures, _Entry, tuple[str, ...]] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._entries

    def story_of(self, article_id: int) -> int | None:
        """The story id an indexed article was added with."""
        entry = self._entries.get(article_id)
        return None if entry is None else entry.story.id

    def features_of(self, article_id: int) -> StoryFeatures | None:
        """An indexed article's features as scoring sees them (terms, title and `what` words; its names,
        which only look candidates up, are left out): the index holds them once, so callers need no copy
        of their own."""
        entry = self._entries.get(article_id)
        if entry is None:
            return None
        return StoryFeatures(
            entry.article_id,
            entry.source,
            entry.published,
            tuple(zip(entry.terms, entry.weights, strict=True)),
            tuple(zip(entry.title, entry.title_rarity, strict=True)),
            (),
            tuple(zip(entry.what, entry.what_rarity, strict=True)),
        )

    def _prepare(self, f: StoryFeatures) -> tuple[_Entry, tuple[str, ...]]:
        """The article's entry (not yet in a story) and keys: what assign() computed, if it was `f`."""
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] is f:
            return prepared[1], prepared[2]
        keys, names = _keys_and_names(f)
        return _Entry(f, names), keys

    def add(self, article: StoryDoc | StoryFeatures, story_id: int) -> None:
        """Index an article as part of story_id (replacing an earlier entry for the same article)."""
        f = features(article) if isinstance(article, StoryDoc) else article
        entry, keys = self._prepare(f)
        self.remove(f.article_id)
        story = self._stories.get(story_id)
        if story is None:
            story = self._stories[story_id] = _Story(story_id)
        entry.story = story
        self._entries[f.article_id] = entry
        story.add(entry)
        postings = self._postings
        for key in keys:
            posting = postings.get(key)
            if posting is None:
                postings[sys.intern(key)] = story
            elif isinstance(posting, dict):
                posting[story] = posting.get(story, 0) + 1
            else:
                postings[key] = {story: 2} if posting is story else {posting: 1, story: 1}
        heapq.heappush(self._by_time, entry.when)
        if len(self._by_time) > 2 * len(self._entries) + 1024:  # callers that remove() leave stale items
            self._by_time = [e.when for e in self._entries.values()]
            heapq.heapify(self._by_time)

    def remove(self, article_id: int) -> bool:
        """Forget one article; False if it was not indexed."""
        entry = self._entries.pop(article_id, None)
        if entry is None:
            return False
        story = entry.story
        story.remove(entry)
        if not len(story):
            del self._stories[story.id]
        postings = self._postings
        for key in entry.key_terms():
            posting = postings[key]
            if not isinstance(posting, dict):
                del postings[key]
                continue
            left = posting[story] - 1
            if left:
                posting[story] = left
            else:
                del posting[story]
            if not posting:
                del postings[key]
            elif len(posting) == 1:
                ((last, count),) = posting.items()
                if count == 1:
                    postings[key] = last
        return True

    def rekey(self, old: int, new: int) -> None:
        """Give story `old` the id `new` (a provisional id its real one), in O(1): its articles, their
        scores and the candidates they look up stay exactly as they were. KeyError if `old` holds no
        article, ValueError if `new` already does."""
        if new in self._stories:
            raise ValueError(f"story {new} is in the index already")
        story = self._stories.pop(old)
        story.id = new
        self._stories[new] = story

    def prune(self, before: datetime) -> int:
        """Drop articles published before `before`; returns how many were dropped."""
        dropped = 0
        while self._by_time and self._by_time[0][0] < before:
            published, article_id = heapq.heappop(self._by_time)
            entry = self._entries.get(article_id)
            if entry is not None and entry.published == published and self.remove(article_id):
                dropped += 1
        return dropped

    def assign(self, article: StoryDoc | StoryFeatures) -> StoryAssignment:
        """The story that scores highest as a whole, if at least the threshold; else a new story."""
        f = features(article) if isinstance(article, StoryDoc) else article
        own = self._entries.get(f.article_id)
        entry, keys = self._prepare(f)
        self._prepared = (f, entry, keys)
        query = _Query(f, entry)
        best = StoryAssignment(None)
        for story in self._candidates(f, keys):
            if own is not None and own.story is story:
                continue
            published, matched = story.closest(f.published)
            score = _score(query, story, published)
            if score >= self.threshold and score > best.score:
                best = StoryAssignment(story.id, matched, score)
        return best

    def _candidates(self, f: StoryFeatures, keys: tuple[str, ...]) -> list[_Story]:
        """Stories sharing the article's keys, most shared key rarity first, at most MAX_CANDIDATES."""
        rarity = dict(f.what) | dict(f.title) | dict(f.names)
        overlap: dict[_Story, float] = {}
        postings = self._postings
        for key in keys:
            posting = postings.get(key)
            if posting is None:
                continue
            w = rarity.get(key, NUMBER_RARITY)
            if not isinstance(posting, dict):
                overlap[posting] = overlap.get(posting, 0.0) + w
            elif len(posting) <= MAX_POSTINGS:
                for story in posting:
                    overlap[story] = overlap.get(story, 0.0) + w
        ranked = sorted(overlap.items(), key=lambda item: (-item[1], item[0].id))
        return [story for story, _ in ranked[:MAX_CANDIDATES]]

    def candidates(self, article: StoryDoc | StoryFeatures) -> list[int]:
        """Ids of the indexed articles in the stories assign() would consider for this article, ascending."""
        f = features(article) if isinstance(article, StoryDoc) else article
        found = {a for s in self._candidates(f, _keys(f)) for _, a in s.members()}
        return sorted(found - {f.article_id})
