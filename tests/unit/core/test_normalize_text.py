"""normalize_text: the ASCII shortcut (text returned as it is when already folded) writes what the plain
unescape, NFC and white-space fold writes."""

from __future__ import annotations

import html
import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.core.normalize import normalize_text

_SPACY = st.text(
    alphabet=st.sampled_from(list("a Z9&;.\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x00\x7f\x85\xa0é")), max_size=30
)


def _plain(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", html.unescape(text)).split())


@given(st.text(max_size=60) | _SPACY)
@example("a\x1cb")
@example(" a")
@example("a ")
@example("a  b")
@example("a &amp; b")
@example("e\u0301")
@settings(max_examples=800, deadline=None)
def test_normalize_text_is_the_plain_fold(text: str) -> None:
    assert normalize_text(text) == _plain(text)


def test_every_ascii_character_around_a_word() -> None:
    for code in range(128):
        text = f"a{chr(code)}b"
        assert normalize_text(text) == _plain(text), repr(text)
