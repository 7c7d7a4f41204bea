"""Words to story terms (pure): folding, stop words, stemming by script, names, figures and rarity.

Rarity comes from the `wordfreq` package's frequency tables (Zipf scale, English and Russian), so a
fresh archive of a few hundred articles already weighs "Rahman" (3.3) above "minister" (5.0): the weight
of a term does not depend on what happens to be indexed. Its "small" lists: they load in 0.14 s and
about 28 MB where the default ("large") ones take 4.4 s and 173 MB in every process that computes
features; a word rarer than they list (Zipf below about 3) weighs the most, as an unknown word does.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.core.stopwords import STOPWORDS as _STOPWORDS
from monitor.core.text import fold, stem_words

_URL = re.compile(r"(?:https?://|www\.)\S+|<[^>\s]+>")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)*")
# Between two tokens, any of these means the next token may start a sentence (so its capital says nothing).
_SENTENCE_BREAK = re.compile(r"[.!?:;\"“”«»\n(\[—–]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


_STEMS_MAX = 200_000  # news vocabulary repeats: remember token terms, start over if they grow past this


def _stem(word: str) -> str:
    """A folded word's Snowball stem by script (monitor/core/text.py's thread-safe stemmers, which remember
    each word's stem)."""
    if _CYRILLIC.search(word):
        return stem_words("ru", [word])[0]
    if word.isascii():
        return stem_words("en", [word])[0]
    return word


_TYPOGRAPHY = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
        "—": ";",
        "–": ";",
        "\u00a0": " ",
    }  # dashes still break sentences
)


_TYPOGRAPHY_PAIRS = tuple((chr(k), v) for k, v in _TYPOGRAPHY.items() if isinstance(v, str))


def _prepare(text: str) -> str:
    """Typographic apostrophes and quotes made plain, dashes made sentence breaks, and NFKC (so a word is
    one token as written, its case kept for telling names); accents go when a token is folded.

    ASCII text has none of those characters; other text has them replaced one by one (str.translate with
    a dict looked every character of a non-ASCII text up: a third of term_rows on real feeds)."""
    if text.isascii():
        return text
    for typographic, plain in _TYPOGRAPHY_PAIRS:
        if typographic in text:
            text = text.replace(typographic, plain)
    return text if text.isascii() else unicodedata.normalize("NFKC", text).replace("’", "'")


def _clean(text: str) -> str:
    """The text as tokens are read from it: prepared, links and tags blanked (the link pattern runs only
    when the text holds what every match starts with: ``://``, ``www.`` or ``<``)."""
    text = _prepare(text)
    if "://" in text or "www." in text or "<" in text:
        text = _URL.sub(" ", text)
    return text


_SEP_TOKEN = re.compile(r"(.*?)(" + _TOKEN.pattern + ")", re.DOTALL)
# The same for ASCII text (most news once typography is plain), a third cheaper: for ASCII characters
# \d is [0-9] and [^\W\d_] is [A-Za-z], and every letter or digit starts a token, so the separator is
# the run of other characters before it.
_ASCII_SEP_TOKEN = re.compile(r"([^0-9A-Za-z]*)([0-9]+(?:[.,][0-9]+)*|[A-Za-z]+(?:'[A-Za-z]+)*)")
_YEAR = re.compile(r"#(?:19|20)\d\d")
RARITY_CEILING = 7.0  # Zipf 7 is "the", "и": weight 0; a word wordfreq never saw weighs 7
NUMBER_RARITY = 4.0  # a figure such as 1,500 or 12.5 (years and small counts weigh less)
SMALL_NUMBER_RARITY = 1.0


@dataclass(frozen=True, slots=True)
class Term:
    """A salient token as written in a text: its term (a stem, or '#1500' for a figure), its rarity
    (RARITY_CEILING minus its Zipf frequency), and whether it is capitalised inside a sentence."""

    term: str
    rarity: float
    name: bool


_CLITICS = frozenset(("s", "re", "ve", "ll", "d", "m"))
_WORD_TERMS: dict[str, tuple[str, float] | None] = {}  # a token as written -> (term, rarity); None: stop


_INFLECTIONS = (
    ("s", ""),
    ("es", ""),
    ("ies", "y"),
    ("ed", ""),
    ("ed", "e"),
    ("d", ""),
    ("ing", ""),
    ("ing", "e"),
    ("ly", ""),
    ("er", ""),
    ("ers", ""),
    ("ment", ""),
    ("ments", ""),
)
INFLECTED_LESS = 0.5  # an inflected form is a little rarer than its base


def _rarity(lower: str) -> float:
    import wordfreq  # on first use: 0.3 s of imports that commands computing no features skip

    lang = "ru" if _CYRILLIC.search(lower) else "en"
    zipf = wordfreq.zipf_frequency(lower, lang, wordlist="small")
    if zipf == 0.0 and lang == "en":
        # Not in the small list: an inflection of a listed word ("detains", "widens") is about as common
        # as its base, less a little; only a word none of whose bases is listed weighs as a name does.
        for suffix, add in _INFLECTIONS:
            if len(lower) > len(suffix) + 2 and lower.endswith(suffix):
                base = wordfreq.zipf_frequency(lower[: -len(suffix)] + add, lang, wordlist="small")
                if base > 0.0:
                    zipf = max(zipf, base - INFLECTED_LESS)
    return max(0.0, RARITY_CEILING - zipf)


def _word_term(word: str) -> tuple[str, float] | None:
    found = _WORD_TERMS.get(word, ())
    if found != ():
        return found  # type: ignore[return-value]
    result: tuple[str, float] | None
    if word[0].isdigit():
        number = word.replace(",", "")
        number = number[:-2] if number.endswith(".0") else number
        term = "#" + number
        # isdecimal, not isdigit: int() refuses digits like '❶'; and no int() of a 12,000-digit run.
        small = _YEAR.fullmatch(term) is not None or (
            number.isdecimal() and len(number) <= 50 and int(number) < 100
        )
        result = (term, SMALL_NUMBER_RARITY if small else NUMBER_RARITY)
    else:
        lower = fold(word)  # lower-cased, accents dropped (Sánchez = sanchez, ё = е; й kept)
        head, apostrophe, tail = lower.rpartition("'")
        if apostrophe and tail in _CLITICS:  # Korea's, they're, we've: the word before it
            lower = head
        elif apostrophe and tail == "t":  # don't, can't, isn't: function words
            lower = ""
        result = None if len(lower) < 2 or lower in _STOPWORDS else (_stem(lower), _rarity(lower))
    if len(_WORD_TERMS) >= _STEMS_MAX:
        _WORD_TERMS.clear()
    _WORD_TERMS[word] = result
    return result


_MISSING = ()


def term_rows(text: str) -> list[tuple[str, float, bool]]:
    """`terms` as plain ``(term, rarity, name)`` tuples, for `features`: a Term object per token cost a
    tenth of a parse worker's time."""
    text = _clean(text)
    found: list[tuple[str, float, bool]] = []
    append = found.append
    known = _WORD_TERMS
    first = True
    pattern = _ASCII_SEP_TOKEN if text.isascii() else _SEP_TOKEN
    for separator, word in pattern.findall(text):
        got = known.get(word, _MISSING)
        if got is _MISSING:
            got = _word_term(word)
        if got is not None:
            term, rarity = got  # type: ignore[misc]
            append(
                (
                    term,
                    rarity,
                    not first
                    and word[0].isupper()
                    and term[0] != "#"
                    and (separator == " " or _SENTENCE_BREAK.search(separator) is None),
                )
            )
        first = False
    return found


_NAME_AFTER: dict[str, bool] = {}  # a separator -> whether a capital after it may be a name


def term_counts(text: str, lead: int) -> tuple[dict[str, int], dict[str, float], set[str], list[str]]:
    """`term_rows` summed up, for `features`: how many rows each term has, the rarity of its first row,
    the terms of rows that are names, and the terms of the first `lead` rows.

    Worked out per distinct (separator, token) pair rather than per token: whether a token is a name
    depends only on the pair (and on its being the text's first token), and the pairs come counted, in
    order of first occurrence, from C (news repeats its words: a third fewer iterations on real feeds).
    """
    text = _clean(text)
    if text.isascii():
        return _ascii_term_counts(text, lead)
    pairs = _SEP_TOKEN.findall(text)
    counts: dict[str, int] = {}
    rarity: dict[str, float] = {}
    names: set[str] = set()
    known = _WORD_TERMS
    name_after = _NAME_AFTER
    first = pairs[0] if pairs else None
    for pair, count in Counter(pairs).items():
        separator, word = pair
        got = known.get(word, _MISSING)
        if got is _MISSING:
            got = _word_term(word)
        if got is None:
            continue
        term, rare = got  # type: ignore[misc]
        if term in counts:
            counts[term] += count
        else:
            counts[term] = count
            rarity[term] = rare
        if word[0].isupper() and term[0] != "#" and (count > 1 or pair != first) and term not in names:
            after = name_after.get(separator)
            if after is None:
                after = separator == " " or _SENTENCE_BREAK.search(separator) is None
                if len(name_after) >= _STEMS_MAX:
                    name_after.clear()
                name_after[separator] = after
            if after:
                names.add(term)
    return counts, rarity, names, _opening((word for _, word in pairs), lead)


def _opening(words: Iterable[str], lead: int) -> list[str]:
    """The terms of the first `lead` words that have one (read no further than that)."""
    opening: list[str] = []
    if lead <= 0:
        return opening
    known = _WORD_TERMS
    for word in words:
        got = known.get(word, _MISSING)
        if got is _MISSING:
            got = _word_term(word)
        if got is not None:
            opening.append(got[0])  # type: ignore[misc]
            if len(opening) == lead:
                break
    return opening


# ASCII text in chunks: every character that is in no token and no number or apostrophe made a space, so
# str.split() gives runs of letters, digits and ' . , (each run's tokens are the pattern's tokens there).
_CHUNK_SPACES = str.maketrans({c: " " for c in range(128) if not chr(c).isalnum() and chr(c) not in "'.,"})
_ASCII_TOKEN = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[A-Za-z]+(?:'[A-Za-z]+)*")
_CHUNK_TOKENS: dict[str, tuple[str, ...]] = {}  # a chunk (not a known token as written) -> its tokens
# ASCII sentence breaks (_SENTENCE_BREAK) made "." and a capitalised token after a run holding one (after
# its last "." and no other dot: each character is read once, even in a long run of dots): the tokens that
# cannot be names where they stand.
_BREAKS_DOTS = str.maketrans({c: "." for c in '.!?:;"\n([' if c != "."})
_AFTER_BREAK = re.compile(r"\.[^0-9A-Za-z.]*([A-Z][A-Za-z]*(?:'[A-Za-z]+)*)")
_NO_BREAK_RUN = re.compile(r"[^0-9A-Za-z.!?:;\"\n(\[]*[A-Z]")


def _chunk_tokens(chunk: str) -> tuple[str, ...]:
    tokens = _CHUNK_TOKENS.get(chunk)
    if tokens is None:
        tokens = tuple(_ASCII_TOKEN.findall(chunk))
        if len(_CHUNK_TOKENS) >= _STEMS_MAX:
            _CHUNK_TOKENS.clear()
        _CHUNK_TOKENS[chunk] = tokens
    return tokens


def _ascii_term_counts(text: str, lead: int) -> tuple[dict[str, int], dict[str, float], set[str], list[str]]:
    """`term_counts` of ASCII text with str methods and two C passes instead of the separator pattern
    and a Counter of (separator, token) pairs (half of its cost on the bench feeds): tokens counted per distinct chunk (`_CHUNK_SPACES`), and names told by
    counting. A capitalised token stands as a name unless its separator holds a sentence break (then it
    directly follows a break's run: `_AFTER_BREAK` finds it) or it is the text's first token; a term is a
    name if one of its capitalised tokens stands as one: more such tokens than those that cannot.
    Tests hold it to `term_rows`."""
    chunks = text.translate(_CHUNK_SPACES).split()
    counts: dict[str, int] = {}
    rarity: dict[str, float] = {}
    capitals: dict[str, int] = {}  # capitalised tokens (words, not terms) and how many
    capital_terms: dict[str, str] = {}  # their terms (the word cache may be cleared while this text is read)
    known = _WORD_TERMS
    for chunk, count in Counter(chunks).items():
        got = known.get(chunk, _MISSING)  # most chunks are one token as written, its term known
        if got is _MISSING:  # or one with a comma, stop or apostrophe at an edge (no token's)
            got = known.get(chunk.strip("'.,"), _MISSING)
            if got is not _MISSING:
                chunk = chunk.strip("'.,")
        for word in (chunk,) if got is not _MISSING else _chunk_tokens(chunk):
            if got is _MISSING:
                got = known.get(word, _MISSING)
                if got is _MISSING:
                    got = _word_term(word)
            if got is not None:
                term = got[0]  # type: ignore[misc]
                if term in counts:
                    counts[term] += count
                else:
                    counts[term] = count
                    rarity[term] = got[1]  # type: ignore[misc]
                if "A" <= word[0] <= "Z":
                    capitals[word] = capitals.get(word, 0) + count
                    capital_terms[word] = term
            got = _MISSING
    names: set[str] = set()
    if capitals:
        blocked = Counter(_AFTER_BREAK.findall(text.translate(_BREAKS_DOTS)))
        opening_run = _NO_BREAK_RUN.match(text)  # the first token is capitalised, no break before it
        if opening_run is not None:
            first = _ASCII_TOKEN.match(text, opening_run.end() - 1)
            assert first is not None
            blocked[first.group()] += 1
        for word, count in capitals.items():
            if count > blocked.get(word, 0):
                names.add(capital_terms[word])
    words = (word for chunk in chunks for word in ((chunk,) if chunk in known else _chunk_tokens(chunk)))
    return counts, rarity, names, _opening(words, lead)


def terms(text: str) -> list[Term]:
    """The salient tokens of `text` in order: stems of non-stop words and figures as '#1500'. One regex
    pass and a cache of token terms: this runs for every new article."""
    return [Term(term, rarity, name) for term, rarity, name in term_rows(text)]
