"""Watch queries compiled for the matcher: query AST -> automaton keys, predicates, candidate index (pure).

Every distinct term of every watch is one key (shared by all watches) of one token stream; a watch becomes a
predicate over an article's view (the keys found, token spans on demand), the keys every match contains and
the keys that trigger checking it. ``match.py`` builds the automata and the views and runs the predicates.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Literal, Protocol

from monitor.core.query import And, Field, Near, Node, Not, Phrase, Word
from monitor.core.text import stem_words, tokenize

TITLE: Literal[0] = 0
BODY: Literal[1] = 1
_FIELDS = (TITLE, BODY)
PLAIN = ""  # the stream of unstemmed tokens; stemmed streams are named by their Snowball language


class ArticleView(Protocol):
    """What a predicate reads of one article (``match._View``): keys found, in which field, token spans."""

    found: set[int]
    found_in: tuple[set[int], set[int]]
    source: str
    tags: tuple[str, ...]

    def spans(self, key: int, field: int) -> list[tuple[int, int]]: ...


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
_Pred = Callable[[ArticleView], bool]
_Spans = Callable[[ArticleView, int], list[tuple[int, int]]]


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

        def all_of(v: ArticleView) -> bool:
            if not plain <= v.found:
                return False
            return all(p(v) for p in rest)

        return all_of

    def any_of(v: ArticleView) -> bool:
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

    def near(v: ArticleView) -> bool:
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

        def near(v: ArticleView, field: int) -> list[tuple[int, int]]:
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
