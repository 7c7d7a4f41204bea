"""Full-text search over the archive: SQLite FTS5 or Postgres tsvector, checked by the watch matcher.

How a search runs:

1. The query is parsed as a watch query (``monitor.core.query``); a bad one raises QueryError with its
   column.
2. The AST is translated for the engine: FTS5 MATCH syntax, or a Postgres tsquery (``&``, ``|``, ``!``,
   ``<->`` for phrases, ``:*`` for prefixes, weights ``A``/``B`` for ``title:``/``body:``). The translation
   may only be *looser* than the query, never stricter: what the engine cannot say is left out (``NEAR`` on
   Postgres becomes AND; a ``NOT`` of something inexact, ``tag:`` conditions inside the text query are
   dropped). ``source:`` conditions at the top level become SQL filters on the source.
3. The engine returns candidate articles, one per article (its newest matching version, which is what a
   reader wants to see; the article ranks by its best-ranked matching version), ranked by bm25 (SQLite, title weighted 5, summary 2, body 1; ``rank`` is minus bm25 so higher is
   better on both) or ts_rank_cd (Postgres), with the total count, a page at a time.
4. Every candidate is checked with the real watch matcher (``compile_watches``/``MatchDoc``, the text
   alerts are made from); one that fails is replaced by the newest other version of the article that
   passes, or dropped. So both engines return exactly what a watch with this query would match, and the
   matcher's snippet (about 200 characters around the terms, with highlight spans) comes with each hit.

Paging: ``offset`` counts engine candidates, not hits, and ``next_offset`` is where the next page starts
(None at the end), so pages never overlap. ``total`` is the engine's count of candidate articles: exact
when the translation is exact, else an upper bound (see ``_Expr.exact``). Known engine differences the
matcher cannot undo (it can only remove candidates): a phrase or NEAR that spans the end of a summary and
the start of the body; words whose folding differs between engine and matcher (``ß`` against ``ss`` on
SQLite, accents on a Postgres without the unaccent extension); Chinese and Japanese text, which the
engines take as runs of characters where the matcher takes single characters.

Every schema object of the search index is named ``fts_*``; ``include_name`` keeps them out of
schema comparisons against the models.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.core.match import MatchDoc, Matcher, WatchSpec, compile_watches
from monitor.core.query import And, Field, Near, Node, Not, Or, Phrase, Word, parse_query
from monitor.core.text import tokenize, tokens_with_offsets
from monitor.store.repo import Store, articles, sources, versions
from monitor.store.tables import UTCDateTime

__all__ = ["SORTS", "SearchHit", "SearchPage", "SearchQuery", "Sort", "export_rows", "include_name", "search"]

FTS_PREFIX = "fts_"
BM25_WEIGHTS = (5.0, 1.0, 2.0)  # title, body, summary: the column order of fts_versions
MAX_EXAMINED = 500  # candidates checked per call at most, when the matcher rejects many
RELEVANCE_WINDOW = 2_000  # the newest matching versions ranked by relevance; older ones follow newest first
COUNT_CAP = 10_000  # articles counted at most; beyond it the total is COUNT_CAP with total_capped set
FIRST_CHUNK, MAX_CHUNK = 64, 4_096  # versions read at a time when walking newest first (growing)
SQLITE_MMAP_SIZE = 2**31  # bytes of the database file the search reads through a memory map

Sort = Literal["relevance", "newest"]
SORTS: tuple[Sort, ...] = ("relevance", "newest")


def include_name(name: str | None, type_: str, parent_names: Any = None) -> bool:
    """An Alembic ``include_name`` hook: leave the search index's ``fts_*`` objects out of comparisons."""
    return not (name or "").startswith(FTS_PREFIX)


@dataclass(frozen=True)
class SearchQuery:
    text: str
    sources: tuple[str, ...] = ()
    since: datetime | None = None  # inclusive, on the version's published time (else when it was seen)
    until: datetime | None = None  # exclusive
    watch: str | None = None  # only articles this watch matched (rows in matches)
    story_id: int | None = None
    limit: int = 20
    offset: int = 0
    sort: Sort = "relevance"  # or "newest": by the article's newest matching version


@dataclass(frozen=True)
class SearchHit:
    article_id: int
    version_id: int
    version_n: int
    source: str
    url: str
    title: str
    snippet: str
    highlights: tuple[tuple[int, int], ...]  # [start, end) spans of the hit terms in snippet
    published: datetime | None
    seen_at: datetime
    story_id: int | None
    rank: float


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    total: int  # candidate articles, counted up to COUNT_CAP
    next_offset: int | None
    total_capped: bool = False  # there are more than ``total`` (COUNT_CAP) candidate articles


# --- the query, translated for an engine ------------------------------------------------------------------

Engine = Literal["sqlite", "postgresql"]
Scope = Literal["title", "body"] | None


@dataclass(frozen=True)
class _Expr:
    """An engine expression that matches at least what the query part matches; ``exact`` if no more."""

    text: str
    exact: bool


def _surface_tokens(text: str) -> tuple[list[str], bool]:
    """The words of a term as written (the engine folds them as it folds the archive), and whether the
    engine's folding surely agrees with the matcher's (plain ASCII)."""
    words = []
    for token in tokens_with_offsets(text):
        surface = text[token.start : token.end]
        words.append(surface if surface.isalnum() else token.text)
    return words, text.isascii()


class _Translator:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def node(self, node: Node, scope: Scope) -> _Expr | None:
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
            return _Expr("(" + joiner.join(p.text for p in parts) + ")", all(p.exact for p in parts))
        return self.conjunction(node.items, scope)

    def conjunction(self, items: Sequence[Node], scope: Scope) -> _Expr | None:
        positive: list[_Expr] = []
        negative: list[_Expr] = []
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
            return _Expr(f"({text})" if negative else text, exact)
        parts = [p.text for p in positive] + [f"!{n.text}" for n in negative]
        return _Expr("(" + " & ".join(parts) + ")", exact)

    def term(self, node: Word | Phrase, scope: Scope) -> _Expr:
        words, exact = _surface_tokens(node.text)
        if self.engine == "sqlite":
            quoted = '"' + " ".join(words).replace('"', '""') + '"' + (" *" if node.prefix else "")
            if scope == "title":
                return _Expr(f"{{title}} : {quoted}", exact)
            if scope == "body":
                return _Expr(f"{{body summary}} : {quoted}", exact)
            return _Expr(quoted, exact)
        weight = "A" if scope == "title" else "B" if scope == "body" else ""
        lexemes = [f"'{w}'" + (":" + weight if weight else "") for w in words]
        if node.prefix:
            lexemes[-1] = f"'{words[-1]}':*{weight}"
        text = " <-> ".join(lexemes)
        return _Expr(f"({text})" if len(lexemes) > 1 else text, exact)

    def near(self, node: Near, scope: Scope) -> _Expr | None:
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
            return _Expr(columns + expr, a.exact and b.exact)
        # Postgres has no "within n words" operator, nor FTS5 for OR groups: both sides, then the matcher.
        parts = [self.node(node.left, scope), self.node(node.right, scope)]
        known = [p for p in parts if p is not None]
        if not known:
            return None
        joiner = " AND " if self.engine == "sqlite" else " & "
        return _Expr("(" + joiner.join(p.text for p in known) + ")", False)


def _scoped(node: Node, scope: Scope) -> tuple[Node, Scope]:
    """A NEAR operand without its title:/body: wrapper, and the scope it has."""
    while isinstance(node, Field) and node.name in ("title", "body"):
        scope = node.name
        node = node.item
    return node, scope


@dataclass(frozen=True)
class _Plan:
    """What the engine is asked: a text expression (None: no text condition) and source ids (None: all)."""

    expr: _Expr | None
    source_ids: frozenset[int] | None
    exact: bool


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


def _plan(conn: Connection, engine: Engine, tree: Node, wanted: Sequence[str]) -> _Plan:
    names = {row.id: row.name for row in conn.execute(sa.select(sources.c.id, sources.c.name))}
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
    translator = _Translator(engine)
    expr: _Expr | None = None
    if len(text_parts) == 1:
        expr = translator.node(text_parts[0], None)
    elif text_parts:
        expr = translator.conjunction(text_parts, None)
    exact = (expr is not None and expr.exact) or (not text_parts and expr is None)
    return _Plan(expr, None if allowed is None else frozenset(allowed), exact)


# --- running it -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    article_id: int
    version_id: int
    rank: float


@dataclass(frozen=True)
class _Row:
    id: int
    article_id: int
    score: float


def _filters(
    query: SearchQuery, plan: _Plan, params: dict[str, Any]
) -> tuple[str, list[sa.BindParameter[Any]]]:
    """SQL conditions on ``v`` (article_versions) and ``a`` (articles) for the query's filters."""
    clauses: list[str] = []
    binds: list[sa.BindParameter[Any]] = []
    if plan.source_ids is not None:
        clauses.append("a.source_id IN :source_ids")
        params["source_ids"] = sorted(plan.source_ids) or [-1]
        binds.append(sa.bindparam("source_ids", expanding=True))
    if query.since is not None:
        clauses.append("coalesce(v.published, v.seen_at) >= :since")
        params["since"] = query.since
        binds.append(sa.bindparam("since", type_=UTCDateTime()))
    if query.until is not None:
        clauses.append("coalesce(v.published, v.seen_at) < :until")
        params["until"] = query.until
        binds.append(sa.bindparam("until", type_=UTCDateTime()))
    if query.watch is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM matches m WHERE m.article_id = v.article_id AND m.watch = :watch)"
        )
        params["watch"] = query.watch
    if query.story_id is not None:
        clauses.append("a.story_id = :story_id")
        params["story_id"] = query.story_id
    return "".join(f" AND {c}" for c in clauses), binds


class _Versions:
    """The engine's side: the versions matching the translated query and the filters, newest first."""

    def __init__(self, conn: Connection, engine: Engine, query: SearchQuery, plan: _Plan) -> None:
        self.conn = conn
        self.params: dict[str, Any] = {}
        where, self.binds = _filters(query, plan, self.params)
        joined = "JOIN articles a ON a.id = v.article_id"
        if plan.expr is None:
            # No text condition the engine can use: every version within the filters, the matcher decides.
            self.walk_sql = (
                f"SELECT v.id AS id, v.article_id AS article_id, 0.0 AS score FROM article_versions v {joined}"
                f" WHERE 1 = 1{{before}}{where} ORDER BY v.id DESC LIMIT :limit"
            )
            self.before = " AND v.id < :before"
            self.count_sql = (
                f"SELECT DISTINCT v.article_id FROM article_versions v {joined} WHERE 1 = 1{where}"
            )
            return
        self.params["match"] = plan.expr.text
        if engine == "sqlite":
            w_title, w_body, w_summary = BM25_WEIGHTS
            matching = (
                f"FROM fts_versions JOIN article_versions v ON v.id = fts_versions.rowid {joined}"
                f" WHERE fts_versions MATCH :match"
            )
            # FTS5 walks its index in descending rowid order and stops at the LIMIT.
            self.walk_sql = (
                "SELECT fts_versions.rowid AS id, v.article_id AS article_id,"
                f" -bm25(fts_versions, {w_title}, {w_body}, {w_summary}) AS score"
                f" {matching}{{before}}{where} ORDER BY fts_versions.rowid DESC LIMIT :limit"
            )
            self.before = " AND fts_versions.rowid < :before"
            self.count_sql = f"SELECT DISTINCT v.article_id {matching}{where}"
            return
        tsquery = "to_tsquery('simple'::regconfig, fts_unaccent(:match))"
        matching = f"FROM article_versions v {joined} WHERE v.fts_document @@ {tsquery}"
        # The rank only for the rows the LIMIT keeps, outside the subquery.
        self.walk_sql = (
            f"SELECT s.id AS id, s.article_id AS article_id, ts_rank_cd(s.document, {tsquery}) AS score"
            " FROM (SELECT v.id AS id, v.article_id AS article_id, v.fts_document AS document"
            f" {matching}{{before}}{where} ORDER BY v.id DESC LIMIT :limit) s ORDER BY s.id DESC"
        )
        self.before = " AND v.id < :before"
        self.count_sql = f"SELECT DISTINCT v.article_id {matching}{where}"

    def _run(self, sql: str, params: dict[str, Any]) -> list[Any]:
        statement = sa.text(sql).bindparams(*self.binds) if self.binds else sa.text(sql)
        try:
            return list(self.conn.execute(statement, params).all())
        except sa.exc.OperationalError as exc:  # pragma: no cover - the translation should always be valid
            raise RuntimeError(f"search engine rejected {params.get('match')!r}: {exc.orig}") from exc

    def newest(self, before: int | None, limit: int) -> list[_Row]:
        """Up to ``limit`` matching versions older than version ``before`` (None: from the newest)."""
        params = {**self.params, "limit": limit}
        if before is not None:
            params["before"] = before
        sql = self.walk_sql.format(before=self.before if before is not None else "")
        return [_Row(r.id, r.article_id, float(r.score or 0.0)) for r in self._run(sql, params)]

    def count(self, cap: int) -> int:
        """How many articles have a matching version, counted up to ``cap + 1``."""
        sql = f"SELECT count(*) AS n FROM ({self.count_sql} LIMIT :cap) c"
        return int(self._run(sql, {**self.params, "cap": cap + 1})[0].n)


class _Ordered:
    """Candidate articles in the order of the results, read from the engine only as far as needed.

    ``relevance``: the articles of the newest RELEVANCE_WINDOW matching versions, by their best rank, then
    the older ones newest first. ``newest``: by their newest matching version. Either way an article comes
    once, with its newest matching version (the one a reader wants to see).
    """

    def __init__(self, versions: _Versions, sort: Sort) -> None:
        self.versions = versions
        self.sort = sort
        self.total: int | None = None  # set once the number of candidates is known exactly

    def __iter__(self) -> Iterator[_Candidate]:
        seen: set[int] = set()
        before: int | None = None
        if self.sort == "relevance":
            rows = self.versions.newest(None, RELEVANCE_WINDOW)
            best: dict[int, _Candidate] = {}
            for row in rows:  # newest first: an article's first row is its newest matching version
                known = best.get(row.article_id)
                if known is None:
                    best[row.article_id] = _Candidate(row.article_id, row.id, row.score)
                elif row.score > known.rank:
                    best[row.article_id] = _Candidate(row.article_id, known.version_id, row.score)
            if len(rows) < RELEVANCE_WINDOW:
                self.total = len(best)
            yield from sorted(best.values(), key=lambda c: (-c.rank, -c.article_id))
            if len(rows) < RELEVANCE_WINDOW:
                return
            seen, before = set(best), rows[-1].id
        chunk = FIRST_CHUNK
        while True:
            rows = self.versions.newest(before, chunk)
            for row in rows:
                if row.article_id not in seen:
                    seen.add(row.article_id)
                    yield _Candidate(row.article_id, row.id, row.score)
            if len(rows) < chunk:
                self.total = len(seen)
                return
            before, chunk = rows[-1].id, min(chunk * 4, MAX_CHUNK)


@dataclass(frozen=True)
class _Version:
    id: int
    article_id: int
    n: int
    title: str
    body: str
    published: datetime | None
    seen_at: datetime
    source: str
    url: str
    story_id: int | None
    tags: tuple[str, ...]


def _body(summary: str | None, body: str | None) -> str:
    """The body as the matcher sees it (the same rule as monitor.watching): summary first unless repeated."""
    if body and summary and not body.startswith(summary[:80]):
        return f"{summary}\n\n{body}"
    return body or summary or ""


def _load_versions(conn: Connection, where: sa.ColumnElement[bool]) -> list[_Version]:
    query = (
        sa.select(
            versions.c.id,
            versions.c.article_id,
            versions.c.n,
            versions.c.title,
            versions.c.summary,
            versions.c.body,
            versions.c.tags,
            versions.c.published,
            versions.c.seen_at,
            articles.c.url,
            articles.c.story_id,
            articles.c.published.label("article_published"),
            sources.c.name,
            sources.c.tags.label("source_tags"),
        )
        .join(articles, articles.c.id == versions.c.article_id)
        .join(sources, sources.c.id == articles.c.source_id)
        .where(where)
        .order_by(versions.c.article_id, versions.c.n.desc())
    )
    return [
        _Version(
            id=r.id,
            article_id=r.article_id,
            n=r.n,
            title=r.title,
            body=_body(r.summary, r.body),
            published=r.published or r.article_published,
            seen_at=r.seen_at,
            source=r.name,
            url=r.url,
            story_id=r.story_id,
            tags=tuple(dict.fromkeys([*(r.tags or []), *(r.source_tags or [])])),
        )
        for r in conn.execute(query)
    ]


def _in_range(version: _Version, query: SearchQuery) -> bool:
    when = version.published or version.seen_at
    return (query.since is None or when >= query.since) and (query.until is None or when < query.until)


def _hit(matcher: Matcher, version: _Version, rank: float) -> SearchHit | None:
    found = matcher.match(MatchDoc(version.title, version.body, version.source, version.tags))
    if not found:
        return None
    return SearchHit(
        article_id=version.article_id,
        version_id=version.id,
        version_n=version.n,
        source=version.source,
        url=version.url,
        title=version.title,
        snippet=found[0].snippet_text,
        highlights=found[0].highlights,
        published=version.published,
        seen_at=version.seen_at,
        story_id=version.story_id,
        rank=rank,
    )


def _tune(conn: Connection, engine: Engine) -> None:
    """Read the SQLite file through a memory map: the index walk and the row lookups skip the page cache."""
    if engine == "sqlite":
        conn.exec_driver_sql(f"PRAGMA mmap_size = {SQLITE_MMAP_SIZE}")


def search(store: Store, query: SearchQuery) -> SearchPage:
    """One page of articles matching the query, best first; QueryError (with its column) on a bad query."""
    if query.limit < 1 or query.offset < 0:
        raise ValueError("limit must be at least 1 and offset at least 0")
    if query.sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {query.sort!r}")
    tree = parse_query(query.text)
    matcher = compile_watches([WatchSpec("search", query.text)])
    engine: Engine = "sqlite" if store.sqlite else "postgresql"
    hits: list[SearchHit] = []
    with store.read() as conn:
        _tune(conn, engine)
        plan = _plan(conn, engine, tree, query.sources)
        ordered = _Ordered(_Versions(conn, engine, query, plan), query.sort)
        stream = iter(ordered)
        cursor = sum(1 for _ in islice(stream, query.offset))
        examined = 0
        more = cursor == query.offset
        leftover = False
        while more and len(hits) < query.limit and examined < MAX_EXAMINED:
            want = query.limit - len(hits)
            batch = list(
                islice(stream, want if plan.exact else min(max(want * 2, 20), MAX_EXAMINED - examined))
            )
            if not batch:
                more = False
                break
            chosen = {v.id: v for v in _load_versions(conn, versions.c.id.in_([c.version_id for c in batch]))}
            for i, candidate in enumerate(batch):
                cursor += 1
                examined += 1
                version = chosen.get(candidate.version_id)
                hit = _hit(matcher, version, candidate.rank) if version else None
                if hit is None:
                    hit = _fallback(conn, matcher, query, candidate)
                if hit is not None:
                    hits.append(hit)
                    if len(hits) == query.limit:
                        leftover = i + 1 < len(batch)
                        break
        if more and not leftover:
            more = next(stream, None) is not None  # a look-ahead: is there a next page at all?
        total = ordered.versions.count(COUNT_CAP) if ordered.total is None else ordered.total
    return SearchPage(hits, min(total, COUNT_CAP), cursor if more else None, total_capped=total > COUNT_CAP)


def _fallback(
    conn: Connection, matcher: Matcher, query: SearchQuery, candidate: _Candidate
) -> SearchHit | None:
    """The newest other version of the article that truly matches (the engine's pick did not)."""
    for version in _load_versions(conn, versions.c.article_id == candidate.article_id):
        if version.id != candidate.version_id and _in_range(version, query):
            hit = _hit(matcher, version, candidate.rank)
            if hit is not None:
                return hit
    return None


# --- export -----------------------------------------------------------------------------------------------

_EXPORT_BATCH = 500


def export_rows(store: Store, since: datetime | None) -> Iterator[dict[str, Any]]:
    """Every article (with a version seen since ``since``, if given) with all its versions, by article id.

    Streams in batches of articles, so an archive of any size exports in bounded memory; datetimes are
    timezone-aware ``datetime`` objects (``monitor.output.plain`` makes them ISO 8601).
    """
    last_id = 0
    with store.read() as conn:
        while True:
            query = (
                sa.select(
                    articles.c.id,
                    sources.c.name.label("source"),
                    articles.c.key,
                    articles.c.url,
                    articles.c.title,
                    articles.c.published,
                    articles.c.first_seen,
                    articles.c.last_seen,
                    articles.c.removed_at,
                    articles.c.story_id,
                    articles.c.version_count,
                )
                .join(sources, sources.c.id == articles.c.source_id)
                .where(articles.c.id > last_id)
                .order_by(articles.c.id)
                .limit(_EXPORT_BATCH)
            )
            if since is not None:
                query = query.where(
                    articles.c.id.in_(sa.select(versions.c.article_id).where(versions.c.seen_at >= since))
                )
            batch = [dict(r._mapping) for r in conn.execute(query)]
            if not batch:
                return
            last_id = batch[-1]["id"]
            found: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in batch}
            version_query = (
                sa.select(
                    versions.c.article_id,
                    versions.c.id,
                    versions.c.n,
                    versions.c.title,
                    versions.c.summary,
                    versions.c.body,
                    versions.c.author,
                    versions.c.published,
                    versions.c.updated,
                    versions.c.tags,
                    versions.c.content_hash,
                    versions.c.seen_at,
                    versions.c.reverts_to,
                )
                .where(versions.c.article_id.in_(list(found)))
                .order_by(versions.c.article_id, versions.c.n)
            )
            for r in conn.execute(version_query):
                row = dict(r._mapping)
                found[row.pop("article_id")].append(row)
            for row in batch:
                row["versions"] = found[row["id"]]
                yield row
