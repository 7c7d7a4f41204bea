"""text: ASCII text splits into the tokens the word pattern finds (separators made spaces, then split), and
remembered stems are Snowball's."""

from __future__ import annotations

import pytest
import Stemmer
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.core import text
from monitor.core.text import _WORD_RE, stem_words, token_line, tokenize, words

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


def test_stems_are_snowball_s_with_repeats_and_a_full_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    words_ = ["troops", "running", "troops", "korea", "ran", "runs", "running", "войска", "войсками"]
    for language, algorithm in (("en", "english"), ("ru", "russian")):
        expected = Stemmer.Stemmer(algorithm).stemWords(words_)
        assert stem_words(language, words_) == expected
        assert stem_words(language, words_[::-1]) == expected[::-1]
        monkeypatch.setattr(text, "_STEMS_MAX", 3)
        assert stem_words(language, ["new", *words_]) == Stemmer.Stemmer(algorithm).stemWords(
            ["new", *words_]
        )
        assert stem_words(language, []) == []
        monkeypatch.undo()


@given(_ASCII | _WORDY | st.text(max_size=40))
@example("")
@example(" ")
@example("a b")
@example(" a b")
@example("a, b")
@example("Sánchez ok")
@settings(max_examples=500, deadline=None)
def test_token_line_is_the_tokens_one_space_apart(text: str) -> None:
    line, tokens = token_line(text)
    expected = tokenize(text)
    assert line == (" " + " ".join(expected) + " " if expected else "")
    assert (line[1:-1].split(" ") if line else []) == expected
    assert tokens is None or tokens == expected
