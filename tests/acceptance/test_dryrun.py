"""`monitor test`: a source or a watch query tried through the real CLI, and nothing written to the archive."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
import yaml

from monitor.store.store import Store
from monitor.store.tables import alerts, articles, fetches, matches, sources
from tests.fixtures.cli import run_cli
from tests.fixtures.feeds import labelled_items, mt_item, mt_rss
from tests.fixtures.pages import mt_article
from tests.fixtures.seeds import MT_PATH
from tests.fixtures.server import LoopbackServer, Route
from tests.fixtures.web import build_archive

QUERY = '"North Korea" AND troop*'


def counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (sources, articles, fetches, matches, alerts)
        }


def config_for(server: LoopbackServer, tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    data = {
        "defaults": {"timeout": "5s"},
        "sources": [{"name": "moscow-times", "feed": server.url("/rss/news"), "tags": ["russia"]}],
        "watches": [{"name": "nk", "query": QUERY}],
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_trying_a_source_parses_matches_and_writes_nothing(
    db_url: str, store: Store, server: LoopbackServer, tmp_path: Path
) -> None:
    base = server.base
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item(base), *labelled_items(3, base)]))
    server.routes[MT_PATH] = Route(body=mt_article(), content_type="text/html; charset=utf-8")
    config = config_for(server, tmp_path)
    before = counts(store)

    done = run_cli(["test", "moscow-times", "--format", "json"], config, db_url)
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    assert len(entries) == 4
    (korea,) = [e for e in entries if e["watches"]]
    assert korea["watches"] == ["nk"] and korea["url"] == base + MT_PATH
    assert done.stderr.strip().endswith("4 entries would be stored, 1 match a watch (nothing written)")

    deep = run_cli(["test", "moscow-times", "--pages", "--format", "json"], config, db_url)
    assert deep.returncode == 0, deep.stderr
    first = json.loads(deep.stdout)[0]
    assert (
        first["page"].startswith("page: ") and first["words"] > korea["words"]
    )  # the page has the full text
    assert json.loads(deep.stdout)[1]["page"].startswith("page not fetched: status 404")

    by_url = run_cli(["test", server.url("/rss/news"), "--format", "json"], config, db_url)
    assert by_url.returncode == 0 and len(json.loads(by_url.stdout)) == 4
    assert counts(store) == before  # nothing written

    for args, code, says in [
        (["test", "nosuch"], 3, "'nosuch' is neither a source in the config nor an http(s) URL"),
        (["test"], 2, "give a URL or source name, or --query QUERY (not both)"),
        (["test", server.url("/missing")], 1, "status 404"),
    ]:
        refused = run_cli(args, config, db_url)
        assert refused.returncode == code and says in refused.stderr, (args, refused.stderr)


def test_trying_a_query_groups_what_it_finds_into_stories(
    db_url: str, store: Store, server: LoopbackServer, tmp_path: Path
) -> None:
    archive = build_archive(store, server)
    config = config_for(server, tmp_path)
    before = counts(store)
    done = run_cli(["test", "--query", QUERY, "--format", "json"], config, db_url)
    assert done.returncode == 0, done.stderr
    (story,) = json.loads(done.stdout)
    assert story["story_id"] == archive.story_id and story["outlets_in_order"] == "moscow-times > kyiv-post"
    assert sorted(story["article_ids"]) == sorted([archive.mt_id, archive.kyiv_id])
    assert "1 alerts (one per story) for 2 of 2 matching articles" in done.stderr
    future = run_cli(["test", "--query", QUERY, "--since", "2100-01-01", "--format", "json"], config, db_url)
    assert json.loads(future.stdout) == []
    bad = run_cli(["test", "--query", "troops AND (Korea"], config, db_url)
    assert bad.returncode == 2 and "column" in bad.stderr
    assert counts(store) == before
