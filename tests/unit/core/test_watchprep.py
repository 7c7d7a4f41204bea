"""The parse workers' share of the watch step: a pure function of the drafts, equal to the writer's own."""

from __future__ import annotations

import pickle
from dataclasses import replace

from monitor.core.feeds import parse_feed_drafts
from monitor.core.match import MatchDoc, WatchSpec, compile_watches
from monitor.core.story_features import StoryDoc, features
from monitor.core.watchprep import WatchContext, parse_feed_for_watches
from monitor.models import version_body
from tests.fixtures.feeds import labelled_items, mt_item, mt_rss

WATCHES = (
    WatchSpec("nk", '"North Korea" AND troop*'),
    WatchSpec("tagged", "tag:russia AND Korea"),
    WatchSpec("elsewhere", "Korea", sources=("kyiv-post",)),
)


def test_insights_equal_what_the_writer_would_work_out() -> None:
    body = mt_rss([mt_item(), *labelled_items(5)])
    context = WatchContext("moscow-times", ("russia",), WATCHES)
    feed, drafts, insights = parse_feed_for_watches(
        body, {}, "https://www.themoscowtimes.com/rss/news", context
    )
    assert (feed, drafts) == parse_feed_drafts(body, {}, "https://www.themoscowtimes.com/rss/news")
    assert set(insights) == {d.key for d in drafts}
    matcher = compile_watches(list(WATCHES))
    for draft in drafts:
        insight = insights[draft.key]
        text = version_body(draft.summary, draft.body)
        assert draft.published is not None and insight.features is not None
        doc = StoryDoc(7, "moscow-times", draft.title, text, draft.published)
        assert replace(insight.features, article_id=7) == features(doc)
        expected = matcher.match(MatchDoc(draft.title, text, "moscow-times", (*draft.tags, "russia")))
        assert list(insight.hits) == expected
    (seed,) = [d for d in drafts if "North Korea" in d.title]
    assert [h.watch for h in insights[seed.key].hits] == ["nk", "tagged"]  # not "elsewhere": other source
    assert pickle.loads(pickle.dumps(insights)) == insights  # crosses the process pool
