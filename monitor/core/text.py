"""Text folding and tokenisation for watch matching (pure; the query side and the article side share it).

Folding makes matching case-, accent- and width-insensitive:

- lower-case, then (only when the text needs it) NFKC (full-width letters, ligatures, superscripts),
  full case folding (``ß`` -> ``ss``, final sigma), and removal of diacritics: the combining marks of
  Latin, Greek and Cyrillic (``é`` -> ``e``), Hebrew points and Arabic harakat;
- Cyrillic: ``ё`` folds to ``е`` (Russian writes either), while ``й`` and ``ў`` keep their breve
  (``й`` is a letter of its own, not an accented ``и``: ``мой`` and ``мои`` stay different words).

A token is a maximal run of letters and digits (Unicode-aware; ``_`` and punctuation separate), so
``"north korea"`` does not match "North Korean" and ``Korea's`` gives ``korea`` and ``s``. The vowel signs of
Indic and South-East Asian scripts stay inside their words, and every Chinese or Japanese character is a
token of its own (those scripts do not separate words), so a query of several of them works as a phrase.

The common case costs two C-level passes (``lower`` and a search for characters needing more work),
plus the tokenising regex; the rest runs only for text that needs it.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import cache
from itertools import islice
from typing import NamedTuple

import Stemmer


def _char_class(chars: list[int]) -> str:
    ranges: list[list[int]] = []
    for c in chars:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return "".join(re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b))) for a, b in ranges)


# Diacritics removed by folding: combining marks of Latin, Greek and Cyrillic, Hebrew points, Arabic harakat.
_STRIP_RANGES = (
    (0x0300, 0x036F),
    (0x0483, 0x0489),
    (0x0591, 0x05BD),
    (0x05BF, 0x05BF),
    (0x05C1, 0x05C2),
    (0x05C4, 0x05C5),
    (0x05C7, 0x05C7),
    (0x0610, 0x061A),
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x06D6, 0x06DC),
    (0x06DF, 0x06E4),
    (0x06E7, 0x06E8),
    (0x06EA, 0x06ED),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xA66F, 0xA67D),
    (0xFE20, 0xFE2F),
)
_BREVE = 0x0306
_KEEPS_BREVE = "иу"  # й and ў are letters of their own, not accented и and у
_STRIP_SET = frozenset(chr(c) for a, b in _STRIP_RANGES for c in range(a, b + 1))
_STRIP_RE = re.compile(
    f"[{_char_class(sorted(ord(c) for c in _STRIP_SET if ord(c) != _BREVE))}]"
    f"|(?<![{_KEEPS_BREVE}]){chr(_BREVE)}"
)

# Scripts whose words carry combining vowel signs, and Chinese/Japanese (one token per character).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_MARK_SCRIPTS = ((0x0700, 0x1CFF), (0xA800, 0xABFF), (0x11000, 0x11FFF))
_SPECIAL_RE = re.compile("[" + _CJK + "".join(f"{chr(a)}-{chr(b)}" for a, b in _MARK_SCRIPTS) + "]")
_WORD_RE = re.compile(r"[^\W_]+")
_CHUNK_RE = re.compile(r"\S+")
_EDGE_RE = re.compile(r"^[\W_]*(.*?)[\W_]*$", re.DOTALL)


class Token(NamedTuple):
    """A folded token and where it came from: ``text[start:end]`` of the original text."""

    text: str
    start: int
    end: int


@cache
def _needs_re() -> re.Pattern[str]:
    """Characters (of lower-cased text) that folding may change or compose: anything else is kept as is."""
    needs: set[int] = set()
    for c in range(0x80, 0x10000):
        if 0xD800 <= c < 0xE000:
            continue
        ch = chr(c)
        decomposition = unicodedata.decomposition(ch)
        if decomposition.startswith("<"):
            needs.add(c)  # a compatibility character: NFKC changes it
        elif decomposition:
            nfd = unicodedata.normalize("NFD", ch)
            needs.update(ord(m) for m in nfd[1:])  # may compose with the character before it
            if (
                not unicodedata.is_normalized("NFC", ch)
                or ch.casefold() != ch
                or any(m in _STRIP_SET for m in nfd)
            ):
                needs.add(c)
        elif ch in _STRIP_SET or unicodedata.combining(ch) or ch.casefold() != ch:
            needs.add(c)
    needs.update(range(0x1161, 0x1176), range(0x11A8, 0x11C3))  # Hangul vowels and finals compose
    return re.compile(f"[{_char_class(sorted(needs))}]")


@cache
def _special_word_re() -> re.Pattern[str]:
    """Tokens for text in scripts with combining vowel signs, and one token per Chinese/Japanese character."""
    marks = [
        c
        for a, b in _MARK_SCRIPTS
        for c in range(a, b + 1)
        if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me")
    ]
    return re.compile(f"[{_CJK}]|(?:[^\\W_{_CJK}]|[{_char_class(marks)}])+")


def _full_fold(lowered: str) -> str:
    text = unicodedata.normalize("NFKC", lowered).casefold()
    text = _STRIP_RE.sub("", unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Fold text for matching: lower-case, NFKC, case folding, diacritics removed (keeping й)."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    if max(lowered) < "\U00010000" and _needs_re().search(lowered) is None:
        return lowered
    return _full_fold(lowered)


def _word_re(folded: str) -> re.Pattern[str]:
    if folded.isascii() or _SPECIAL_RE.search(folded) is None:
        return _WORD_RE
    return _special_word_re()


# ASCII text's separators made spaces: its tokens are then what str.split() gives (for ASCII characters,
# [^\W_] is [0-9A-Za-z], and every other ASCII character becomes a space): the regex cost three times more.
_ASCII_SPACES = str.maketrans({c: " " for c in range(128) if not chr(c).isalnum()})


def words(folded: str) -> list[str]:
    """The tokens of already folded text."""
    if folded.isascii():
        return folded.translate(_ASCII_SPACES).split()
    return _word_re(folded).findall(folded)


def tokenize(text: str) -> list[str]:
    """The folded tokens of text, in order."""
    return words(fold(text))


def token_line(text: str) -> tuple[str, list[str] | None]:
    """The folded tokens of text as one line, " tok tok " (a space before each and after the last; "" for
    none), and the tokens: None when they were not split out. ASCII text whose separators are single spaces
    (once its other characters are made spaces) is that line already, less the outer spaces, so matching
    need not split it into a string per word and join them again (`_View` splits it only when a watch hits)."""
    folded = fold(text)
    if folded.isascii():
        spaced = folded.translate(_ASCII_SPACES)
        if spaced[:1] != " " and spaced[-1:] != " " and "  " not in spaced:
            return (f" {spaced} ", None) if spaced else ("", [])
        tokens = spaced.split()
    else:
        tokens = _word_re(folded).findall(folded)
    return (" " + " ".join(tokens) + " " if tokens else ""), tokens


def tokens_with_offsets(text: str) -> list[Token]:
    """Tokens with their character offsets in ``text``, aligned one to one with ``tokenize(text)``.

    Where folding changes a word's length (``ß`` -> ``ss``, ligatures), a token points at its whole word.
    """
    folded = fold(text)
    if len(folded) == len(text) and (folded.isascii() or folded == text.lower()):
        return [Token(m.group(), m.start(), m.end()) for m in _word_re(folded).finditer(folded)]
    found: list[Token] = []
    for chunk in _CHUNK_RE.finditer(text):
        word = chunk.group()
        folded_word = fold(word)
        matches = list(_word_re(folded_word).finditer(folded_word))
        if not matches:
            continue
        base = chunk.start()
        if len(folded_word) == len(word):
            found.extend(Token(m.group(), base + m.start(), base + m.end()) for m in matches)
        else:
            edge = _EDGE_RE.match(word)
            if edge and edge.end(1) > edge.start(1):
                start, end = base + edge.start(1), base + edge.end(1)
            else:  # no word character of its own (㋿ folds to two): the token points at the whole chunk
                start, end = base, chunk.end()
            found.extend(Token(m.group(), start, end) for m in matches)
    return found


def token_spans_at(text: str, indices: Iterable[int]) -> dict[int, tuple[int, int]] | None:
    """``(start, end)`` of the tokens at these indices, as ``tokens_with_offsets(text)`` gives them; None
    when folding changes the text's length (then only the full ``tokens_with_offsets`` lines them up).

    For matching, which needs the offsets of a few hits: the regex iterator skips the tokens before each
    one in C, where building every token's offsets cost a sixth of a parse worker's time.
    """
    folded = fold(text)
    if len(folded) != len(text) or not (folded.isascii() or folded == text.lower()):
        return None
    found = _word_re(folded).finditer(folded)
    spans: dict[int, tuple[int, int]] = {}
    at = 0  # the index of the next token the iterator gives
    for index in sorted(set(indices)):
        match = next(islice(found, index - at, None), None)
        if match is None:
            break
        spans[index] = match.span()
        at = index + 1
    return spans


STEM_LANGUAGES = {"en": "english", "ru": "russian"}
_local = threading.local()


def stemmer_name(language: str) -> str:
    """The Snowball algorithm for a stem setting (``en``, ``ru`` or a Snowball name); ValueError if none."""
    name = STEM_LANGUAGES.get(language, language)
    if name not in Stemmer.algorithms():
        known = ", ".join(STEM_LANGUAGES)
        raise ValueError(f"unknown stemming language '{language}' (use {known})")
    return name


_STEMS_MAX = 200_000  # stems remembered per language and thread; start over past this


def _stemmer(language: str) -> tuple[Stemmer.Stemmer, dict[str, str]]:
    stemmers: dict[str, tuple[Stemmer.Stemmer, dict[str, str]]] | None = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    found = stemmers.get(language)
    if found is None:
        found = stemmers[language] = (Stemmer.Stemmer(stemmer_name(language)), {})
    return found


def stem_words(language: str, tokens: list[str]) -> list[str]:
    """Stem folded tokens with Snowball (one stemmer per thread: PyStemmer's are not thread-safe).

    Each distinct word is stemmed once and its stem remembered (news repeats its words): the tokens then
    map to their stems in C, where stemming every token of every article was half of matching."""
    stemmer, known = _stemmer(language)
    try:
        return list(map(known.__getitem__, tokens))
    except KeyError:
        new = [word for word in dict.fromkeys(tokens) if word not in known]
        if len(known) + len(new) > _STEMS_MAX:
            known.clear()
            new = list(dict.fromkeys(tokens))
        known.update(zip(new, stemmer.stemWords(new), strict=True))
        return list(map(known.__getitem__, tokens))
