"""Main text: the standfirst kept, promos and credits dropped, a fallback when little is found (pure)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from monitor.core.extract import _load_tree, extract_article
from monitor.core.maintext import clean_lines, main_text, standfirst
from monitor.core.normalize import normalize_text

DATA = Path(__file__).parents[2] / "data" / "extraction"
CASES = json.loads((DATA / "cases.json").read_text(encoding="utf-8"))

BODY = [
    f"Paragraph {n} of the report says the council met on Tuesday and voted on the budget for next year."
    for n in range(3)
]


def page(before: str = "", after: str = "") -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in BODY)
    return (
        "<html><head><title>Council votes</title></head><body><nav><a href='/'>Home</a></nav>"
        f"<article><h1>Council votes on the budget</h1>{before}<div class='body'>{paragraphs}</div>{after}"
        "</article><footer>All rights reserved</footer></body></html>"
    ).encode()


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_real_pages_keep_what_they_must_and_drop_what_they_must_not(case: dict[str, object]) -> None:
    html = gzip.decompress((DATA / (str(case["file"]) + ".gz")).read_bytes())
    text = normalize_text(extract_article(html, str(case["url"])).text)
    assert [s for s in case["with"] if normalize_text(s) not in text] == []  # type: ignore[attr-defined]
    assert [s for s in case["without"] if normalize_text(s) in text] == []  # type: ignore[attr-defined]


def test_the_standfirst_between_headline_and_body_leads_the_text() -> None:
    intro = "The council has approved a budget that cuts spending on roads for the first time in ten years."
    text = main_text(
        _load_tree(page(before=f"<div class='teaser-text'>{intro}</div>")), "https://x.example/a"
    )
    assert text.split("\n\n")[0] == intro
    assert text.count(intro) == 1


def test_a_teaser_after_the_body_is_not_a_standfirst() -> None:
    teaser = "Another story entirely about a football match that was played on Sunday in the rain."
    tree = _load_tree(page(after=f"<div class='teaser'><p>{teaser}</p></div>"))
    assert standfirst(tree, main_text(tree, "https://x.example/a")) is None


def test_a_standfirst_made_of_links_or_a_picture_is_not_taken() -> None:
    linked = "<div class='intro'><a href='/1'>One story about the budget and the roads</a> and more</div>"
    pictured = "<div class='intro'><img src='x.jpg'>A picture of the council in session on Tuesday.</div>"
    for before in (linked, pictured):
        tree = _load_tree(page(before=before))
        assert standfirst(tree, main_text(tree, "https://x.example/a")) is None


def test_promo_and_credit_lines_go_and_sentences_like_them_stay() -> None:
    lines = [
        "Read more: Council plans new bridge",
        "Lea también: El concejo aprueba el presupuesto",
        "Lesen Sie auch: Der Rat stimmt ab",
        "Foto: dpa",
        "(Credit: Jane Doe / Agency)",
        "© AFP / John Smith",
        "1.2K shares",
        "Read the full report on the council's website, which lists every line of the budget.",
        "Photographs taken at the meeting show the councillors voting by a show of hands.",
        "The logo, © 1998 by its designer, was retired in a vote of the council on Tuesday after many years.",
    ]
    assert clean_lines("\n".join(lines)) == lines[-3:]


def test_widget_labels_go_and_sign_up_lines_go_only_at_the_end() -> None:
    body = ["The council's newsletter, which residents can subscribe to, listed every vote of the year."]
    body += [f"Paragraph {n} says the council met on Tuesday and voted on the budget." for n in range(5)]
    tail = ["Bild anzeigen", "Weitere Themen", "Subscribe now to our daily edition for the full story."]
    assert clean_lines("\n".join(body + tail)) == body


def test_little_text_falls_back_to_the_structured_article_body() -> None:
    body = " ".join(
        f"Sentence {n} of the article body as the publisher gave it to search engines." for n in range(12)
    )
    ld = json.dumps({"@type": "NewsArticle", "headline": "H", "articleBody": body})
    html = f"<html><head><script type='application/ld+json'>{ld}</script></head><body><nav><a href='/'>Home</a></nav><p>Short.</p></body></html>"
    assert normalize_text(main_text(_load_tree(html.encode()), "https://x.example/a")) == body


def test_structured_data_in_odd_shapes_is_read_not_a_crash() -> None:
    ld = json.dumps(
        {"@type": "NewsArticle", "headline": ["Council", "votes"], "author": [{"name": ["Ann", "Bo"]}, 7]}
    )
    html = page().replace(b"<title>", f"<script type='application/ld+json'>{ld}</script><title>".encode())
    article = extract_article(html, "https://x.example/a")
    assert (article.title, article.author) == ("Council, votes", "Ann, Bo")
