"""Full-text search on SQLite and Postgres: the same hits as the watch matcher, filters, paging, CLI, export."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from monitor.config import Settings
from monitor.core.match import MatchDoc, WatchSpec, compile_watches
from monitor.errors import QueryError
from monitor.store import search as search_module
from monitor.store.export import export_rows
from monitor.store.search import SORTS, SearchQuery, include_name, search
from monitor.store.store import Store
from monitor.store.tables import Base, articles, matches, sources, versions
from tests.fixtures.cli import env_for, write_config
from tests.fixtures.feeds import Item, filler_items, labelled_items, mt_item, mt_rss, other_outlet_atom
from tests.fixtures.runtime import poll_watching
from tests.fixtures.server import LoopbackServer, Route
from tests.integration.watching.test_watching import settings

DAY = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
BASE = "https://www.themoscowtimes.com"


def custom_items() -> list[Item]:
    """Articles written for the cases the seeds do not cover: accents, NEAR distances, dates, ranking."""

    def item(slug: str, title: str, text: str, days_ago: int) -> Item:
        link = f"{BASE}/custom/{slug}"
        return Item(title, link, text, DAY - timedelta(days=days_ago, hours=1), guid=link)

    return [
        item("alpha", "Greek letters", "alpha beta gamma delta epsilon zeta appear in this order here.", 3),
        item("zurich", "Summit in Zürich", "Ministers met at the Crème de la Crème hotel in Zürich.", 10),
        item("zebra-title", "Zebra crossing rules", "New rules for pedestrians were published today.", 20),
        item(
            "zebra-body", "Traffic news", "Drivers were reminded of the rules; a zebra was seen nearby.", 20
        ),
    ]


def feed_items() -> list[Item]:
    return [mt_item(), *labelled_items(7), *custom_items(), *filler_items(25, seed=3)]


def archive(store: Store, server: LoopbackServer) -> Settings:
    """Poll the seed reports, labelled reports, custom and filler articles into the store."""
    server.routes["/rss/news"] = Route.feed(mt_rss(feed_items()))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")
    config = settings(
        server, [{"name": "nk-troops", "query": '"North Korea" AND troop*', "channels": ["hook"]}]
    )
    poll_watching(config, store)
    return config


def truth(store: Store, text: str, query: SearchQuery | None = None) -> set[int]:
    """Articles with a version the watch matcher matches (within the query's filters): what search must find."""
    matcher = compile_watches([WatchSpec("q", text)])
    query = query or SearchQuery(text)
    with store.read() as conn:
        names = {r.id: (r.name, tuple(r.tags or ())) for r in conn.execute(sa.select(sources))}
        owners = {r.id: r.source_id for r in conn.execute(sa.select(articles.c.id, articles.c.source_id))}
    found = set()
    for row in export_rows(store, None):
        name, source_tags = names[owners[row["id"]]]
        if query.sources and name not in query.sources:
            continue
        for v in row["versions"]:
            when = v["published"] or v["seen_at"]
            if (query.since and when < query.since) or (query.until and when >= query.until):
                continue
            body = v["body"]
            if body and v["summary"] and not body.startswith(v["summary"][:80]):
                body = f"{v['summary']}\n\n{body}"
            doc = MatchDoc(v["title"], body or v["summary"], name, (*v["tags"], *source_tags))
            if matcher.match(doc):
                found.add(row["id"])
                break
    return found


def found(store: Store, text: str, **filters: object) -> list[int]:
    page = search(store, SearchQuery(text, limit=1000, **filters))  # type: ignore[arg-type]
    assert page.next_offset is None
    return [h.article_id for h in page.hits]


def title_of(store: Store, article_id: int) -> str:
    with store.read() as conn:
        return str(conn.execute(sa.select(articles.c.title).where(articles.c.id == article_id)).scalar_one())


QUERIES = [
    "korea",
    "KOREA's",
    '"north korea"',
    "troop*",
    '"special for*"',
    "korea AND ukraine",
    "korea ukraine",
    "oil OR hostages",
    "korea NOT storm",
    "(oil OR korea) NOT title:opec",
    '"special forces" NEAR/3 stationed',
    "alpha NEAR/3 delta",
    "alpha NEAR/2 delta",
    "(alpha OR zeta) NEAR/1 beta",
    "title:korea",
    "body:zebra",
    "title:zebra OR title:greek",
    "source:kyiv-post korea",
    "source:moscow* korea",
    "tag:russia* OR korea",
    "zurich",
    "creme",
    "Zürich",
    "anti-tank",
    "storm corps",
    '"storm corps"',
]


@pytest.mark.parametrize("text", QUERIES)
def test_hits_are_exactly_what_the_watch_matcher_matches(
    store: Store, server: LoopbackServer, text: str
) -> None:
    archive(store, server)
    assert set(found(store, text)) == truth(store, text)


def test_words_phrases_prefixes_and_booleans(store: Store, server: LoopbackServer) -> None:
    archive(store, server)
    korea = set(found(store, "korea"))
    assert len(korea) == 2  # the two seed reports
    assert set(found(store, "troop*")) >= {a for a in korea if "Troop" in title_of(store, a)}
    assert found(store, "korea NOT storm") == found(store, "korea", sources=("moscow-times",))
    assert len(found(store, "korea NOT storm")) == 1
    assert {title_of(store, a) for a in found(store, '"special for*"')} == {title_of(store, a) for a in korea}
    assert found(store, "zurich") == found(store, "Zürich") == found(store, "creme") != []
    assert set(found(store, "oil OR hostages")) == set(found(store, "oil")) | set(found(store, "hostages"))


def test_near_counts_words_like_the_matcher(store: Store, server: LoopbackServer) -> None:
    archive(store, server)
    (alpha,) = found(store, "greek")
    assert found(store, "alpha NEAR/3 delta") == [alpha]  # alpha beta gamma delta: 3 apart
    assert found(store, "delta NEAR/3 alpha") == [alpha]
    assert found(store, "alpha NEAR/2 delta") == []
    assert found(store, "(alpha OR zeta) NEAR/1 beta") == [alpha]


def test_title_scope_and_ranking(store: Store, server: LoopbackServer) -> None:
    archive(store, server)
    hits = search(store, SearchQuery("zebra")).hits
    assert [h.title for h in hits] == ["Zebra crossing rules", "Traffic news"]  # the title weighs more
    assert hits[0].rank > hits[1].rank
    assert [h.title for h in search(store, SearchQuery("title:zebra")).hits] == ["Zebra crossing rules"]
    assert [h.title for h in search(store, SearchQuery("body:zebra")).hits] == ["Traffic news"]


def test_storm_corps_finds_the_second_seed_report_with_highlights(
    store: Store, server: LoopbackServer
) -> None:
    archive(store, server)
    page = search(store, SearchQuery("Storm Corps"))
    assert page.total == 1
    (hit,) = page.hits
    assert hit.source == "kyiv-post" and hit.title.startswith("North Korea sends 1,500")
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["Storm", "Corps"]
    assert len(hit.snippet) <= 260 and "Storm Corps" in hit.snippet
    # The floods report has "Storm" but not "Corps": it is no hit, though a Storm query finds it.
    assert any("Storm Boris" in h.title for h in search(store, SearchQuery("storm")).hits)


def test_filters_source_dates_watch_story(store: Store, server: LoopbackServer) -> None:
    archive(store, server)
    korea = set(found(store, "korea"))
    (kyiv,) = found(store, "korea", sources=("kyiv-post",))
    (moscow,) = found(store, "korea", sources=("moscow-times",))
    assert {kyiv, moscow} == korea
    assert found(store, "korea", sources=("nowhere",)) == []
    # Dates: the custom articles are 3, 10 and 20 days old.
    since = DAY - timedelta(days=11)
    window = SearchQuery("rules OR ministers OR alpha", since=since, until=DAY - timedelta(days=5))
    assert [
        title_of(store, a) for a in found(store, window.text, since=window.since, until=window.until)
    ] == ["Summit in Zürich"]
    assert set(found(store, window.text, since=since)) == truth(
        store, window.text, replace(window, until=None)
    )
    # The watch matched both seed reports; their story holds both.
    assert set(found(store, "korea OR oil", watch="nk-troops")) == korea
    assert found(store, "korea", watch="no-such-watch") == []
    with store.read() as conn:
        story_id = conn.execute(sa.select(matches.c.story_id).limit(1)).scalar_one()
    assert set(found(store, "korea OR oil", story_id=story_id)) == korea


def test_pages_cover_every_hit_once(store: Store, server: LoopbackServer) -> None:
    archive(store, server)
    everything = search(store, SearchQuery("said OR government", limit=1000))
    assert everything.total == len(everything.hits) >= 25
    seen: list[int] = []
    offset: int | None = 0
    while offset is not None:
        page = search(store, SearchQuery("said OR government", limit=7, offset=offset))
        assert page.total == everything.total and len(page.hits) <= 7
        seen += [h.article_id for h in page.hits]
        offset = page.next_offset
    assert seen == [h.article_id for h in everything.hits]
    ranks = [h.rank for h in everything.hits]
    assert ranks == sorted(ranks, reverse=True)
    past = search(store, SearchQuery("said OR government", offset=10_000))
    assert past.hits == [] and past.total == everything.total and past.next_offset is None


def test_newest_first_sort_has_the_same_hits_by_their_newest_version(
    store: Store, server: LoopbackServer
) -> None:
    archive(store, server)
    text = "said OR government"
    ranked = search(store, SearchQuery(text, limit=1000))
    newest = search(store, SearchQuery(text, limit=1000, sort="newest"))
    assert newest.total == ranked.total == len(newest.hits) and newest.next_offset is None
    assert {h.article_id for h in newest.hits} == {h.article_id for h in ranked.hits}
    assert {h.version_id for h in newest.hits} == {h.version_id for h in ranked.hits}
    ids = [h.version_id for h in newest.hits]
    assert ids == sorted(ids, reverse=True) and ids != [h.version_id for h in ranked.hits]
    seen: list[int] = []
    offset: int | None = 0
    while offset is not None:
        page = search(store, SearchQuery(text, limit=4, offset=offset, sort="newest"))
        seen += [h.version_id for h in page.hits]
        offset = page.next_offset
    assert seen == ids
    with pytest.raises(ValueError, match="sort must be one of relevance, newest"):
        search(store, SearchQuery(text, sort="oldest"))  # type: ignore[arg-type]


def test_relevance_ranks_the_newest_window_then_older_hits_newest_first(
    store: Store, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive(store, server)
    text = "said OR government"
    everything = search(store, SearchQuery(text, limit=1000)).hits
    monkeypatch.setattr(search_module, "RELEVANCE_WINDOW", 6)
    with store.read() as conn:  # the six newest versions the engine finds, as the window takes them
        window_articles = set(
            conn.execute(
                sa.select(versions.c.article_id)
                .where(versions.c.id.in_([h.version_id for h in everything]))
                .order_by(versions.c.id.desc())
                .limit(6)
            ).scalars()
        )
    page = search(store, SearchQuery(text, limit=1000))
    assert page.total == len(everything) and not page.total_capped and page.next_offset is None
    assert {h.article_id for h in page.hits} == {h.article_id for h in everything}
    head, tail = page.hits[: len(window_articles)], page.hits[len(window_articles) :]
    assert {h.article_id for h in head} == window_articles
    assert [h.rank for h in head] == sorted((h.rank for h in head), reverse=True)
    assert [h.version_id for h in tail] == sorted((h.version_id for h in tail), reverse=True)
    assert tail and max(h.version_id for h in tail) < min(h.version_id for h in head)
    seen: list[int] = []
    offset: int | None = 0
    while offset is not None:
        part = search(store, SearchQuery(text, limit=3, offset=offset))
        seen += [h.article_id for h in part.hits]
        offset = part.next_offset
    assert seen == [h.article_id for h in page.hits]


def test_the_total_is_counted_up_to_a_cap(
    store: Store, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive(store, server)
    full = search(store, SearchQuery("said OR government", limit=1000))
    assert not full.total_capped and full.total > 5
    monkeypatch.setattr(search_module, "COUNT_CAP", 5)
    for sort in SORTS:
        monkeypatch.setattr(search_module, "RELEVANCE_WINDOW", 1000)
        page = search(store, SearchQuery("said OR government", limit=2, sort=sort))
        assert (page.total, page.total_capped, page.next_offset) == (5, True, 2)
        monkeypatch.setattr(search_module, "RELEVANCE_WINDOW", 3)  # the count comes from the engine
        page = search(store, SearchQuery("said OR government", limit=2, sort=sort))
        assert (page.total, page.total_capped, page.next_offset) == (5, True, 2)
        assert [h.article_id for h in page.hits] == [
            h.article_id for h in search(store, SearchQuery("said OR government", limit=2, sort=sort)).hits
        ]
    # Counting reads at most COUNT_VISITS matching versions: past that, the total is a lower bound.
    monkeypatch.setattr(search_module, "COUNT_CAP", 1000)
    monkeypatch.setattr(search_module, "FIRST_CHUNK", 2)
    monkeypatch.setattr(search_module, "COUNT_VISITS", 4)
    page = search(store, SearchQuery("said OR government", limit=2, sort="newest"))
    assert page.next_offset == 2 and page.total_capped and 2 <= page.total < full.total
    korea = search(store, SearchQuery("korea"))
    assert (korea.total, korea.total_capped) == (2, False)
    monkeypatch.setattr(search_module, "RELEVANCE_WINDOW", 1)
    korea = search(store, SearchQuery("korea", limit=1))
    assert (korea.total, korea.total_capped, korea.next_offset) == (2, False, 1)


def test_a_bad_query_says_where(store: Store) -> None:
    with pytest.raises(QueryError) as error:
        search(store, SearchQuery("korea AND ("))
    assert error.value.column == 12
    with pytest.raises(QueryError) as error:
        search(store, SearchQuery('troops "north korea'))
    assert error.value.column == 8 and "unterminated" in error.value.message
    with pytest.raises(QueryError):
        search(store, SearchQuery("NOT korea"))


def test_new_versions_are_searchable_at_once(store: Store, server: LoopbackServer) -> None:
    config = archive(store, server)
    assert found(store, "zanzibar") == []
    edited = [
        replace(i, description=i.description + " Talks move to Zanzibar.") if "alpha" in i.link else i
        for i in feed_items()
    ]
    server.routes["/rss/news"] = Route.feed(mt_rss(edited))
    poll_watching(config, store, "moscow-times")
    (hit,) = search(store, SearchQuery("zanzibar")).hits
    assert hit.version_n == 2 and hit.title == "Greek letters"
    # A word of both versions finds the article once, at its newest version.
    (both,) = search(store, SearchQuery("epsilon")).hits
    assert both.article_id == hit.article_id and both.version_n == 2
    # Edited and deleted rows leave the index too.
    with store.write() as conn:
        conn.execute(
            versions.update().where(versions.c.id == hit.version_id).values(summary="", body="nothing here")
        )
    assert search(store, SearchQuery("zanzibar")).hits == []
    with store.write() as conn:
        conn.execute(articles.delete().where(articles.c.id == hit.article_id))
    assert found(store, "epsilon") == []


def test_export_has_every_article_with_all_its_versions(store: Store, server: LoopbackServer) -> None:
    config = archive(store, server)
    edited = [
        replace(i, description=i.description + " Zanzibar.") if "alpha" in i.link else i for i in feed_items()
    ]
    server.routes["/rss/news"] = Route.feed(mt_rss(edited))
    poll_watching(config, store, "moscow-times")
    rows = list(export_rows(store, None))
    assert len(rows) == store.counts()["articles"] and [r["id"] for r in rows] == sorted(
        r["id"] for r in rows
    )
    assert sum(len(r["versions"]) for r in rows) == store.counts()["versions"]
    (greek,) = [r for r in rows if r["title"] == "Greek letters"]
    assert [v["n"] for v in greek["versions"]] == [1, 2] and "Zanzibar" in greek["versions"][1]["summary"]
    latest = max(v["seen_at"] for r in rows for v in r["versions"])
    assert [r["id"] for r in export_rows(store, latest)] == [greek["id"]]
    assert list(export_rows(store, latest + timedelta(seconds=1))) == []


def test_schema_matches_the_models_apart_from_the_search_index(db_url: str) -> None:
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": include_name}
            )
            assert compare_metadata(context, Base.metadata) == []
            names = sa.inspect(conn).get_table_names()
            if engine.dialect.name == "sqlite":
                assert "fts_versions" in names
            else:
                columns = [c["name"] for c in sa.inspect(conn).get_columns("article_versions")]
                assert "fts_document" in columns
    finally:
        engine.dispose()


# --- the CLI ----------------------------------------------------------------------------------------------

# The real command in a subprocess.
_MAIN = "from monitor.cli.root import main\nmain(prog_name='monitor')\n"


def monitor(args: list[str], config: Path, db_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _MAIN, *args],
        env=env_for(config, db_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_search_and_export(store: Store, server: LoopbackServer, db_url: str, tmp_path: Path) -> None:
    archive(store, server)
    config = write_config(
        tmp_path / "feeds.yaml", [{"name": "moscow-times", "feed": server.url("/rss/news")}]
    )
    done = monitor(["search", "Storm Corps", "--format", "json"], config, db_url)
    assert done.returncode == 0, done.stderr
    (hit,) = json.loads(done.stdout)
    assert hit["source"] == "kyiv-post" and hit["highlights"] and "Storm Corps" in hit["snippet"]
    assert done.stderr.strip() == "1 hits of 1 articles from offset 0"

    done = monitor(
        ["search", "korea", "--format", "csv", "--source", "moscow-times", "--limit", "5"], config, db_url
    )
    assert done.returncode == 0, done.stderr
    (row,) = list(csv.DictReader(io.StringIO(done.stdout)))
    assert row["source"] == "moscow-times" and row["title"].startswith("North Korea Sending")
    assert json.loads("[" + row["highlights"].replace(";", ",") + "]") and row["version_n"] == "1"

    done = monitor(
        ["search", "said", "--limit", "3", "--format", "jsonl", "--since", "2024-01-01"], config, db_url
    )
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3
    assert "next page: --offset 3" in done.stderr

    done = monitor(
        ["search", "said", "--sort", "newest", "--format", "json", "--limit", "1000"], config, db_url
    )
    assert done.returncode == 0, done.stderr
    ids = [hit["version_id"] for hit in json.loads(done.stdout)]
    assert len(ids) > 3 and ids == sorted(ids, reverse=True)

    done = monitor(["search", "said", "--until", "2024-10-18"], config, db_url)
    assert done.returncode == 0 and "said" in done.stdout

    done = monitor(["search", "korea AND ("], config, db_url)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["monitor: expected a word, phrase or '(' at column 12"]
    done = monitor(["search", "korea", "--since", "yesterday"], config, db_url)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "monitor: --since: 'yesterday' is not a date (use 2024-10-18 or 2024-10-18T09:30)"
    ]

    done = monitor(["export"], config, db_url)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == store.counts()["articles"] and all(r["versions"] for r in lines if r["title"])
    assert datetime.fromisoformat(lines[0]["versions"][0]["seen_at"]).tzinfo is not None
    assert done.stderr.strip() == f"exported {len(lines)} articles"
    done = monitor(["export", "--since", "2999-01-01"], config, db_url)
    assert done.returncode == 0 and done.stdout == ""
