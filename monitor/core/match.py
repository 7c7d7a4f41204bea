"""Compiled watches: every watch query in one matcher, then hits with the terms found and a snippet (pure).

The compiler (query AST -> automaton keys, the candidate index, predicates) is ``match_compile.py``; the
snippets are ``match_snippet.py``. How it is fast: each distinct term of every watch (folded, and stemmed for ``stem:`` watches) is one key of
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

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from operator import itemgetter

import ahocorasick

from monitor.core.match_compile import (
    _FIELDS,
    BODY,
    PLAIN,
    TITLE,
    _Atom,
    _Compiler,
    _Ir,
    _KeyInfo,
    _Meta,
    _meta_predicate,
    _must,
    _positives,
    _predicate,
    _trigger,
    _Watch,
)
from monitor.core.match_snippet import SNIPPET_CHARS, _collapse, _mark, _snippet
from monitor.core.query import parse_query
from monitor.core.text import (
    Token,
    fold,
    stem_words,
    stemmer_name,
    token_line,
    token_spans_at,
    tokenize,
    tokens_with_offsets,
)
from monitor.errors import QueryError, WatchQueryError
from monitor.models import crosses_processes

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


@crosses_processes
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


_PLUS_ONE = (1).__add__


# --- one article, as the watches see it -------------------------------------------------------------------


class _View:
    """An article folded, tokenised and run through the automata once; positions and offsets on demand."""

    __slots__ = (
        "_ends",
        "_hits",
        "_lines",
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
        # Each field's folded tokens as the automata read them (" tok tok "); the tokens themselves are
        # split out of that line when asked for, if folding did not have to split them (`token_line`).
        lines = (token_line(doc.title), token_line(doc.body))
        self._lines = lines
        self._tokens: dict[tuple[str, int], list[str]] = {}
        for field in _FIELDS:
            split = lines[field][1]
            if split is not None:
                self._tokens[(PLAIN, field)] = split
        self._hits: dict[tuple[str, int], list[tuple[int, int]]] = {}
        found_in: tuple[set[int], set[int]] = (set(), set())
        for stream, automaton in matcher._automata:
            for field in _FIELDS:
                if stream == PLAIN:
                    line = lines[field][0]
                else:
                    tokens = self._tokens[(stream, field)] = stem_words(stream, self.tokens(PLAIN, field))
                    line = " " + " ".join(tokens) + " " if tokens else ""
                hits = list(automaton.iter(line)) if line else []
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

    def tokens(self, stream: str, field: int) -> list[str]:
        """A field's tokens in a stream (the folded words, or their stems)."""
        tokens = self._tokens.get((stream, field))
        if tokens is None:  # a PLAIN line whose tokens were not split out (stem streams are made eagerly)
            line = self._lines[field][0]
            tokens = self._tokens[(stream, field)] = line[1:-1].split(" ") if line else []
        return tokens

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
                tokens = self.tokens(info.stream, field)
                # Where each token starts in " tok tok ": 1, then one past each token and its space
                # (in C: a Python generator here cost a tenth of matching).
                starts = list(accumulate(map(_PLUS_ONE, map(len, tokens)), initial=1))
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

    def offsets(self, field: int, indices: Iterable[int]) -> Mapping[int, tuple[int, int]] | None:
        """``(start, end)`` in the field's text of the tokens at these indices (None if the tokens do not
        line up, which should not happen). Most texts fold to the same length: then only the tokens asked
        for are located; otherwise every token's offsets are worked out once per field."""
        text = self.doc.title if field == TITLE else self.doc.body
        if field not in self._offsets:
            spans = token_spans_at(text, indices)
            if spans is not None:
                return spans
            tokens = tokens_with_offsets(text)
            self._offsets[field] = tokens if len(tokens) == len(self.tokens(PLAIN, field)) else None
        every = self._offsets[field]
        return None if every is None else {i: (every[i].start, every[i].end) for i in set(indices)}


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
            tokens = view.tokens(PLAIN, field)
            found: list[tuple[int, int]] = []
            for atom in watch.atoms:
                if (atom.scope is None or atom.scope == field) and atom.key in view.found_in[field]:
                    found.extend(view.spans(atom.key, field))
            spans = sorted(set(found))
            offsets = view.offsets(field, (i for span in spans for i in span)) if spans else None
            for first, last in spans:
                if offsets is None:
                    surface = " ".join(tokens[first : last + 1])
                else:
                    start, end = offsets[first][0], offsets[last][1]
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
