"""The search query, translated for an engine: SQLite FTS5 MATCH syntax or a Postgres tsquery (pure).

The translation may only be *looser* than the query, never stricter: what the engine cannot say is left
out and checked by the watch matcher afterwards (``Expr.exact`` says whether the engine alone is exact).
Top-level ``source:`` conditions become source ids; on Postgres, top-level ``title:`` terms are also given
as a tsquery for the titles' own index. See docs/search.md for the whole search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from monitor.core.query import And, Field, Near, Node, Not, Or, Phrase, Word
from monitor.core.text import tokenize, tokens_with_offsets

__all__ = ["PG_MAX_NEAR", "Engine", "Expr", "QueryPlan", "Scope", "Translator", "plan_query"]

PG_MAX_NEAR = 20  # NEAR/n up to this n becomes the tsquery of every distance; beyond it, AND

Engine = Literal["sqlite", "postgresql"]
Scope = Literal["title", "body"] | None


@dataclass(frozen=True)
class Expr:
    """An engine expression that matches at least what the query part matches; ``exact`` if no more."""

    text: str
    exact: bool


def surface_tokens(text: str) -> tuple[list[str], bool]:
    """The words of a term as written (the engine folds them as it folds the archive), and whether the
    engine's folding surely agrees with the matcher's (plain ASCII)."""
    words = []
    for token in tokens_with_offsets(text):
        surface = text[token.start : token.end]
        words.append(surface if surface.isalnum() else token.text)
    return words, text.isascii()


class Translator:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def node(self, node: Node, scope: Scope) -> Expr | None:
        """The engine expression for a node, or None when the engine cannot narrow it down at all."""
        if isinstance(node, Word | Phrase):
            return self.term(node, scope)
        if isinstance(node, Field):
            if node.name in ("title", "body"):
                return self.node(node.item, node.name)
            return None  # source: and tag: inside the text query: left to the matcher
        if isinstance(node, Near):
            return self.near(node, scope)
        if isinstance(node, Not):
            return None  # only meaningful next to something that must be present: see And
        if isinstance(node, Or):
            items = [self.node(item, scope) for item in node.items]
            if any(item is None for item in items):
                return None
            parts = [item for item in items if item is not None]
            joiner = " OR " if self.engine == "sqlite" else " | "
            return Expr("(" + joiner.join(p.text for p in parts) + ")", all(p.exact for p in parts))
        return self.conjunction(node.items, scope)

    def conjunction(self, items: Sequence[Node], scope: Scope) -> Expr | None:
        positive: list[Expr] = []
        negative: list[Expr] = []
        exact = True
        for item in items:
            if isinstance(item, Not):
                inner = self.node(item.item, scope)
                if inner is not None and inner.exact:
                    negative.append(inner)
                else:
                    exact = False  # a NOT of something the engine only approximates: the matcher does it
                continue
            translated = self.node(item, scope)
            if translated is None:
                exact = False
            else:
                positive.append(translated)
                exact = exact and translated.exact
        if not positive:
            return None
        if self.engine == "sqlite":
            text = "(" + " AND ".join(p.text for p in positive) + ")"
            text += "".join(f" NOT {n.text}" for n in negative)
            return Expr(f"({text})" if negative else text, exact)
        parts = [p.text for p in positive] + [f"!{n.text}" for n in negative]
        return Expr("(" + " & ".join(parts) + ")", exact)

    def term(self, node: Word | Phrase, scope: Scope) -> Expr:
        words, exact = surface_tokens(node.text)
        if self.engine == "sqlite":
            quoted = '"' + " ".join(words).replace('"', '""') + '"' + (" *" if node.prefix else "")
            if scope == "title":
                return Expr(f"{{title}} : {quoted}", exact)
            if scope == "body":
                return Expr(f"{{body summary}} : {quoted}", exact)
            return Expr(quoted, exact)
        weight = "A" if scope == "title" else "B" if scope == "body" else ""
        lexemes = [f"'{w}'" + (":" + weight if weight else "") for w in words]
        if node.prefix:
            lexemes[-1] = f"'{words[-1]}':*{weight}"
        text = " <-> ".join(lexemes)
        return Expr(f"({text})" if len(lexemes) > 1 else text, exact)

    def near(self, node: Near, scope: Scope) -> Expr | None:
        left, right = _scoped(node.left, scope), _scoped(node.right, scope)
        if (
            self.engine == "sqlite"
            and isinstance(left[0], Word | Phrase)
            and isinstance(right[0], Word | Phrase)
            and left[1] == right[1]
        ):
            a, b = self.term(left[0], None), self.term(right[0], None)
            # The matcher counts adjacent words as 1 apart; FTS5 counts the words between them.
            expr = f"NEAR({a.text} {b.text}, {node.distance - 1})"
            columns = {"title": "{title} : ", "body": "{body summary} : ", None: ""}[left[1]]
            return Expr(columns + expr, a.exact and b.exact)
        if (
            self.engine == "postgresql"
            and isinstance(left[0], Word | Phrase)
            and isinstance(right[0], Word | Phrase)
            and left[1] == right[1]
            and len(surface_tokens(left[0].text)[0]) == len(surface_tokens(right[0].text)[0]) == 1
            and node.distance <= PG_MAX_NEAR
        ):
            # "Within n words, either order" as every distance: a <1> b | ... | b <n> a. Still checked by
            # the matcher (positions stop at 16,383 in a tsvector; a title and body are one position list).
            a, b = self.term(left[0], left[1]), self.term(right[0], right[1])
            pairs = [(a.text, b.text), (b.text, a.text)]
            near = " | ".join(f"{x} <{d}> {y}" for x, y in pairs for d in range(1, node.distance + 1))
            return Expr(f"({near})", False)
        # Postgres has no "within n words" operator, nor FTS5 for OR groups: both sides, then the matcher.
        parts = [self.node(node.left, scope), self.node(node.right, scope)]
        known = [p for p in parts if p is not None]
        if not known:
            return None
        joiner = " AND " if self.engine == "sqlite" else " & "
        return Expr("(" + joiner.join(p.text for p in known) + ")", False)


def _scoped(node: Node, scope: Scope) -> tuple[Node, Scope]:
    """A NEAR operand without its title:/body: wrapper, and the scope it has."""
    while isinstance(node, Field) and node.name in ("title", "body"):
        scope = node.name
        node = node.item
    return node, scope


@dataclass(frozen=True)
class QueryPlan:
    """What the engine is asked: a text expression (None: no text condition) and source ids (None: all)."""

    expr: Expr | None
    source_ids: frozenset[int] | None
    exact: bool
    title: str | None = None  # Postgres: a tsquery the title must match (implied by expr), for its index
    title_only: bool = False  # the title tsquery is the whole text condition


def _source_values(node: Node) -> list[tuple[str, bool]] | None:
    """The (folded value, prefix) alternatives of a top-level condition made only of source: terms."""
    if isinstance(node, Field) and node.name == "source":
        return _source_values_inner(node.item)
    if isinstance(node, Or):
        found: list[tuple[str, bool]] = []
        for item in node.items:
            values = _source_values(item)
            if values is None:
                return None
            found += values
        return found
    return None


def _source_values_inner(node: Node) -> list[tuple[str, bool]] | None:
    if isinstance(node, Word | Phrase):
        return [(" ".join(tokenize(node.text)), node.prefix)]
    if isinstance(node, Or):
        found: list[tuple[str, bool]] = []
        for item in node.items:
            values = _source_values_inner(item)
            if values is None:
                return None
            found += values
        return found
    return None


def plan_query(engine: Engine, tree: Node, names: Mapping[int, str], wanted: Sequence[str] = ()) -> QueryPlan:
    """The engine's part of a parsed query, given the sources (id: name) and the ones asked for by name."""
    allowed: set[int] | None = None
    if wanted:
        allowed = {sid for sid, name in names.items() if name in set(wanted)}
    conjuncts = tree.items if isinstance(tree, And) else (tree,)
    text_parts: list[Node] = []
    for part in conjuncts:
        values = _source_values(part)
        if values is None:
            text_parts.append(part)
            continue
        folded = {sid: " ".join(tokenize(name)) for sid, name in names.items()}
        ids = {
            sid
            for sid, name in folded.items()
            if any(name.startswith(v) if prefix else name == v for v, prefix in values)
        }
        allowed = ids if allowed is None else allowed & ids
    translator = Translator(engine)
    expr: Expr | None = None
    if len(text_parts) == 1:
        expr = translator.node(text_parts[0], None)
    elif text_parts:
        expr = translator.conjunction(text_parts, None)
    exact = (expr is not None and expr.exact) or (not text_parts and expr is None)
    title = [
        translator.term(part.item, None).text
        for part in text_parts
        if isinstance(part, Field) and part.name == "title" and isinstance(part.item, Word | Phrase)
    ]
    title_query = " & ".join(title) if engine == "postgresql" and title and expr is not None else None
    only = title_query is not None and len(title) == len(text_parts)
    return QueryPlan(expr, None if allowed is None else frozenset(allowed), exact, title_query, only)
