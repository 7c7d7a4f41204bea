"""Extraction golden files (page beside expected result), link extraction, cosmetic forms and word diffs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.cli.output import plain
from monitor.core.extract import extract_article, extract_links, looks_like_listing
from monitor.core.versions import content_fingerprint, diff_versions, render_html, render_text, word_diff
from monitor.errors import ParseError
from tests.fixtures.pages import mt_article, mt_listing, other_article
from tests.fixtures.seeds import MT_PATH, mt_seed, other_seed

GOLDEN = Path(__file__).parents[2] / "golden" / "pages"
MT = "https://www.themoscowtimes.com"


@pytest.mark.parametrize(
    ("name", "make", "url"),
    [
        ("moscow-times-article.html", mt_article, MT + MT_PATH),
        ("kyiv-post-article.html", other_article, "https://www.kyivpost.example/post/40291"),
    ],
)
def test_golden_extraction(name: str, make: Callable[[], bytes], url: str) -> None:
    page, expected = GOLDEN / name, GOLDEN / (name + ".json")
    if os.environ.get("UPDATE_GOLDEN"):
        page.write_bytes(make())
    got = plain(extract_article(page.read_bytes(), url))
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == json.loads(expected.read_text(encoding="utf-8"))


def test_main_text_is_the_report_without_boilerplate() -> None:
    article = extract_article(mt_article(), MT + MT_PATH)
    assert article.text.split("\n\n") == list(mt_seed().paragraphs)
    assert (article.author, article.published and article.published.isoformat()) == (
        "AFP",
        "2024-10-18T09:12:00+00:00",
    )
    for noise in ("Related article", "shares", "Most read", "All rights reserved", "Trending"):
        assert noise not in article.text
    other = extract_article(other_article(), "https://www.kyivpost.example/post/40291")
    assert other.text.split("\n\n") == list(other_seed().paragraphs) and "comments" not in other.text


def test_pages_without_an_article_fail_with_a_reason() -> None:
    with pytest.raises(ParseError, match="no article text found"):
        extract_article(b"<html><body><nav><a href='/'>Home</a></nav></body></html>", MT + "/")
    with pytest.raises(ParseError, match="empty page"):
        extract_article(b"   ", MT + "/")


def test_listing_links_in_order_without_nav_tags_or_other_sites() -> None:
    page = mt_listing(
        [
            (MT_PATH, "a"),
            ("/2024/10/18/second-story-a86741#comments", "b"),
            ("https://other.example/2024/10/18/x-a1", "c"),
            (MT_PATH + "?utm_source=x", "again"),
        ]
    )
    assert extract_links(page, MT + "/news") == [MT + MT_PATH, MT + "/2024/10/18/second-story-a86741"]
    assert looks_like_listing(page, MT + "/news") and not looks_like_listing(mt_article(), MT + MT_PATH)


def test_cosmetic_changes_keep_the_fingerprint() -> None:
    text = mt_seed().body
    same = [
        text.replace(" ", "  "),
        text.replace('"', "\u201c"),
        text.replace(",", " ,"),
        text + "\n\nUpdated 5 minutes ago",
        text + "\n\n1.2K shares · 34 comments",
    ]
    base = content_fingerprint("T", text)
    assert all(content_fingerprint("T", t) == base for t in same)
    assert content_fingerprint("T", text.replace("1,500", "1,600")) != base
    assert content_fingerprint("T2", text) != base


def test_diff_calls_out_the_edited_words_and_headlines() -> None:
    old, new = "Seoul said 1,500 troops arrived", "Seoul said 2,000 troops arrived on Friday"
    diff = word_diff(old, new)
    assert (diff.added, diff.removed) == (3, 1)
    assert render_text(diff) == "Seoul said [-1,500-] {+2,000+} troops arrived {+on Friday+}"
    assert render_html(word_diff("a <b>", "a <c>")) == "a <del>&lt;b&gt;</del> <ins>&lt;c&gt;</ins>"
    assert diff_versions("Old title", old, "New title", old).headline_changed


words = st.lists(
    st.sampled_from(["north", "korea", "troops", "russia", "seoul", "1,500", "said", "the", "a"]), max_size=30
)


@given(words, words)
def test_applying_the_diff_rebuilds_the_new_text(a: list[str], b: list[str]) -> None:
    diff = word_diff(" ".join(a), " ".join(b))
    rebuilt = [w for op in diff.ops for w in (op.old if op.op == "equal" else op.new)]
    assert rebuilt == b
    assert [w for op in diff.ops for w in op.old] == a
