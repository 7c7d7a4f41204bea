"""story_terms: the ASCII fast path tokenises exactly as the general pattern does, and the bulk counts
`features` reads sum up the rows exactly."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core import story_terms
from monitor.core.story_terms import (
    _ASCII_SEP_TOKEN,
    _SEP_TOKEN,
    _TYPOGRAPHY,
    _URL,
    _clean,
    term_counts,
    term_rows,
)

_ASCII = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 .,;:'\"!?-_()[]\n\t#$%&*/@")),
    max_size=80,
)


@given(_ASCII)
@settings(max_examples=400, deadline=None)
def test_ascii_pattern_splits_as_the_general_one(text: str) -> None:
    assert _ASCII_SEP_TOKEN.findall(text) == _SEP_TOKEN.findall(text)


def test_term_rows_of_ascii_text_equal_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "The talks in Geneva. Officials said 1,500 troops left; Korea's army (NATO) moved_on 12.5 km."
    fast = term_rows(text)
    monkeypatch.setattr(story_terms, "_ASCII_SEP_TOKEN", _SEP_TOKEN)
    assert fast == term_rows(text)
    assert ("#1500", 4.0, False) in fast and any(t == "geneva" and name for t, _, name in fast)


# Text with what term_counts and features tell apart: names after each kind of separator, stop words,
# clitics, figures, typography, links, Cyrillic and accents, and repeats of each.
_WORDS = st.sampled_from(
    [
        "Korea", "korea", "Korea's", "Seoul", "the", "The", "said", "Officials", "officials", "1,500",
        "12.5", "2024", "7", "Sánchez", "sanchez", "Путин", "путин", "россия", "don't", "NATO", "U.S.",
        "Geneva", "talks", "Talks", "https://x.example/a", "<b>", "www.site.example",
    ]
)  # fmt: skip
_SEPARATORS = st.sampled_from(
    [" ", " ", ", ", ". ", "\n", "; ", " (", ") ", " — ", " “", "” ", "’s ", ": ", "-"]
)
_TEXT = st.lists(st.tuples(_SEPARATORS, _WORDS), max_size=60).map(lambda p: "".join(s + w for s, w in p))


def _summed(rows: list[tuple[str, float, bool]], lead: int) -> tuple[object, ...]:
    counts: dict[str, int] = {}
    rarity: dict[str, float] = {}
    for term, rare, _ in rows:
        counts[term] = counts.get(term, 0) + 1
        rarity.setdefault(term, rare)
    return counts, rarity, {term for term, _, name in rows if name}, [row[0] for row in rows[:lead]]


@given(_TEXT | st.text(max_size=80) | _ASCII, st.sampled_from([0, 1, 3, 25]))
@settings(max_examples=500, deadline=None)
def test_term_counts_sum_term_rows_up(text: str, lead: int) -> None:
    counts, rarity, names, opening = term_counts(text, lead)
    expected = _summed(term_rows(text), lead)
    assert (counts, rarity, names, opening) == expected
    assert list(counts) == list(expected[0])  # type: ignore[call-overload]  # first-occurrence order, as term_rows gives


# ASCII text as the chunked path sees it: letters against digits ("5G", "G7"), apostrophes inside and at
# the edges of words, numbers with points and commas, every sentence break, long runs of dots, capitals
# after each kind of run and first in the text.
_ASCII_WORDS = st.sampled_from(
    [
        "Korea", "korea", "Korea's", "O'Brien", "o'Neil", "x'Y", "5'A", "5G", "G7", "COVID19", "1.5",
        "1,500.25", "1.A", "U.S.", "U.S", "Talks", "talks", "the", "The", "don't", "'Hello", "Hello'",
        "..", "...Geneva", "Geneva", "a.Bc", "iPhone", "said,", "NATO", "12", "7",
    ]
)  # fmt: skip
_ASCII_SEPARATORS = st.sampled_from(
    ["", " ", "  ", ", ", ". ", ".", "\n", "; ", " (", ") ", "[", "] ", ": ", "-", "! ", "? ", ' "', '" ',
     "'", " ' ", "...", " - ", "\t", "/", "#", "_", "*"]
)  # fmt: skip
_ASCII_TEXT = st.lists(st.tuples(_ASCII_SEPARATORS, _ASCII_WORDS), max_size=60).map(
    lambda p: "".join(s + w for s, w in p)
)


@given(_ASCII_TEXT | _ASCII, st.sampled_from([0, 1, 3, 25]))
@settings(max_examples=1000, deadline=None)
def test_ascii_term_counts_equal_the_pattern_path(text: str, lead: int) -> None:
    """The chunked ASCII path (str.split and counting) against the separator pattern's rows."""
    assert text.isascii()
    counts, rarity, names, opening = story_terms._ascii_term_counts(_clean(text), lead)
    expected = _summed(term_rows(text), lead)
    assert (counts, rarity, names, opening) == expected
    assert list(counts) == list(expected[0])  # type: ignore[call-overload]


def test_a_long_run_of_dots_is_read_once() -> None:
    """No pattern of the ASCII path backtracks over a run of breaks (a hostile feed's 200,000 dots)."""
    text = "Geneva " + "." * 200_000 + " x Talks"
    assert story_terms._ascii_term_counts(text, 3)[2] == {"talk"}


def test_term_counts_hold_when_the_word_cache_starts_over_within_a_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The remembered words are cleared when they grow past their bound, which can happen halfway
    through a text: its names are still found (not read back from the cleared cache)."""
    text = "Talks in Geneva went on. Officials from Korea and Japan met Rahman in Geneva on Tuesday."
    expected = term_counts(text, 3)
    monkeypatch.setattr(story_terms, "_STEMS_MAX", 2)
    story_terms._WORD_TERMS.clear()
    assert story_terms._ascii_term_counts(_clean(text), 3) == expected
    assert term_counts(text, 3) == expected


def test_typography_and_links_are_cleaned_as_before() -> None:
    text = "Le “président” — Sánchez’s talks\u00a0at https://x.example/a <br> www.y.example end"
    plain = text.translate(_TYPOGRAPHY)
    expected = _URL.sub(" ", unicodedata.normalize("NFKC", plain).replace("’", "'"))
    assert _clean(text) == expected
    assert _clean("plain ascii, no links") == "plain ascii, no links"
