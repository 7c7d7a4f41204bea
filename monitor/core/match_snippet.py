"""Snippets of a hit: about SNIPPET_CHARS of the field where the most distinct terms occur close together,
white space collapsed, ``…`` where text was cut, and the hits marked (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

SNIPPET_CHARS = 200
HIGHLIGHT = ("**", "**")

_SPACE_RE = re.compile(r"\s+")


def _collapse(text: str) -> str:
    return _SPACE_RE.sub(" ", text)


def _snippet(text: str, occurrences: list[tuple[int, int, str]]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """About SNIPPET_CHARS of ``text`` around the most distinct terms, and where the terms are in it."""
    occurrences = sorted(occurrences)
    if occurrences:
        best: tuple[int, int, int] = (-1, 0, 0)
        chosen = (0, 1)
        for i, (start, _, _) in enumerate(occurrences):
            # The window from this occurrence: its distinct terms, how close they are, how many hits.
            seen: set[str] = set()
            closest = stop = i
            while stop < len(occurrences) and (stop == i or occurrences[stop][1] <= start + SNIPPET_CHARS):
                if occurrences[stop][2] not in seen:
                    seen.add(occurrences[stop][2])
                    closest = stop
                stop += 1
            score = (len(seen), start - occurrences[closest][1], stop - i)
            if score > best:
                best, chosen = score, (i, stop)
        inside = occurrences[chosen[0] : chosen[1]]
        low, high = inside[0][0], max(end for _, end, _ in inside)
    else:
        inside = []
        low = high = len(text) - len(text.lstrip())
    begin = max(0, low - max(0, SNIPPET_CHARS - (high - low)) // 3)
    finish = min(len(text), max(high, begin + SNIPPET_CHARS))
    if finish - begin < SNIPPET_CHARS:
        begin = max(0, min(low, finish - SNIPPET_CHARS))
    if 0 < begin < low and not text[begin - 1].isspace():  # start at a word
        space = _SPACE_RE.search(text, begin, low)
        if space is not None:
            begin = space.end()
    if high < finish < len(text) and not text[finish].isspace():  # end at a word
        spaces = [space.start() for space in _SPACE_RE.finditer(text, high, finish)]
        if spaces:
            finish = spaces[-1]
    while begin < low and text[begin].isspace():
        begin += 1
    while finish > high and text[finish - 1].isspace():
        finish -= 1
    pieces: list[str] = ["…"] if text[:begin].strip() else []
    length = len(pieces)
    highlights: list[tuple[int, int]] = []
    position = begin
    for start, end in _merge((s, e) for s, e, _ in inside):
        before = _collapse(text[position:start])
        marked = _collapse(text[start:end])
        length += len(before)
        highlights.append((length, length + len(marked)))
        length += len(marked)
        pieces += (before, marked)
        position = end
    pieces.append(_collapse(text[position:finish]))
    if text[finish:].strip():
        pieces.append("…")
    return "".join(pieces), tuple(highlights)


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _mark(snippet: str, highlights: Sequence[tuple[int, int]]) -> str:
    opening, closing = HIGHLIGHT
    pieces: list[str] = []
    position = 0
    for start, end in highlights:
        pieces += (snippet[position:start], opening, snippet[start:end], closing)
        position = end
    pieces.append(snippet[position:])
    return "".join(pieces)
