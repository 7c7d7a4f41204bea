"""The fast cosmetic_form is the plain definition, step for step (fingerprints must never move)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.core.feeds import parse_feed
from monitor.core.versions import _cosmetic_form_reference, cosmetic_form

REAL = Path(__file__).resolve().parents[4] / "shared" / "corpora" / "real-feeds"
PIECES = st.sampled_from(
    [
        " ",
        "  ",
        "\n",
        "\u00a0",
        "ago",
        "AGO",
        "5 minutes ago",
        "Updated 3 hours ago",
        "1.2K shares",
        "10 comments",
        "views",
        "Likes",
        "·",
        "•",
        "|",
        "/",
        " / ",
        "(",
        "[",
        ")",
        "]",
        ",",
        ".",
        ";",
        ":",
        "!",
        "?",
        "\u2018",
        "\u2019",
        "\u201c",
        "\u201d",
        "\u00ab",
        "\u00bb",
        "\u2013",
        "\u2014",
        "&amp;",
        "&#8217;",
        "word",
        "Wort",
        "e\u0301",
        "42",
        "readers online",
        "\u017fhares",  # re.I reads the long s as s, the Kelvin sign as k, dotted and dotless I as i
        "li\u212ae",
        "L\u0130KES",
        "\u0131",
        "3 ",
        "2.5M ",
        "1,",  # the gates: a figure after a comma, digits runs, separators after and inside words
        "5",
        "0.5K ",
        " 7 days ago",
        "hrs",
        "//",
        "a/",
        " | ",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=30))
@example([",5 shares x/ y // z\u00b7\u2022 12 days ago"])
@example(["1" * 5000 + " comments"])
def test_fast_and_plain_agree(parts: list[str]) -> None:
    text = "".join(parts)
    ignore = (re.compile(r"\d+ readers online"),)
    assert cosmetic_form(text) == _cosmetic_form_reference(text)
    assert cosmetic_form(text, ignore) == _cosmetic_form_reference(text, ignore)


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/corpora/real-feeds is not here")
def test_fast_and_plain_agree_on_real_feed_text() -> None:
    for path in sorted(REAL.glob("*.xml.gz"))[::6]:
        feed = parse_feed(gzip.decompress(path.read_bytes()), {}, "https://x.example/")
        for entry in feed.entries:
            for text in (entry.title, entry.summary, entry.content or ""):
                assert cosmetic_form(text) == _cosmetic_form_reference(text), path.name
