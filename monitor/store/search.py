"""Full-text search over the archive: SQLite FTS5 or Postgres tsvector, checked by the watch matcher.

The SQL side: the engine's matches read newest first a bounded slice at a time, the filters, the ranked
window, the capped count, then every candidate of the page checked by the real watch matcher. The query is
translated by ``monitor.core.search_query``; the index is kept by ``monitor.store.search_index``. Why each
step is the way it is, with the figures: docs/search.md.

Every schema object of the search index is named ``fts_*``; ``include_name`` keeps them out of
schema comparisons against the models.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.core.match import MatchDoc, Matcher, WatchSpec, compile_watches
from monitor.core.query import Node, parse_query
from monitor.core.search_query import Engine, QueryPlan, plan_query
from monitor.models import VersionText
from monitor.store.articles import load_version_texts
from monitor.store.search_index import IndexLag, lag_in
from monitor.store.store import Store
from monitor.store.tables import UTCDateTime, sources, versions

__all__ = ["SORTS", "SearchHit", "SearchPage", "SearchQuery", "Sort", "include_name", "search"]

FTS_PREFIX = "fts_"
BM25_WEIGHTS = (5.0, 1.0, 2.0)  # title, body, summary: the column order of fts_versions
MAX_EXAMINED = 500  # candidates checked per call at most, when the matcher rejects many
RELEVANCE_WINDOW = 1_000  # the newest matching versions ranked by relevance; older ones follow newest first
COUNT_CAP = 1_000  # articles counted at most; beyond it the total is COUNT_CAP with total_capped set
COUNT_VISITS = 1_000  # matching versions read at most to count them (else the total is a lower bound)
FIRST_CHUNK, MAX_CHUNK = 64, 4_096  # versions read at a time when walking newest first (growing)
# Postgres costs and thresholds, measured with bench/search.py (1M versions); see docs/search.md.
PG_TITLE_VECTOR = "to_tsvector('simple'::regconfig, fts_fold(v.title))"  # what fts_titles_gin indexes
PG_INDEX_COST = 2  # a match the GIN index finds, against testing a version on a walk
PG_SLICE_MARGIN, PG_SLICE_MIN = 1.5, 1_000  # ids per step, over those the density predicts
PG_SLICE_GROWTH = 4  # each further step spans at least this many times the ids of the last
PG_RANGE_COST = 0.02  # an id of a slice's primary key range (70 ns), against a match read from the heap
PG_SPARSE_DENSITY, SPARSE_WINDOW = 0.03, 200  # a phrase or NEAR sparser than this ranks only its newest 200
PG_PHRASE_DIVISOR = 8  # a phrase or NEAR: the planner's estimate (all its words) over its density at most
PG_RECHECK_WALK, PG_RECHECK_RANGE = 0.7, 0.12  # a phrase or NEAR: a walk's candidate, a range id / a recheck
PG_TSQUERY = "to_tsquery('simple'::regconfig, fts_unaccent(:match))"
SQLITE_MMAP_SIZE = 2**31  # bytes of the database file the search reads through a memory map
_NO_ID = 2**62  # "before" for a walk from the newest version

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
    lag: IndexLag = field(
        default_factory=IndexLag
    )  # versions committed but not yet searchable (the index is catching up)


def _plan(conn: Connection, engine: Engine, tree: Node, wanted: Sequence[str]) -> QueryPlan:
    names = {row.id: row.name for row in conn.execute(sa.select(sources.c.id, sources.c.name))}
    return plan_query(engine, tree, names, wanted)


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
    keep: bool  # within the query's filters


def _filters(
    query: SearchQuery, plan: QueryPlan, params: dict[str, Any]
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


@dataclass(frozen=True)
class _Slice:
    """One step of the walk: matching versions read, newest first, and whether none older is left."""

    rows: list[_Row]
    done: bool
    sparse: bool = False  # Postgres: a sparse phrase or NEAR stopped at ``least`` (see PG_SPARSE_DENSITY)


class _Versions:
    """The engine's side: the versions matching the translated query, newest first, a slice at a time.

    Each step reads a bounded number of matching versions from the engine's index (newest first, so the
    engine stops at the LIMIT) and only then applies the filters, so the work per step does not depend on
    how selective the filters are; ``keep`` on each row says whether it is within them.
    """

    def __init__(self, conn: Connection, engine: Engine, query: SearchQuery, plan: QueryPlan) -> None:
        self.conn = conn
        self.engine = engine
        self.plan = plan
        self.params: dict[str, Any] = {}
        where, self.binds = _filters(query, plan, self.params)
        keep = f"CASE WHEN 1 = 1{where} THEN 1 ELSE 0 END AS keep"
        # Over the versions table itself, the walk brings the columns the filters need along.
        outer = (
            f"SELECT v.id AS id, v.article_id AS article_id, {keep} FROM ({{inner}}) v"
            " JOIN articles a ON a.id = v.article_id ORDER BY v.id DESC"
        )
        columns = (
            "SELECT v.id AS id, v.article_id AS article_id, v.published AS published, v.seen_at AS seen_at"
        )
        self.matching = ""  # Postgres: the text condition on v
        if plan.expr is None:  # no text condition the engine can use: every version, the matcher decides
            inner = f"{columns} FROM article_versions v WHERE v.id < :before ORDER BY v.id DESC LIMIT :limit"
        elif engine == "sqlite":  # FTS5 walks its index in descending rowid order and stops at the LIMIT
            self.params["match"] = plan.expr.text
            outer = (
                f"SELECT m.id AS id, v.article_id AS article_id, {keep} FROM ({{inner}}) m"
                " JOIN article_versions v ON v.id = m.id JOIN articles a ON a.id = v.article_id"
                " ORDER BY m.id DESC"
            )
            inner = (
                "SELECT rowid AS id FROM fts_versions WHERE fts_versions MATCH :match AND rowid < :before"
                " ORDER BY rowid DESC LIMIT :limit"
            )
        else:
            self.params["match"] = plan.expr.text
            self.matching = f"v.fts_document @@ {PG_TSQUERY}"
            if plan.title is not None:  # implied by the query; lets the planner use the titles' index
                self.params["title"] = plan.title
                # The titles' index covers indexed versions only (monitor.store.search_index).
                title = f"v.fts_document IS NOT NULL AND {PG_TITLE_VECTOR} @@ {PG_TSQUERY.replace(':match', ':title')}"
                # Only title terms: the titles' index says it all (a weight test reads the whole tsvector).
                self.matching = title if plan.title_only else f"{self.matching} AND {title}"
            inner = (
                f"{columns} FROM article_versions v WHERE {self.matching}"
                " AND v.id >= :low AND v.id < :before ORDER BY v.id DESC LIMIT :limit"
            )
        self.sql = outer.format(inner=inner)
        # Postgres: every match of the GIN index older than ``before``, without a primary key range to AND
        # with (``v.id + 0`` is no index condition): cheaper than a slice when the matches are few.
        self.sql_all = self.sql.replace("v.id >= :low AND v.id < :before", "v.id + 0 < :before")
        self.stats: tuple[int, float] | None = None  # Postgres: the top id and the planner's match estimate

    def _run(self, sql: str, params: dict[str, Any], binds: Sequence[sa.BindParameter[Any]]) -> list[Any]:
        statement = sa.text(sql).bindparams(*binds) if binds else sa.text(sql)
        try:
            return list(self.conn.execute(statement, params).all())
        except sa.exc.OperationalError as exc:  # pragma: no cover - the translation should always be valid
            raise RuntimeError(f"search engine rejected {params.get('match')!r}: {exc.orig}") from exc

    def newest(self, before: int | None, limit: int, least: int | None = None) -> _Slice:
        """The next ``limit`` matching versions (or more) older than version ``before`` (None: the newest);
        on Postgres only ``least`` of them when the query is a sparse phrase or NEAR (``sparse`` is set)."""
        if self.engine == "postgresql" and self.plan.expr is not None:
            return self._pg_newest(before, limit, limit if least is None else least)
        params = {**self.params, "limit": limit, "before": _NO_ID if before is None else before}
        found = self._run(self.sql, params, self.binds)
        return _Slice([_Row(r.id, r.article_id, bool(r.keep)) for r in found], len(found) < limit)

    def _pg_newest(self, before: int | None, limit: int, least: int) -> _Slice:
        """Postgres: walk the primary key down, or read the GIN index's matches a slice of ids at a time,
        chosen here from the density (the planner takes the test as free): docs/search.md, "The walk"."""
        if self.stats is None:
            highest = self.conn.execute(sa.text("SELECT coalesce(max(id), 0) + 1 FROM article_versions"))
            explain = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM article_versions v WHERE {self.matching}"
            plan = self.conn.execute(sa.text(explain), self.params).scalar_one()
            plan = json.loads(plan) if isinstance(plan, str) else plan
            self.stats = int(highest.scalar_one()), max(float(plan[0]["Plan"]["Plan Rows"]), 1.0)
        top, estimate = self.stats
        before = top if before is None else before
        positional = "<" in str(self.params["match"])
        # A phrase or NEAR is estimated as all its words: far denser than it is. Its first step asks for
        # ``least``, and the rest only if it proves dense.
        density = min(estimate / top / (PG_PHRASE_DIVISOR if positional else 1), 1.0)
        target = least if positional else limit
        found: list[Any] = []
        span = 0
        while before > 1 and len(found) < target:
            need = target - len(found)
            # Walk when it tests fewer versions than the index finds; never for titles only (the walk would
            # compute each title's tsvector).
            cost = PG_RECHECK_WALK if positional else PG_INDEX_COST
            walk = not self.plan.title_only and need / density < cost * estimate * before / top
            span = max(int(PG_SLICE_MARGIN * need / density) + PG_SLICE_MIN, PG_SLICE_GROWTH * span)
            low = max(before - span, 0)
            # Reading every match of the index (all of them come from the heap, however old) costs less
            # than the slice's primary key range when the matches are few: rare words, and any step that
            # would reach the oldest version anyway.
            matches = max(estimate, density * top)
            if positional:  # every candidate of the index (all the words) is rechecked, matching or not
                whole = not walk and (low == 0 or estimate < span * (PG_RECHECK_RANGE + estimate / top))
            else:
                whole = not walk and (low == 0 or matches < span * (PG_RANGE_COST + density))
            if whole:
                low = 0
            disable = "enable_bitmapscan" if walk else "enable_indexscan"
            rows = self._pg_run(disable, {"before": before, "low": low, "limit": need}, whole)
            found += rows
            if len(rows) < need:  # the slice ran out: go on below it with the density it found
                density = max(len(rows), 0.5) / (before - low)
                before = low
            elif positional:  # the density of the matches read
                density = len(rows) / (before - rows[-1].id)
                before = rows[-1].id
            if positional:
                target = least if density < PG_SPARSE_DENSITY else limit
        done = before <= 1 and len(found) < target
        return _Slice(
            [_Row(r.id, r.article_id, bool(r.keep)) for r in found], done, target < limit and not done
        )

    def _pg_run(self, disable: str, params: dict[str, Any], whole: bool = False) -> list[Any]:
        self.conn.exec_driver_sql(f"SET LOCAL {disable} = off")
        try:
            return self._run(self.sql_all if whole else self.sql, {**self.params, **params}, self.binds)
        finally:
            self.conn.exec_driver_sql(f"RESET {disable}")

    def ranks(self, ids: list[int], every: bool) -> dict[int, float]:
        """Relevance of these versions (higher is better); ``every``: they are all the query matches.
        SQLite: bm25 only then (it reads every match for its IDF), else titles first; Postgres: ts_rank_cd."""
        if not ids or self.plan.expr is None:
            return {}
        params = {"match": self.plan.expr.text, "low": min(ids), "high": max(ids)}
        if self.engine == "postgresql":
            sql = (
                f"SELECT v.id AS id, ts_rank_cd(v.fts_document, {PG_TSQUERY}) AS score"
                " FROM article_versions v"
                " WHERE v.id IN :ids"
            )
            found = self._run(sql, {**params, "ids": ids}, [sa.bindparam("ids", expanding=True)])
            return {r.id: float(r.score) for r in found}
        if every:
            w_title, w_body, w_summary = BM25_WEIGHTS
            sql = (
                f"SELECT rowid AS id, -bm25(fts_versions, {w_title}, {w_body}, {w_summary}) AS score"
                " FROM fts_versions WHERE fts_versions MATCH :match AND rowid BETWEEN :low AND :high"
            )
            return {r.id: float(r.score) for r in self._run(sql, params, ())}
        sql = (
            "SELECT rowid AS id FROM fts_versions"
            " WHERE fts_versions MATCH :match AND rowid BETWEEN :low AND :high"
        )
        titled = self._run(sql, {**params, "match": f"{{title}} : ({self.plan.expr.text})"}, ())
        return {r.id: 1.0 for r in titled}


class _Ordered:
    """Candidate articles in the order of the results, read from the engine only as far as needed.

    ``relevance``: the articles of the newest RELEVANCE_WINDOW matching versions (those in the filters),
    by their best rank, then the older ones newest first. ``newest``: by their newest matching version.
    Either way an article comes once, with its newest matching version (the one a reader wants to see).
    """

    def __init__(self, versions: _Versions, sort: Sort) -> None:
        self.versions = versions
        self.ranked = sort != "relevance"  # the window is ranked (or there is none)
        self.ready: deque[_Candidate] = deque()
        self.pending: deque[_Row] = deque()  # versions read but not yet made candidates
        self.handed = 0  # candidates taken so far
        self.seen: set[int] = set()
        self.before: int | None = None
        self.visited = 0
        self.exhausted = False  # the engine has no older match
        self.chunk = FIRST_CHUNK
        self.window = RELEVANCE_WINDOW  # SPARSE_WINDOW for a sparse phrase or NEAR on Postgres
        self.visits = COUNT_VISITS  # matching versions read at most to count; the window when sparse

    @property
    def done(self) -> bool:
        return self.ranked and self.exhausted and not self.pending

    def _fetch(self, limit: int, least: int | None = None) -> None:
        step = self.versions.newest(self.before, limit, least)
        if step.sparse:
            self.window = self.visits = min(self.window, SPARSE_WINDOW)
        self.pending.extend(step.rows)
        self.visited += len(step.rows)
        self.before = step.rows[-1].id if step.rows else self.before
        self.exhausted = step.done

    def _read(self) -> None:
        """Turn the next versions into candidates, reading from the engine when none are pending."""
        if not self.ranked:
            self.ranked = True
            if len(self.pending) < RELEVANCE_WINDOW and not self.exhausted:
                self._fetch(RELEVANCE_WINDOW, min(SPARSE_WINDOW, RELEVANCE_WINDOW))
            window = [self.pending.popleft() for _ in range(min(self.window, len(self.pending)))]
            newest: dict[int, int] = {}  # article: its newest matching version (rows come newest first)
            for row in window:
                if row.keep:
                    newest.setdefault(row.article_id, row.id)
            ranks = self.versions.ranks(list(newest.values()), self.exhausted and not self.pending)
            ranked = [
                _Candidate(article, version, ranks.get(version, 0.0)) for article, version in newest.items()
            ]
            self.ready.extend(sorted(ranked, key=lambda c: (-c.rank, -c.version_id)))
            self.seen.update(newest)
            return
        if not self.pending and not self.exhausted:
            self._fetch(self.chunk)
            self.chunk = min(self.chunk * 4, MAX_CHUNK)
        while self.pending:
            row = self.pending.popleft()
            if row.keep and row.article_id not in self.seen:
                self.seen.add(row.article_id)
                self.ready.append(_Candidate(row.article_id, row.id, 0.0))

    def take(self, count: int) -> list[_Candidate]:
        """The next ``count`` candidates (fewer at the end)."""
        while len(self.ready) < count and not self.done:
            self._read()
        taken = [self.ready.popleft() for _ in range(min(count, len(self.ready)))]
        self.handed += len(taken)
        return taken

    def more(self) -> bool:
        """Whether another candidate follows."""
        while not self.ready and not self.done:
            self._read()
        return bool(self.ready)

    def count(self) -> tuple[int, bool]:
        """The number of candidates up to COUNT_CAP, reading at most COUNT_VISITS matching versions; and
        whether there are more than that number."""
        while (
            not self.done
            and self.handed + len(self.ready) <= COUNT_CAP
            and (self.visited < self.visits or self.pending or not self.ranked)
        ):
            self._read()
        known = self.handed + len(self.ready)
        return min(known, COUNT_CAP), known > COUNT_CAP or not self.done


def _load_versions(conn: Connection, where: sa.ColumnElement[bool]) -> list[VersionText]:
    return load_version_texts(conn, where, (versions.c.article_id, versions.c.n.desc()))


def _in_range(version: VersionText, query: SearchQuery) -> bool:
    when = version.published or version.seen_at
    return (query.since is None or when >= query.since) and (query.until is None or when < query.until)


def _hit(matcher: Matcher, version: VersionText, rank: float) -> SearchHit | None:
    found = matcher.match(MatchDoc(version.title, version.body, version.source, version.tags))
    if not found:
        return None
    return SearchHit(
        article_id=version.article_id,
        version_id=version.version_id,
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
    """SQLite: read the file through a memory map; Postgres: plan every statement for its own values
    (a cached generic plan ignores the slice's ids and the scan disabled), no JIT."""
    if engine == "sqlite":
        conn.exec_driver_sql(f"PRAGMA mmap_size = {SQLITE_MMAP_SIZE}")
    else:
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        conn.exec_driver_sql("SET LOCAL jit = off")


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
        skipped = 0
        while skipped < query.offset and (part := ordered.take(min(query.offset - skipped, MAX_CHUNK))):
            skipped += len(part)
        cursor, examined, leftover = skipped, 0, False
        while len(hits) < query.limit and examined < MAX_EXAMINED:
            want = query.limit - len(hits)
            batch = ordered.take(want if plan.exact else min(max(want * 2, 20), MAX_EXAMINED - examined))
            if not batch:
                break
            chosen = {
                v.version_id: v
                for v in _load_versions(conn, versions.c.id.in_([c.version_id for c in batch]))
            }
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
        more = leftover or ordered.more()  # a look-ahead: is there a next page at all?
        total, capped = ordered.count()
        lag = lag_in(conn, datetime.now(UTC))
    return SearchPage(hits, total, cursor if more else None, total_capped=capped, lag=lag)


def _fallback(
    conn: Connection, matcher: Matcher, query: SearchQuery, candidate: _Candidate
) -> SearchHit | None:
    """The newest other version of the article that truly matches (the engine's pick did not)."""
    for version in _load_versions(conn, versions.c.article_id == candidate.article_id):
        if version.version_id != candidate.version_id and _in_range(version, query):
            hit = _hit(matcher, version, candidate.rank)
            if hit is not None:
                return hit
    return None
