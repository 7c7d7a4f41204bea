"""The watch query language: text -> an AST of frozen dataclasses, with column-precise errors.

Syntax (operators are UPPER-CASE; lower-case ``and``, ``or``, ``not``, ``near`` are ordinary words)::

    troops                      a word (case-, accent- and width-insensitive, whole words only)
    "north korea"               a phrase: these words, in this order, next to each other
    troop*   "north kor*"       prefix wildcard, on a word or the last word of a phrase
    a AND b   a b               both (AND may be left out)
    a OR b                      either
    NOT a                       not (combine it with something that must be present: ``a NOT b``)
    ( ... )                     grouping
    "north korea" NEAR/10 troops
                                within 10 words of each other, in either order
    title:  body:               look only in the title or the body (unscoped words look in both)
    source: tag:                the article's source name or one of its tags, as a whole
                                (``source:reuters``; ``tag:korea*`` for a prefix)

A field scope applies to the word, phrase or parenthesised group right after it; an inner scope wins
over an outer one. Precedence, tightest first: scope, NEAR, NOT, AND (explicit or implicit), OR;
``NOT a NEAR/3 b`` is ``NOT (a NEAR/3 b)`` and ``a b OR c`` is ``(a AND b) OR c``. NEAR takes words,
phrases, OR groups of those and other NEARs (a NEAR chain spans all its parts).

A word with inner punctuation is a phrase of its parts (``anti-tank`` = ``"anti tank"``). A query that
could match with none of its words present (``NOT a``, ``a OR NOT b``) is rejected: it would match almost
every article.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from monitor.core.text import tokenize
from monitor.errors import QueryError

FieldName = Literal["title", "body", "source", "tag"]
FIELDS: tuple[FieldName, ...] = ("title", "body", "source", "tag")
TEXT_FIELDS = frozenset({"title", "body"})
OPERATORS = frozenset({"AND", "OR", "NOT"})


@dataclass(frozen=True)
class Word:
    """A bare word; several tokens (``anti-tank``) act as a phrase."""

    text: str
    prefix: bool = False
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Phrase:
    """A quoted phrase: its words in order, next to each other."""

    text: str
    prefix: bool = False
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    item: Node
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Near:
    """``left`` and ``right`` at most ``distance`` words apart (adjacent words are 1 apart), either order."""

    left: Node
    right: Node
    distance: int
    column: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Field:
    """``name:item``: the item is looked for in that field only."""

    name: FieldName
    item: Node
    column: int = field(default=0, compare=False, repr=False)


Node = Word | Phrase | And | Or | Not | Near | Field
Term = Word | Phrase


# --- lexing -----------------------------------------------------------------------------------------------

_BARE_RE = re.compile(r'[^\s()"]+')
_FIELD_RE = re.compile(r"([^\W\d_]+):(.*)", re.DOTALL)
_NEAR_RE = re.compile(r"NEAR/(\d+)")


@dataclass(frozen=True)
class _Token:
    kind: Literal["word", "phrase", "field", "op", "near", "(", ")", "end"]
    text: str
    column: int
    prefix: bool = False
    distance: int = 0


def _term_text(raw: str, column: int, what: str) -> tuple[str, bool]:
    """Split a trailing ``*`` off a word or phrase and check what is left has something to match."""
    prefix = raw.endswith("*")
    text = raw[:-1] if prefix else raw
    star = text.find("*")
    if star >= 0:
        raise QueryError("'*' works only at the end of a word", column + star)
    if prefix and not tokenize(text[-1:]):
        raise QueryError("'*' needs letters or digits right before it", column + len(raw) - 1)
    if not tokenize(text):
        raise QueryError(f"{what} has no letters or digits", column)
    return text, prefix


def _lex(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(query):
        ch = query[pos]
        column = pos + 1
        if ch.isspace():
            pos += 1
        elif ch in "()":
            tokens.append(_Token("(" if ch == "(" else ")", ch, column))
            pos += 1
        elif ch == '"':
            close = query.find('"', pos + 1)
            if close < 0:
                raise QueryError("unterminated phrase: missing closing '\"'", column)
            raw = query[pos + 1 : close]
            text, prefix = _term_text(raw, column + 1, "phrase")
            tokens.append(_Token("phrase", text, column, prefix))
            pos = close + 1
        else:
            match = _BARE_RE.match(query, pos)
            assert match is not None
            raw = match.group()
            pos = match.end()
            tokens.extend(_lex_bare(raw, column))
    tokens.append(_Token("end", "", len(query) + 1))
    return tokens


def _lex_bare(raw: str, column: int) -> list[_Token]:
    if raw in OPERATORS:
        return [_Token("op", raw, column)]
    if raw == "NEAR" or raw.startswith("NEAR/"):
        near = _NEAR_RE.fullmatch(raw)
        if near is None:
            raise QueryError("NEAR needs a distance in words, e.g. NEAR/10", column)
        distance = int(near.group(1))
        if distance < 1:
            raise QueryError("NEAR distance must be at least 1", column + 5)
        return [_Token("near", raw, column, distance=distance)]
    scoped = _FIELD_RE.fullmatch(raw)
    if scoped is not None:
        name = scoped.group(1).lower()
        if name not in FIELDS:
            fields = ", ".join(f"{f}:" for f in FIELDS)
            raise QueryError(f"unknown field '{scoped.group(1)}:' (fields are {fields})", column)
        tokens = [_Token("field", name, column)]
        rest = scoped.group(2)
        if rest:
            rest_column = column + len(scoped.group(1)) + 1
            text, prefix = _term_text(rest, rest_column, "word")
            tokens.append(_Token("word", text, rest_column, prefix))
        return tokens
    text, prefix = _term_text(raw, column, "word")
    return [_Token("word", text, column, prefix)]


# --- parsing ----------------------------------------------------------------------------------------------

_EXPECTED_TERM = "expected a word, phrase or '('"


# Limits that keep a hostile query from exhausting the parser, the matcher or the database's own query
# parser (200 nested parentheses overflowed Python's stack, 200 NEARs FTS5's, a 20,000-word phrase
# Postgres's). Real watches stay far below them.
MAX_QUERY_CHARS = 2000
MAX_TERMS = 200
MAX_DEPTH = 16
MAX_NEAR_CHAIN = 8
MAX_PHRASE_WORDS = 32


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = _lex(query)
        self.pos = 0
        self.depth = 0
        terms = sum(1 for t in self.tokens if t.kind in ("word", "phrase"))
        if terms > MAX_TERMS:
            raise QueryError(f"too many terms: {terms} (at most {MAX_TERMS})", 1)

    def enter(self, column: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"nested too deeply: more than {MAX_DEPTH} levels of parentheses or NOT", column)

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise QueryError("empty query", 1)
        node = self.parse_or(None)
        token = self.peek()
        if token.kind == ")":
            raise QueryError("unexpected ')'", token.column)
        if token.kind != "end":  # pragma: no cover - every other token starts or continues an expression
            raise QueryError(f"unexpected '{token.text}'", token.column)
        return node

    def parse_or(self, scope: FieldName | None) -> Node:
        first = self.peek()
        items = [self.parse_and(scope)]
        while self.peek().kind == "op" and self.peek().text == "OR":
            self.take()
            items.append(self.parse_and(scope))
        return items[0] if len(items) == 1 else Or(_flatten(Or, items), first.column)

    def parse_and(self, scope: FieldName | None) -> Node:
        first = self.peek()
        items = [self.parse_unary(scope)]
        while True:
            token = self.peek()
            if token.kind == "op" and token.text == "AND":
                self.take()
            elif not _starts_unary(token):
                break
            items.append(self.parse_unary(scope))
        return items[0] if len(items) == 1 else And(_flatten(And, items), first.column)

    def parse_unary(self, scope: FieldName | None) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text == "NOT":
            self.take()
            self.enter(token.column)
            node = Not(self.parse_unary(scope), token.column)
            self.depth -= 1
            return node
        return self.parse_near(scope)

    def parse_near(self, scope: FieldName | None) -> Node:
        start = self.peek()
        node = self.parse_scoped(scope)
        chain = 0
        while self.peek().kind == "near":
            near = self.take()
            chain += 1
            if chain > MAX_NEAR_CHAIN:
                raise QueryError(f"too many NEARs in a row (at most {MAX_NEAR_CHAIN})", near.column)
            if scope in ("source", "tag"):
                raise QueryError(f"NEAR does not work inside {scope}:", near.column)
            _check_positional(node, start.column, scope)
            right_start = self.peek()
            right = self.parse_scoped(scope)
            _check_positional(right, right_start.column, scope)
            node = Near(node, right, near.distance, near.column)
        return node

    def parse_scoped(self, scope: FieldName | None) -> Node:
        token = self.peek()
        if token.kind == "field":
            self.take()
            name: FieldName = token.text  # type: ignore[assignment]
            return Field(name, self.parse_primary(name, f"after {name}:"), token.column)
        return self.parse_primary(scope, "")

    def parse_primary(self, scope: FieldName | None, where: str) -> Node:
        token = self.take()
        if token.kind == "word":
            return Word(token.text, token.prefix, token.column)
        if token.kind == "phrase":
            if len(token.text.split()) > MAX_PHRASE_WORDS:
                raise QueryError(f"phrase too long (at most {MAX_PHRASE_WORDS} words)", token.column)
            return Phrase(token.text, token.prefix, token.column)
        if token.kind == "(":
            self.enter(token.column)
            node = self.parse_or(scope)
            close = self.take()
            if close.kind != ")":
                raise QueryError("expected ')'", close.column)
            self.depth -= 1
            return node
        suffix = f" {where}" if where else ""
        if token.kind == "end":
            raise QueryError(f"{_EXPECTED_TERM}{suffix}", token.column)
        raise QueryError(f"{_EXPECTED_TERM}{suffix}, found '{token.text}'", token.column)


def _starts_unary(token: _Token) -> bool:
    return token.kind in ("word", "phrase", "field", "(") or (token.kind == "op" and token.text == "NOT")


def _flatten(kind: type[And] | type[Or], items: list[Node]) -> tuple[Node, ...]:
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return tuple(flat)


def _check_positional(node: Node, column: int, scope: FieldName | None) -> None:
    """NEAR needs word positions: words, phrases, OR groups of them and NEARs, in title or body text."""
    if isinstance(node, Word | Phrase):
        if scope in ("source", "tag"):
            raise QueryError(f"NEAR does not work inside {scope}:", column)
    elif isinstance(node, Or):
        for item in node.items:
            _check_positional(item, item.column or column, scope)
    elif isinstance(node, Field):
        if node.name not in TEXT_FIELDS:
            raise QueryError(f"NEAR works on title and body text, not {node.name}:", node.column or column)
        _check_positional(node.item, node.item.column or column, node.name)
    elif not isinstance(node, Near):
        raise QueryError("NEAR needs words, phrases or OR groups of them on both sides", column)


def _matches_empty(node: Node) -> Node | None:
    """The part that lets the node match an article with none of its words, or None if it cannot."""
    if isinstance(node, Not):
        return node if _matches_empty(node.item) is None else None
    if isinstance(node, And):
        culprits = [_matches_empty(item) for item in node.items]
        return culprits[0] if all(culprits) else None
    if isinstance(node, Or):
        return next((c for c in map(_matches_empty, node.items) if c is not None), None)
    if isinstance(node, Field):
        return _matches_empty(node.item)
    return None


def parse_query(query: str) -> Node:
    """Parse a watch query into its AST; raise QueryError(message, 1-based column) if it is invalid."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"query too long: {len(query):,} characters (at most {MAX_QUERY_CHARS:,})", 1)
    if "\x00" in query:
        raise QueryError("a query cannot contain NUL", query.index("\x00") + 1)
    node = _Parser(query).parse()
    problem = _matches_empty(node)
    if problem is not None:
        raise QueryError(
            "a query cannot match by NOT alone: add a word or phrase that must be present",
            problem.column or 1,
        )
    return node


# --- back to text -----------------------------------------------------------------------------------------


def to_string(node: Node) -> str:
    """The canonical query text of an AST; ``parse_query(to_string(n)) == n`` for any parsed ``n``."""
    if isinstance(node, Word):
        return node.text + ("*" if node.prefix else "")
    if isinstance(node, Phrase):
        return '"' + node.text + ("*" if node.prefix else "") + '"'
    if isinstance(node, Field):
        inner = to_string(node.item)
        return f"{node.name}:{inner if isinstance(node.item, Word | Phrase) else f'({inner})'}"
    if isinstance(node, Near):
        left = _wrap(node.left, Word, Phrase, Field, Near)
        right = _wrap(node.right, Word, Phrase, Field)
        return f"{left} NEAR/{node.distance} {right}"
    if isinstance(node, Not):
        return "NOT " + _wrap(node.item, Word, Phrase, Field, Near, Not)
    if isinstance(node, And):
        return " AND ".join(_wrap(item, Word, Phrase, Field, Near, Not) for item in node.items)
    return " OR ".join(_wrap(item, Word, Phrase, Field, Near, Not, And) for item in node.items)


def _wrap(node: Node, *bare: type) -> str:
    text = to_string(node)
    return text if isinstance(node, bare) else f"({text})"
