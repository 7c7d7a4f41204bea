"""What crosses the parse pool pickles compactly (its class and field values, rebuilt by one __init__ call)
and comes back equal, every field included."""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.core import watchprep
from monitor.core.extract import ExtractedArticle
from monitor.core.match import WatchHit, WatchSpec
from monitor.core.pageread import PageReading
from monitor.core.story_features import StoryFeatures
from monitor.core.watchprep import DraftInsight, WatchContext, parse_feed_for_watches
from monitor.models import ArticleDraft, ParsedFeed, crosses_processes
from tests.fixtures.feeds import labelled_items, mt_item, mt_rss

WHEN = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
FEATURES = StoryFeatures(
    7,
    "moscow-times",
    WHEN,
    (("korea", 3.5), ("troop", 2.25)),
    (("korea", 1.5),),
    (("korea", 1.5),),
    (("troop", 2.0),),
)
HIT = WatchHit(
    "nk",
    ("North Korea", "troops"),
    "**North Korea** sends **troops**",
    "North Korea sends troops",
    ((0, 11),),
)
DRAFT = ArticleDraft(
    "k1", "https://x.example/a", "Title", "Summary", "Body", "Ann", WHEN, WHEN, ("a", "b"), "h" * 64, False
)
PAGE = ExtractedArticle("Title", "Para one.\n\nPara two.", "Ann", WHEN, WHEN, "en")
EVERY_FIELD_SET = [
    FEATURES,
    HIT,
    DRAFT,
    DraftInsight(FEATURES, (HIT,), FEATURES.to_json()),
    ParsedFeed("Feed", "https://x.example/", (), 600, "a problem"),
    PAGE,
    PageReading("article", ("https://x.example/b",), PAGE, "an error"),
]


@pytest.mark.parametrize("value", EVERY_FIELD_SET, ids=lambda v: type(v).__name__)
def test_each_crossing_type_round_trips_as_class_and_fields(value: Any) -> None:
    defaults = type(value)(*(f.default for f in fields(value)))
    assert all(getattr(value, f.name) != getattr(defaults, f.name) for f in fields(value))  # no field unset
    reduced = value.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    assert reduced == (type(value), tuple(getattr(value, f.name) for f in fields(value)))
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(value, protocol))
        assert back == value and type(back) is type(value)
    assert copy.copy(value) == value and copy.deepcopy(value) == value


def test_a_real_feeds_parse_result_round_trips() -> None:
    context = WatchContext("moscow-times", ("russia",), (WatchSpec("nk", '"North Korea" AND troop*'),))
    result = parse_feed_for_watches(
        mt_rss([mt_item(), *labelled_items(5)]), {}, "https://www.themoscowtimes.com/rss/news", context
    )
    assert any(insight.hits for insight in result[2].values())
    assert pickle.loads(pickle.dumps(result)) == result


def test_a_field_init_does_not_take_is_refused() -> None:
    @dataclass(frozen=True)
    class Derived:
        a: int
        b: int = field(init=False, default=0)

    with pytest.raises(TypeError, match="Derived"):
        crosses_processes(Derived)


def test_a_watch_context_sends_its_watches_pickled_once_per_set() -> None:
    watches = (WatchSpec("nk", '"North Korea"'), WatchSpec("ru", "Russia", stem="en", sources=("a",)))
    first = WatchContext("a", ("x",), watches)
    assert pickle.dumps(first) == pickle.dumps(first)
    assert watchprep._shipped(watches)[1] is watchprep._shipped(watches)[1]  # the set's pickle, kept
    back = pickle.loads(pickle.dumps(first))
    assert back == first
    other = pickle.loads(pickle.dumps(WatchContext("b", (), watches)))
    assert other == WatchContext("b", (), watches) and other.watches is back.watches  # unpickled once
    reloaded = (*watches, WatchSpec("new", "Kyiv"))  # a config reload: a new set reaches the receiver
    again = pickle.loads(pickle.dumps(WatchContext("a", ("x",), reloaded)))
    assert again.watches == reloaded and again.watches is not back.watches
    assert pickle.loads(pickle.dumps(first)).watches == watches  # and back again


def test_a_receiver_keeps_a_few_sets_of_watches() -> None:
    for n in range(10):
        watches = tuple(WatchSpec(f"w{i}", f"term{i}") for i in range(n + 1))
        assert pickle.loads(pickle.dumps(WatchContext("a", (), watches))).watches == watches
    assert 1 <= len(watchprep._received) <= watchprep._RECEIVED_SETS
