"""story_terms: the ASCII fast path tokenises exactly as the general pattern does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core import story_terms
from monitor.core.story_terms import _ASCII_SEP_TOKEN, _SEP_TOKEN, term_rows

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
