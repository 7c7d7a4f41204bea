"""Story features as they were first written (the plain definitions kept here) equal the faster ones:
`features` from bulk term counts with remembered weights, and `to_json` written out directly."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.core import story_features as sf
from monitor.core.story_features import StoryDoc, StoryFeatures, features
from monitor.core.story_terms import RARITY_CEILING, term_rows
from tests.fixtures import real_feeds
from tests.fixtures.feeds import labelled_items

WHEN = datetime(2026, 2, 14, 9, 30, tzinfo=UTC)


def _features_reference(doc: StoryDoc) -> StoryFeatures:
    """`features` as first written: every row of the body, weights and sorts computed in place."""
    counts: dict[str, float] = {}
    rarity: dict[str, float] = {}
    names: set[str] = set()
    title_terms = term_rows(doc.title)
    title_names = not sf._is_title_case(doc.title)
    for term, rare, name in title_terms:
        counts[term] = counts.get(term, 0.0) + sf.TITLE_WEIGHT
        rarity.setdefault(term, rare)
        if name and title_names:
            names.add(term)
    opening: set[str] = {term for term, _, _ in title_terms}
    body = term_rows(sf._BOILERPLATE.sub(" ", doc.body))
    for term, count in Counter([row[0] for row in body]).items():
        counts[term] = counts.get(term, 0.0) + count
    for term, rare in {term: rare for term, rare, _ in reversed(body)}.items():
        rarity.setdefault(term, rare)
    names.update([term for term, _, name in body if name])
    opening.update([row[0] for row in body[: sf.LEAD_TERMS]])
    weights = {
        term: round((1.0 + math.log(count)) * rarity[term] * (sf.NAME_WEIGHT if term in names else 1.0), 2)
        for term, count in counts.items()
    }
    kept_names = sorted(names, key=lambda t: (-weights[t], t))[: sf.MAX_NAMES]
    title = {term for term, _, _ in title_terms if rarity[term] > 0.0}
    heaviest = sorted(weights, key=lambda t: (-weights[t], t))[: sf.MAX_TERMS]
    what = {
        t
        for t in opening
        if t not in names and t[0] != "#" and 0.0 < rarity[t] < RARITY_CEILING and weights[t] > 0.0
    }
    kept = set(heaviest) | title | set(kept_names)
    return StoryFeatures(
        doc.article_id,
        doc.source,
        doc.published,
        tuple(sorted((t, weights[t]) for t in kept if weights[t] > 0.0)),
        tuple(sorted((t, round(rarity[t], 2)) for t in title)),
        tuple(sorted((t, round(rarity[t], 2)) for t in kept_names)),
        tuple(sorted((t, round(rarity[t], 2)) for t in what)),
    )


def _same(doc: StoryDoc) -> None:
    fast = features(doc)
    assert repr(fast) == repr(_features_reference(doc))  # repr: 0.0 and -0.0 told apart too
    assert fast.to_json() == fast._to_json_reference()
    assert StoryFeatures.from_json(fast.to_json()) == fast


_WORDS = st.sampled_from(
    [
        "Korea", "korea", "Korea's", "Seoul", "Seoul's", "the", "The", "said", "Officials", "officials",
        "1,500", "12.5", "2024", "7", "Sánchez", "sanchez", "Путин", "путин", "россия", "don't", "NATO",
        "U.S.", "Geneva", "talks", "Talks", "Quoted\"word", "tab\there", "[embed-x id=1]", "zxqvy",
    ]
)  # fmt: skip
_SEPARATORS = st.sampled_from([" ", " ", ", ", ". ", "\n", "; ", " (", " — ", " “", "’s "])
_TEXT = st.lists(st.tuples(_SEPARATORS, _WORDS), max_size=80).map(lambda p: "".join(s + w for s, w in p))


@given(_TEXT, _TEXT | st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_features_equal_the_plain_definition(title: str, body: str) -> None:
    _same(StoryDoc(3, 'src "quoted" é', title, body, WHEN))


def test_features_of_the_labelled_items_equal_the_plain_definition() -> None:
    for i, item in enumerate(labelled_items(40)):
        _same(StoryDoc(i, "outlet", item.title, item.description, item.published))


@pytest.mark.skipif(not real_feeds.available(), reason="../shared/corpora/real-feeds is absent")
def test_features_of_real_news_equal_the_plain_definition() -> None:
    for item in real_feeds.week_items()[::7]:
        _same(item.doc)


class _Float(float):
    def __repr__(self) -> str:
        return "odd"


def test_to_json_writes_what_json_dumps_writes_even_for_odd_numbers() -> None:
    base = StoryFeatures(
        7,
        'the "quoted" outlet\n',
        WHEN,
        (("a\u2028b", 1.5), ("korea", 3.25), ("nato", 1e-7), ("seoul", 12345678901234.5)),
        (("korea", 2.5),),
        (("korea", 2.5), ("nato", 0.1)),
        (("seoul", 4.0),),
    )
    odd = [
        base,
        replace(base, what=()),
        replace(base, terms=()),
        replace(base, terms=(("x", math.inf), ("y", math.nan))),
        replace(base, names=(("nato", -math.inf),)),
        replace(base, terms=(("x", 2),)),  # an int where a float belongs
        replace(base, terms=(("x", 0.0), ("y", 1.0)), names=(("x", -0.0),)),  # 0.0 and -0.0 are one key
        replace(base, terms=(("x", -0.0), ("y", True))),
        replace(base, what=(("seoul", _Float(4.0)),)),
        replace(base, article_id=True),
    ]
    for features_ in odd:
        assert features_.to_json() == features_._to_json_reference()
    assert json.loads(base.to_json())["t"][1] == ["korea", 3.25, 3, 2.5]


_PIECES = st.sampled_from(
    [
        "The post ", "THE POST ", "Appeared First On ", " appeared first on ", "Example News", "\n", " ",
        "Read more", "READ MORE", "Continue reading", "seguir LEYENDO", "Read the full story", "…", "»",
        "[time-brightcove not-tgx=true]", "[caption id=1]", "[x", "]", "ſ", "İ", "ı", "appeared fırst on",
        "read moſt", "word", "é",
    ]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=12).map("".join))
@example("The post X appeared fırst on Site")
@example("Words.\nThe post İt appeared fiRſt on Example News\n")
@example("Text\nſeguir leyendo »")
@example("Text\nRead more…\nmore")
@settings(max_examples=500, deadline=None)
def test_boilerplate_is_stripped_as_the_pattern_strips_it(text: str) -> None:
    assert sf.strip_boilerplate(text) == sf._BOILERPLATE.sub(" ", text)


def test_the_boilerplate_words_have_no_other_case_forms_than_those_listed() -> None:
    letters = sorted(set("".join(sf._BOILERPLATE_WORDS).replace(" ", "")))
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    for char in set(re.findall(f"[{''.join(letters)}]", every, re.IGNORECASE)):
        assert char.lower() in letters or char in sf._OTHER_CASE_FORMS, hex(ord(char))
