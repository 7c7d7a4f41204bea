"""An article as story grouping sees it (pure): `features` reduces a title and body to weighted terms.

Words are folded, stop words dropped and stemmed by script (story_terms.py), each weighed by its rarity in
the language at large (wordfreq), not in the local index; title words count double and names (capitalised
inside a sentence, Latin or Cyrillic) half again. The title words, names and the `what` words of the title
and opening (neither names nor figures) are kept apart, with their rarity: stories.py scores them as the
evidence that separates an event from a topic. Features are plain, picklable and stored as JSON, so a
start loads the index without re-deriving it. May import the core only.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring
from math import isfinite
from operator import itemgetter

from monitor.core.story_terms import RARITY_CEILING, term_counts, term_rows
from monitor.models import crosses_processes

TITLE_WEIGHT = 2.0  # a title word counts as two body occurrences
NAME_WEIGHT = 1.5  # capitalised inside a sentence: names of people, places, bodies
MAX_TERMS = 48  # heaviest terms kept per article (with every title word and the heaviest names)
MAX_NAMES = 16
LEAD_TERMS = 25  # the body's first terms, with the title, are its opening (the `what` words come from it)
# Feed boilerplate, not the article's words: CMS shortcodes ("[time-brightcove not-tgx=true]"), the
# WordPress footer ("The post <title> appeared first on <site>.") and a closing "read more" link.
_BOILERPLATE = re.compile(
    r"\[[a-z]\w*-[\w-]*(?:\s[^\]\n]*)?\]|\[[a-z][\w-]*\s[^\]\n]*=[^\]\n]*\]"
    r"|^The post .{1,400}? appeared first on [^\n]{1,80}$"
    r"|^(?:Seguir leyendo|Continue reading|Read more|Read the full story)\W{0,3}$",
    re.MULTILINE | re.IGNORECASE,
)
# What every match of _BOILERPLATE holds: a "[" or, lower-cased, one of these (re.IGNORECASE also reads
# "ſ" as s and "İ"/"ı" as i, which lower() does not: a text with one of those runs the pattern anyway).
_BOILERPLATE_WORDS = (
    "appeared first on",
    "seguir leyendo",
    "continue reading",
    "read more",
    "read the full story",
)
_OTHER_CASE_FORMS = ("\u017f", "\u0130", "\u0131")


def strip_boilerplate(text: str) -> str:
    """The text with feed boilerplate blanked out; the pattern runs only when it can match (most feed text
    has none: searching for it cost a sixth of `features`)."""
    if "[" not in text:
        lower = text.lower()
        if not any(word in lower for word in _BOILERPLATE_WORDS) and (
            text.isascii() or not any(form in text for form in _OTHER_CASE_FORMS)
        ):
            return text
    return _BOILERPLATE.sub(" ", text)


_second = itemgetter(1)
_FLOAT = {float}
# Weights and rarities repeat: their JSON (float.__repr__, as json writes a float) remembered. Not for 0.0,
# which is one key with -0.0.
_FLOAT_TEXT: dict[float, str] = {}


def _float(number: float) -> str:
    text = float.__repr__(number)
    if number != 0.0:
        if len(_FLOAT_TEXT) >= 200_000:
            _FLOAT_TEXT.clear()
        _FLOAT_TEXT[number] = text
    return text


_QUOTED: dict[str, str] = {}


def _quoted(text: str) -> str:
    """A string as json.dumps(ensure_ascii=False) writes it (terms repeat: remembered)."""
    quoted = _QUOTED.get(text)
    if quoted is None:
        quoted = encode_basestring(text)
        if len(_QUOTED) >= 200_000:
            _QUOTED.clear()
        _QUOTED[text] = quoted
    return quoted


@dataclass(frozen=True, slots=True)
class StoryDoc:
    """One article as grouping sees it; `published` is timezone-aware (the fetch time if the page has none)."""

    article_id: int
    source: str
    title: str
    body: str
    published: datetime


@crosses_processes
@dataclass(frozen=True, slots=True)
class StoryFeatures:
    """What grouping keeps of an article: weighted terms sorted by term, and which of them are title words
    (with their rarity) and names. Plain, picklable, and stored as JSON (`to_json`)."""

    article_id: int
    source: str
    published: datetime
    terms: tuple[tuple[str, float], ...]
    title: tuple[tuple[str, float], ...] = ()
    names: tuple[tuple[str, float], ...] = ()
    what: tuple[tuple[str, float], ...] = ()  # words of the title and opening that are no name or figure

    def with_article_id(self, article_id: int) -> StoryFeatures:
        """`dataclasses.replace(self, article_id=article_id)` without its per-call field introspection (the
        writer gives every parse worker's features their stored id)."""
        return StoryFeatures(
            article_id, self.source, self.published, self.terms, self.title, self.names, self.what
        )

    def to_json(self) -> str:
        """Compact, stable JSON: {"a": id, "s": source, "p": ISO time, "t": [[term, weight, flags], ...],
        "w": [[what word, rarity], ...]} with flags 1 (title word) and 2 (name); a title word or name
        carries its rarity as a 4th item.

        Written out directly, as json.dumps(ensure_ascii=False, separators=(",", ":")) writes it (the
        same string escaping, float and int repr), at a third of its cost; `_to_json_reference` writes it
        the plain way, and writes what the direct way does not (NaN, Infinity, numbers that are no floats)."""
        try:
            return self._to_json_direct()
        except (TypeError, OverflowError):  # a number that is no float: not what `features` makes
            return self._to_json_reference()

    def _to_json_direct(self) -> str:
        title, names = dict(self.title), dict(self.names)
        numbers = (*title.values(), *names.values(), *map(_second, self.terms), *map(_second, self.what))
        if not set(map(type, numbers)) <= _FLOAT or type(self.article_id) is not int:
            raise TypeError("a number that is no float, or an id that is no int (json writes True as true)")
        if not isfinite(sum(numbers)):
            raise OverflowError("not finite")
        text = _FLOAT_TEXT.get
        rows: list[str] = []
        append = rows.append
        for term, weight in self.terms:
            in_title = term in title
            if in_title or term in names:
                flags = (1 if in_title else 0) | (2 if term in names else 0)
                rarity = title[term] if in_title else names[term]
                append(
                    f"[{_quoted(term)},{text(weight) or _float(weight)},{flags},"
                    f"{text(rarity) or _float(rarity)}]"
                )
            else:
                append(f"[{_quoted(term)},{text(weight) or _float(weight)},0]")
        head = f'{{"a":{int.__repr__(self.article_id)},"s":{_quoted(self.source)},'
        head += f'"p":{_quoted(self.published.isoformat())},"t":[{",".join(rows)}]'
        if not self.what:
            return head + "}"
        what = ",".join([f"[{_quoted(term)},{text(rarity) or _float(rarity)}]" for term, rarity in self.what])
        return f'{head},"w":[{what}]}}'

    def _to_json_reference(self) -> str:
        """`to_json` by json.dumps (tests hold the direct one to it)."""
        title, names = dict(self.title), dict(self.names)
        rows: list[list[object]] = []
        for term, weight in self.terms:
            flags = (1 if term in title else 0) | (2 if term in names else 0)
            row: list[object] = [term, weight, flags]
            if flags:
                row.append(title.get(term, names.get(term)))
            rows.append(row)
        doc: dict[str, object] = {"a": self.article_id, "s": self.source, "p": self.published.isoformat()}
        doc["t"] = rows
        if self.what:
            doc["w"] = [[term, rarity] for term, rarity in self.what]
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> StoryFeatures:
        """The features `to_json` wrote (ValueError if `text` is not such a document)."""
        try:
            doc = json.loads(text)
            rows = [
                (sys.intern(str(r[0])), float(r[1]), int(r[2]), float(r[3]) if len(r) > 3 else 0.0)
                for r in doc["t"]
            ]
            return cls(
                int(doc["a"]),
                str(doc["s"]),
                datetime.fromisoformat(doc["p"]),
                tuple((t, w) for t, w, _, _ in rows),
                tuple((t, r) for t, _, f, r in rows if f & 1),
                tuple((t, r) for t, _, f, r in rows if f & 2),
                tuple((sys.intern(str(t)), float(r)) for t, r in doc.get("w", ())),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"not stored story features: {exc}") from exc


def _is_title_case(title: str) -> bool:
    """Headline Style Capitalises Most Words: then a capital in the title says nothing about names."""
    words = [w for w in title.split() if w[:1].isalpha()]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.6 * len(words)


def features(doc: StoryDoc) -> StoryFeatures:
    """Weighted terms of an article: sublinear tf times rarity; title words count double, names half again."""
    title_terms = term_rows(doc.title)
    # The body's counts and rarities copied whole and the title's few rows added to them (same sums: whole
    # numbers add up exactly in any order, and a count weighs the same as an int or a float; a title row's
    # rarity first, as the title is read before the body).
    body_counts, body_rarity, body_names, lead = term_counts(strip_boilerplate(doc.body), LEAD_TERMS)
    counts: dict[str, float] = dict(body_counts)
    rarity = dict(body_rarity)
    names = set(body_names)
    title_rarity: dict[str, float] = {}
    title_names = not _is_title_case(doc.title)
    for term, rare, name in title_terms:
        counts[term] = counts.get(term, 0) + TITLE_WEIGHT
        title_rarity.setdefault(term, rare)
        if name and title_names:
            names.add(term)
    rarity.update(title_rarity)
    opening: set[str] = {term for term, _, _ in title_terms}
    opening.update(lead)
    weights = {term: _weight(count, rarity[term], term in names) for term, count in counts.items()}
    # Heaviest first, ties by term: the terms sorted, then stably by weight (reverse keeps ties in order).
    order = sorted(sorted(weights), key=weights.__getitem__, reverse=True)
    kept_names = [t for t in order if t in names][:MAX_NAMES] if names else []
    title = {term for term, _, _ in title_terms if rarity[term] > 0.0}
    what = {
        t
        for t in opening
        if t not in names and t[0] != "#" and 0.0 < rarity[t] < RARITY_CEILING and weights[t] > 0.0
    }
    kept = set(order[:MAX_TERMS]) | title | set(kept_names)
    return StoryFeatures(
        doc.article_id,
        doc.source,
        doc.published,
        tuple([(t, weights[t]) for t in sorted(kept) if weights[t] > 0.0]),
        tuple([(t, _round(rarity[t])) for t in sorted(title)]),
        tuple([(t, _round(rarity[t])) for t in sorted(kept_names)]),
        tuple([(t, _round(rarity[t])) for t in sorted(what)]),
    )


# Weights and rounded rarities repeat (a term's count is a small number, its rarity one of a vocabulary's):
# remembered, as round(x, 2) costs more than the rest of a term's weighing.
_WEIGHTS: dict[tuple[float, float, bool], float] = {}
_ROUNDED: dict[float, float] = {}
_CACHE_MAX = 200_000


def _weight(count: float, rarity: float, name: bool) -> float:
    """A term's weight: sublinear tf times rarity, names half again, to two decimals."""
    key = (count, rarity, name)
    weight = _WEIGHTS.get(key)
    if weight is None:
        weight = round((1.0 + math.log(count)) * rarity * (NAME_WEIGHT if name else 1.0), 2)
        if len(_WEIGHTS) >= _CACHE_MAX:
            _WEIGHTS.clear()
        _WEIGHTS[key] = weight
    return weight


def _round(rarity: float) -> float:
    rounded = _ROUNDED.get(rarity)
    if rounded is None:
        rounded = round(rarity, 2)
        if len(_ROUNDED) >= _CACHE_MAX:
            _ROUNDED.clear()
        _ROUNDED[rarity] = rounded
    return rounded
