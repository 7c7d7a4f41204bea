"""Compiled watches: every watch query in one matcher, then hits with the terms found and a snippet (pure).

How it is fast: each distinct term of every watch (folded, and stemmed for ``stem:`` watches) is one key of
an Aho-Corasick automaton per token stream (plain, and one per stemming language in use). An article is
folded and tokenised once per field; each stream is one automaton pass over ``" tok tok tok "``, where the
spaces make every key match whole words only (``" korea "``; a phrase is ``" north korea "``, a prefix
``" troop"``). The keys found select the candidate watches (each watch is indexed by one key or set of
alternative keys it cannot match without) and only those run their boolean check, which first tests the
keys the watch requires with one set operation. Word positions and snippets are computed only on demand.

The added-text rule (``match_new_version``): a new version of an article hits a watch when the new version
matches, the prior version did not, and the edit added text the query looks for: some term the query needs
(not under NOT) occurs more often in the new version than in the prior (in the same field), or a ``source:``
or ``tag:`` condition became true. An edit that adds "troops" to a "North Korea" article alerts a
``"north korea" troops`` watch; an unrelated edit of an article that matched before does not; an edit that
only deletes words (letting a ``NOT`` or a ``NEAR`` through) does not either.

Snippets are about 200 characters of the field (body preferred) where the most distinct terms occur
close together, white space collapsed, ``…`` where text was cut. ``WatchHit.snippet`` marks the terms hit
with ``**`` (Markdown bold); ``snippet_text`` and ``highlights`` hold the same without markers for renderers
that choose their own (HTML, ANSI).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from operator import itemgetter
from typing import Literal

import ahocorasick

from monitor.core.query import And, Field, Near, Node, Not, Phrase, Word, parse_query
from monitor.core.text import Token, fold, stem_words, stemmer_name, tokenize, tokens_with_offsets
from monitor.errors import QueryError, WatchQueryError

__all__ = [
    "SNIPPET_CHARS",
    "MatchDoc",
    "Matcher",
    "WatchHit",
    "WatchQueryError",
    "WatchSpec",
    "compile_watches",
    "parse_query",
]

SNIPPET_CHARS = 200
HIGHLIGHT = ("**", "**")

TITLE: Literal[0] = 0
BODY: Literal[1] = 1
_FIELDS = (TITLE, BODY)
PLAIN = ""  # the stream of unstemmed tokens; stemmed streams are named by their Snowball language


@dataclass(frozen=True)
class WatchSpec:
    """A watch as configured: its query, optional stemming (``en``, ``ru``) and sources (empty: all)."""

    name: str
    query: str
    stem: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatchDoc:
    """The text of one article version, as matching sees it."""

    title: str
    body: str
    source: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class WatchHit:
    """A watch that matched: the terms hit (as written in the article) and a snippet around them.

    ``snippet`` marks each hit as ``**term**``; ``highlights`` are ``[start, end)`` offsets of the same hits
    in the unmarked ``snippet_text``.
    """

    watch: str
    terms: tuple[str, ...]
    snippet: str
    snippet_text: str = ""
    highlights: tuple[tuple[int, int], ...] = ()


# --- the compiled form of a query -------------------------------------------------------------------------

Scope = Literal[0, 1] | None  # TITLE, BODY, or both


@dataclass(frozen=True)
class _Atom:
    """Words of the title or body text: one automaton key."""

    key: int
    scope: Scope


@dataclass(frozen=True)
class _Meta:
    """``source:`` or ``tag:`` compared with the whole (folded) value; exact values have a key."""

    kind: Literal["source", "tag"]
    value: str
    prefix: bool
    key: int | None


@dataclass(frozen=True)
class _Op:
    kind: Literal["and", "or", "not"]
    items: tuple[_Ir, ...]


@dataclass(frozen=True)
class _Near:
    left: _Ir
    right: _Ir
    distance: int


_Ir = _Atom | _Meta | _Op | _Near
_Pred = Callable[["_View"], bool]
_Spans = Callable[["_View", int], list[tuple[int, int]]]


@dataclass(frozen=True)
class _KeyInfo:
    stream: str
    pattern: str  # " north korea " (whole words) or " troop" (a prefix)
    tokens: int


@dataclass(frozen=True)
class _Watch:
    index: int
    name: str
    sources: frozenset[str]
    must: frozenset[int]  # keys that every match contains
    predicate: _Pred
    atoms: tuple[_Atom, ...]  # the text terms it looks for (not under NOT): for terms, snippets, added text
    metas: tuple[_Meta, ...]  # the same for source: and tag:


class _Compiler:
    """Turns queries into key ids (shared by all watches), predicates and the index of candidate keys."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], int] = {}
        self.infos: list[_KeyInfo | None] = []  # None for source:/tag: keys

    def key(self, stream: str, pattern: str, tokens: int) -> int:
        found = self.keys.get((stream, pattern))
        if found is None:
            found = self.keys[(stream, pattern)] = len(self.infos)
            self.infos.append(_KeyInfo(stream, pattern, tokens) if tokens else None)
        return found

    def lower(self, node: Node, stem: str | None, scope: str | None) -> _Ir:
        if isinstance(node, Word | Phrase):
            tokens = tokenize(node.text)
            if scope in ("source", "tag"):
                value = " ".join(tokens)
                key = None if node.prefix else self.key(scope, value, 0)
                return _Meta(scope, value, node.prefix, key)  # type: ignore[arg-type]
            stream = PLAIN
            if stem is not None and not node.prefix:
                stream, tokens = stem, stem_words(stem, tokens)
            pattern = " " + " ".join(tokens) + ("" if node.prefix else " ")
            field_scope: Scope = TITLE if scope == "title" else BODY if scope == "body" else None
            return _Atom(self.key(stream, pattern, len(tokens)), field_scope)
        if isinstance(node, Field):
            return self.lower(node.item, stem, node.name)
        if isinstance(node, Near):
            return _Near(
                self.lower(node.left, stem, scope), self.lower(node.right, stem, scope), node.distance
            )
        if isinstance(node, Not):
            return _Op("not", (self.lower(node.item, stem, scope),))
        kind: Literal["and", "or"] = "and" if isinstance(node, And) else "or"
        return _Op(kind, tuple(self.lower(item, stem, scope) for item in node.items))


def _must(ir: _Ir) -> frozenset[int]:
    """Keys present in every article the node matches."""
    if isinstance(ir, _Atom):
        return frozenset((ir.key,))
    if isinstance(ir, _Meta):
        return frozenset(() if ir.key is None else (ir.key,))
    if isinstance(ir, _Near):
        return _must(ir.left) | _must(ir.right)
    if ir.kind == "not":
        return frozenset()
    sets = [_must(item) for item in ir.items]
    return frozenset.union(*sets) if ir.kind == "and" else frozenset.intersection(*sets)


def _key_cost(info: _KeyInfo | None) -> float:
    """A guess at how often a key occurs, to index each watch by its rarest requirement."""
    if info is None:
        return 0.5  # a source or tag value: one per article
    length = max(len(info.pattern) - 2, 1)
    cost = 1.0 / length
    if not info.pattern.endswith(" "):
        cost *= 4  # a prefix matches many words
    return cost / 3.0 ** (info.tokens - 1)


def _trigger(ir: _Ir, infos: Sequence[_KeyInfo | None]) -> frozenset[int] | None:
    """Keys of which every match contains at least one (None: cannot tell, check every article)."""
    if isinstance(ir, _Atom):
        return frozenset((ir.key,))
    if isinstance(ir, _Meta):
        return None if ir.key is None else frozenset((ir.key,))
    if isinstance(ir, _Near):
        return _trigger(ir.left, infos)
    if ir.kind == "not":
        return None
    options = [_trigger(item, infos) for item in ir.items]
    if ir.kind == "or":
        return None if any(o is None for o in options) else frozenset.union(*options)  # type: ignore[arg-type]
    known = [o for o in options if o is not None]
    if not known:
        return None
    return min(known, key=lambda keys: sum(_key_cost(infos[k]) for k in keys))


def _positives(ir: _Ir, negated: bool = False) -> Iterable[_Atom | _Meta]:
    if isinstance(ir, _Atom | _Meta):
        if not negated:
            yield ir
    elif isinstance(ir, _Near):
        yield from _positives(ir.left, negated)
        yield from _positives(ir.right, negated)
    else:
        for item in ir.items:
            yield from _positives(item, negated != (ir.kind == "not"))


# --- predicates -------------------------------------------------------------------------------------------


def _predicate(ir: _Ir) -> _Pred:
    if isinstance(ir, _Atom):
        key = ir.key
        if ir.scope is None:
            return lambda v: key in v.found
        found_in = itemgetter(ir.scope)
        return lambda v: key in found_in(v.found_in)
    if isinstance(ir, _Meta):
        return _meta_predicate(ir)
    if isinstance(ir, _Near):
        return _near_predicate(ir)
    if ir.kind == "not":
        inner = _predicate(ir.items[0])
        return lambda v: not inner(v)
    plain = frozenset(item.key for item in ir.items if _is_plain(item))  # type: ignore[union-attr]
    rest = tuple(_predicate(item) for item in ir.items if not _is_plain(item))
    if ir.kind == "and":
        if not rest:
            return lambda v: plain <= v.found

        def all_of(v: _View) -> bool:
            if not plain <= v.found:
                return False
            return all(p(v) for p in rest)

        return all_of

    def any_of(v: _View) -> bool:
        if not plain.isdisjoint(v.found):
            return True
        return any(p(v) for p in rest)

    return any_of


def _is_plain(ir: _Ir) -> bool:
    """A condition that is just 'this key is in the article' (any text field, or an exact source/tag)."""
    return (isinstance(ir, _Atom) and ir.scope is None) or (isinstance(ir, _Meta) and ir.key is not None)


def _meta_predicate(ir: _Meta) -> _Pred:
    key, value = ir.key, ir.value
    if key is not None:
        return lambda v: key in v.found
    if ir.kind == "source":
        return lambda v: v.source.startswith(value)
    return lambda v: any(tag.startswith(value) for tag in v.tags)


def _near_predicate(ir: _Near) -> _Pred:
    left, right, distance = _spans(ir.left), _spans(ir.right), ir.distance

    def near(v: _View) -> bool:
        for field in _FIELDS:
            a = left(v, field)
            if a:
                b = right(v, field)
                if b and _near_exists(a, b, distance):
                    return True
        return False

    return near


def _near_exists(a: list[tuple[int, int]], b: list[tuple[int, int]], distance: int) -> bool:
    """Whether some span of ``a`` and some span of ``b`` do not overlap and are at most ``distance`` apart."""
    starts = sorted(s for s, _ in b)
    ends = sorted(e for _, e in b)
    for start, end in a:
        i = bisect_right(starts, end)  # b starting after a ends
        if i < len(starts) and starts[i] - end <= distance:
            return True
        j = bisect_left(ends, start) - 1  # b ending before a starts
        if j >= 0 and start - ends[j] <= distance:
            return True
    return False


def _spans(ir: _Ir) -> _Spans:
    """Token spans ``(first, last)`` of a positional node in one field (the parser allows only these)."""
    if isinstance(ir, _Atom):
        key, scope = ir.key, ir.scope
        return lambda v, field: v.spans(key, field) if scope is None or scope == field else []
    if isinstance(ir, _Near):
        left, right, distance = _spans(ir.left), _spans(ir.right), ir.distance

        def near(v: _View, field: int) -> list[tuple[int, int]]:
            a = left(v, field)
            b = right(v, field) if a else []
            return sorted(
                (min(s1, s2), max(e1, e2))
                for s1, e1 in a
                for s2, e2 in b
                if (s2 > e1 and s2 - e1 <= distance) or (s1 > e2 and s1 - e2 <= distance)
            )

        return near
    if isinstance(ir, _Op) and ir.kind == "or":
        parts = tuple(_spans(item) for item in ir.items)
        return lambda v, field: sorted(chain.from_iterable(p(v, field) for p in parts))
    raise AssertionError(f"not positional: {ir}")  # pragma: no cover - the parser rejects it


# --- one article, as the watches see it -------------------------------------------------------------------


class _View:
    """An article folded, tokenised and run through the automata once; positions and offsets on demand."""

    __slots__ = (
        "_ends",
        "_hits",
        "_offsets",
        "_spans",
        "_starts",
        "_tokens",
        "doc",
        "found",
        "found_in",
        "infos",
        "source",
        "tags",
    )

    def __init__(self, matcher: Matcher, doc: MatchDoc) -> None:
        self.doc = doc
        self.infos = matcher._infos
        plain = (tokenize(doc.title), tokenize(doc.body))
        self._tokens: dict[tuple[str, int], list[str]] = {(PLAIN, TITLE): plain[0], (PLAIN, BODY): plain[1]}
        self._hits: dict[tuple[str, int], list[tuple[int, int]]] = {}
        found_in: tuple[set[int], set[int]] = (set(), set())
        for stream, automaton in matcher._automata:
            for field in _FIELDS:
                tokens = plain[field] if stream == PLAIN else stem_words(stream, plain[field])
                self._tokens[(stream, field)] = tokens
                hits = list(automaton.iter(" " + " ".join(tokens) + " ")) if tokens else []
                self._hits[(stream, field)] = hits
                found_in[field].update(map(itemgetter(1), hits))
        self.found_in = found_in
        self.found = found_in[TITLE] | found_in[BODY]
        self.source = " ".join(tokenize(doc.source))
        self.tags = tuple(" ".join(tokenize(tag)) for tag in doc.tags)
        for kind, values in (("source", (self.source,)), ("tag", self.tags)):
            for value in values:
                key = matcher._meta_keys.get((kind, value))
                if key is not None:
                    self.found.add(key)
        self._ends: dict[tuple[str, int], dict[int, list[int]]] = {}
        self._starts: dict[tuple[str, int], list[int]] = {}
        self._spans: dict[tuple[int, int], list[tuple[int, int]]] = {}
        self._offsets: dict[int, list[Token] | None] = {}

    def ends(self, stream: str, field: int) -> dict[int, list[int]]:
        """Where each key found in a field ends (character offsets in the stream text)."""
        ends = self._ends.get((stream, field))
        if ends is None:
            ends = self._ends[(stream, field)] = {}
            for end, key in self._hits[(stream, field)]:
                ends.setdefault(key, []).append(end)
        return ends

    def spans(self, key: int, field: int) -> list[tuple[int, int]]:
        """Token spans ``(first, last)`` of a key's occurrences in a field, in order."""
        spans = self._spans.get((key, field))
        if spans is None:
            info = self.infos[key]
            assert info is not None
            ends = self.ends(info.stream, field).get(key, ())
            starts = self._starts.get((info.stream, field))
            if starts is None and ends:
                tokens = self._tokens[(info.stream, field)]
                starts = list(accumulate((len(t) + 1 for t in tokens), initial=1))
                self._starts[(info.stream, field)] = starts
            first_char = 2 - len(info.pattern)
            spans = []
            for end in ends:
                first = bisect_left(starts, end + first_char)  # type: ignore[arg-type]
                spans.append((first, first + info.tokens - 1))
            self._spans[(key, field)] = spans
        return spans

    def count(self, key: int, field: int) -> int:
        info = self.infos[key]
        assert info is not None
        return len(self.ends(info.stream, field).get(key, ())) if key in self.found_in[field] else 0

    def offsets(self, field: int) -> list[Token] | None:
        """Character offsets of the field's tokens (None if they do not line up, which should not happen)."""
        if field not in self._offsets:
            text = self.doc.title if field == TITLE else self.doc.body
            tokens = tokens_with_offsets(text)
            self._offsets[field] = tokens if len(tokens) == len(self._tokens[(PLAIN, field)]) else None
        return self._offsets[field]


# --- the matcher ------------------------------------------------------------------------------------------


class Matcher:
    """All watches compiled together; ``match`` and ``match_new_version`` are safe to call from threads."""

    def __init__(
        self,
        watches: Sequence[_Watch],
        infos: Sequence[_KeyInfo | None],
        keys: dict[tuple[str, str], int],
        triggers: Sequence[tuple[int, ...]],
        always: tuple[int, ...],
    ) -> None:
        self._watches = tuple(watches)
        self._infos = tuple(infos)
        self._triggers = tuple(triggers)
        self._always = always
        self._meta_keys = {k: v for k, v in keys.items() if self._infos[v] is None}
        streams = sorted({info.stream for info in self._infos if info is not None})
        automata: list[tuple[str, ahocorasick.Automaton]] = []
        for stream in streams:
            automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
            for key, info in enumerate(self._infos):
                if info is not None and info.stream == stream:
                    automaton.add_word(info.pattern, key)
            automaton.make_automaton()
            automata.append((stream, automaton))
        self._automata = tuple(automata)

    @property
    def watches(self) -> tuple[str, ...]:
        """The names of the compiled watches, in order."""
        return tuple(w.name for w in self._watches)

    def __len__(self) -> int:
        return len(self._watches)

    def match(self, doc: MatchDoc) -> list[WatchHit]:
        """Every watch the article matches, in watch order, with terms and snippets."""
        view = _View(self, doc)
        return [self._hit(w, view) for w in self._candidates(view) if _matches(w, view)]

    def match_new_version(self, prior: MatchDoc | None, new: MatchDoc) -> list[WatchHit]:
        """Hits for a new article (``prior`` None) or a new version of one, by the added-text rule."""
        if prior is None:
            return self.match(new)
        view = _View(self, new)
        before: _View | None = None
        hits = []
        for w in self._candidates(view):
            if not _matches(w, view):
                continue
            before = before or _View(self, prior)
            if not _matches(w, before) and _adds(w, before, view):
                hits.append(self._hit(w, view))
        return hits

    def _candidates(self, view: _View) -> list[_Watch]:
        found: set[int] = set(self._always)
        triggers = self._triggers
        for key in view.found:
            found.update(triggers[key])
        source = view.doc.source
        watches = self._watches
        return [w for w in (watches[i] for i in sorted(found)) if not w.sources or source in w.sources]

    def _hit(self, watch: _Watch, view: _View) -> WatchHit:
        occurrences: list[list[tuple[int, int, str]]] = [[], []]  # per field: start, end, term (folded)
        terms: dict[str, str] = {}
        for field in _FIELDS:
            text = view.doc.title if field == TITLE else view.doc.body
            offsets = view.offsets(field)
            tokens = view._tokens[(PLAIN, field)]
            found: list[tuple[int, int]] = []
            for atom in watch.atoms:
                if (atom.scope is None or atom.scope == field) and atom.key in view.found_in[field]:
                    found.extend(view.spans(atom.key, field))
            for first, last in sorted(set(found)):
                if offsets is None:
                    surface = " ".join(tokens[first : last + 1])
                else:
                    start, end = offsets[first].start, offsets[last].end
                    surface = _collapse(text[start:end])
                    occurrences[field].append((start, end, " ".join(tokens[first : last + 1])))
                terms.setdefault(fold(surface), surface)
        field = BODY if occurrences[BODY] or not occurrences[TITLE] else TITLE
        text = view.doc.title if field == TITLE else view.doc.body
        if not text.strip():
            field, text = TITLE, view.doc.title
        snippet, highlights = _snippet(text, occurrences[field])
        return WatchHit(watch.name, tuple(terms.values()), _mark(snippet, highlights), snippet, highlights)


def _matches(watch: _Watch, view: _View) -> bool:
    if watch.sources and view.doc.source not in watch.sources:
        return False
    return watch.must <= view.found and watch.predicate(view)


def _adds(watch: _Watch, before: _View, after: _View) -> bool:
    """Whether the new version added text the watch looks for (see the module docstring)."""
    for atom in watch.atoms:
        for field in _FIELDS:
            if (atom.scope is None or atom.scope == field) and after.count(atom.key, field) > before.count(
                atom.key, field
            ):
                return True
    for meta in watch.metas:
        predicate = _meta_predicate(meta)
        if predicate(after) and not predicate(before):
            return True
    return False


def compile_watches(specs: Iterable[WatchSpec]) -> Matcher:
    """Compile every watch into one matcher; WatchQueryError names the first watch that does not parse."""
    compiler = _Compiler()
    lowered: list[tuple[WatchSpec, _Ir]] = []
    for index, spec in enumerate(specs):
        try:
            node = parse_query(spec.query)
        except QueryError as error:
            raise WatchQueryError(index, spec.name, error) from None
        stem = None if spec.stem is None else stemmer_name(spec.stem)
        lowered.append((spec, compiler.lower(node, stem, None)))
    watches: list[_Watch] = []
    triggers: list[list[int]] = [[] for _ in compiler.infos]
    always: list[int] = []
    for index, (spec, ir) in enumerate(lowered):
        positives = list(_positives(ir))
        watches.append(
            _Watch(
                index=index,
                name=spec.name,
                sources=frozenset(spec.sources),
                must=_must(ir),
                predicate=_predicate(ir),
                atoms=tuple(dict.fromkeys(p for p in positives if isinstance(p, _Atom))),
                metas=tuple(dict.fromkeys(p for p in positives if isinstance(p, _Meta))),
            )
        )
        trigger = _trigger(ir, compiler.infos)
        if trigger is None:
            always.append(index)
        else:
            for key in trigger:
                triggers[key].append(index)
    return Matcher(watches, compiler.infos, compiler.keys, [tuple(t) for t in triggers], tuple(always))


# --- snippets ---------------------------------------------------------------------------------------------

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
