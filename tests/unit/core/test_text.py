"""text: ASCII text splits into the tokens the word pattern finds (separators made spaces, then split)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.core.text import _WORD_RE, tokenize, words

_ASCII = st.text(alphabet=st.characters(max_codepoint=127), max_size=80)
_WORDY = st.text(alphabet=st.sampled_from(list("aZ09_ -'.,\t\n\x1c\x1f\x0b\x00\x7f")), max_size=40)


@given(_ASCII | _WORDY)
@example("North_Korea's troops,\x1cleft\tat 12.5\x7f")
@settings(max_examples=500, deadline=None)
def test_ascii_text_splits_into_the_word_pattern_s_tokens(text: str) -> None:
    if text.isascii():
        assert words(text) == _WORD_RE.findall(text)
        assert tokenize(text) == _WORD_RE.findall(text.lower())


def test_other_text_still_takes_the_pattern() -> None:
    assert tokenize("Sánchez’s “deal” — 北京 ok") == ["sanchez", "s", "deal", "北", "京", "ok"]
