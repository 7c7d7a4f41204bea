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
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from monitor.core.story_terms import RARITY_CEILING, term_rows
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

    def to_json(self) -> str:
        """Compact, stable JSON: {"a": id, "s": source, "p": ISO time, "t": [[term, weight, flags], ...],
        "w": [[what word, rarity], ...]} with flags 1 (title word) and 2 (name); a title word or name
        carries its rarity as a 4th item."""
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
    counts: dict[str, float] = {}
    rarity: dict[str, float] = {}
    names: set[str] = set()
    title_terms = term_rows(doc.title)
    title_names = not _is_title_case(doc.title)
    for term, rare, name in title_terms:
        counts[term] = counts.get(term, 0.0) + TITLE_WEIGHT
        rarity.setdefault(term, rare)
        if name and title_names:
            names.add(term)
    opening: set[str] = {term for term, _, _ in title_terms}
    # The body in bulk (same sums: whole numbers add up exactly in any order; same first rarity).
    body = term_rows(_BOILERPLATE.sub(" ", doc.body))
    for term, count in Counter([row[0] for row in body]).items():
        counts[term] = counts.get(term, 0.0) + count
    for term, rare in {term: rare for term, rare, _ in reversed(body)}.items():
        rarity.setdefault(term, rare)
    names.update([term for term, _, name in body if name])
    opening.update([row[0] for row in body[:LEAD_TERMS]])
    weights = {
        term: round((1.0 + math.log(count)) * rarity[term] * (NAME_WEIGHT if term in names else 1.0), 2)
        for term, count in counts.items()
    }
    kept_names = sorted(names, key=lambda t: (-weights[t], t))[:MAX_NAMES]
    title = {term for term, _, _ in title_terms if rarity[term] > 0.0}
    heaviest = sorted(weights, key=lambda t: (-weights[t], t))[:MAX_TERMS]
    what = {
        t
        for t in opening
        if t not in names and t[0] != "#" and 0.0 < rarity[t] < RARITY_CEILING and weights[t] > 0.0
    }
    kept = set(heaviest) | title | set(kept_names)
    return StoryFeatures(
        doc.article_id,
        doc.source,
        doc.published,
        tuple(sorted((t, weights[t]) for t in kept if weights[t] > 0.0)),
        tuple(sorted((t, round(rarity[t], 2)) for t in title)),
        tuple(sorted((t, round(rarity[t], 2)) for t in kept_names)),
        tuple(sorted((t, round(rarity[t], 2)) for t in what)),
    )
