"""Article pages end to end through the real CLI, on SQLite and Postgres: versions, diffs, removal, listings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fixtures.cli import run_cli, write_config
from tests.fixtures.feeds import Item, mt_rss
from tests.fixtures.pages import mt_article, mt_listing
from tests.fixtures.seeds import MT_PATH, mt_seed
from tests.fixtures.server import LoopbackServer, Route

SEED = mt_seed()


def cli_json(args: list[str], config: Path, db_url: str) -> Any:
    done = run_cli([*args, "--format", "json"], config, db_url)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def serve_page(server: LoopbackServer, page: bytes, path: str = MT_PATH) -> None:
    server.routes[path] = Route(body=page, content_type="text/html; charset=utf-8")


def test_follow_links_edits_cosmetics_headline_and_removal(
    db_url: str, server: LoopbackServer, tmp_path: Path
) -> None:
    link = server.url(MT_PATH)
    server.routes["/rss/news"] = Route.feed(
        mt_rss([Item(SEED.title, link, SEED.excerpt, SEED.published, guid=link)])
    )
    serve_page(server, mt_article())
    config = write_config(
        tmp_path / "feeds.yaml", [{"name": "mt", "feed": server.url("/rss/news"), "follow_links": True}]
    )

    (polled,) = cli_json(["poll", "--no-pages"], config, db_url)
    assert polled["new"] == 1
    (checked,) = cli_json(["poll", "--articles"], config, db_url)
    assert checked["version"] == "enriched" and checked["status"] == 200
    article_id = checked["article"]

    (checked,) = cli_json(["poll", "--articles"], config, db_url)
    assert checked["version"] is None  # nothing changed

    serve_page(server, mt_article(shares=98765))  # a share counter ticks: cosmetic
    (checked,) = cli_json(["poll", "--articles"], config, db_url)
    assert checked["version"] is None

    edited = [p.replace("1,500 special forces", "2,000 special forces") for p in SEED.paragraphs]
    serve_page(server, mt_article(paragraphs=edited))
    (checked,) = cli_json(["poll", "--articles"], config, db_url)
    assert checked["version"] == "edit"
    diff = run_cli(["diff", str(article_id), "--format", "json"], config, db_url)
    changes = json.loads(diff.stdout)
    assert (changes["from"], changes["to"], changes["headline_changed"]) == (1, 2, False)
    assert [(op["old"], op["new"]) for op in changes["body"] if op["op"] != "equal"] == [("1,500", "2,000")]
    text = run_cli(["diff", str(article_id)], config, db_url).stdout
    assert "[-1,500-] {+2,000+} special forces" in text

    serve_page(server, mt_article(title="North Korea Deploys 1,500 Troops to Russia", paragraphs=edited))
    (checked,) = cli_json(["poll", "--articles"], config, db_url)
    assert checked["version"] == "edit"
    changes = json.loads(run_cli(["diff", str(article_id), "--format", "json"], config, db_url).stdout)
    assert changes["headline_changed"] and changes["body"] == [
        {"op": "equal", "old": changes["body"][0]["old"], "new": changes["body"][0]["new"]}
    ]
    assert "HEADLINE CHANGED" in run_cli(["diff", str(article_id)], config, db_url).stdout

    server.routes[MT_PATH] = Route(status=404, body=b"not found", content_type="text/html")
    (checked,) = cli_json(["poll", "--articles"], config, db_url)
    assert checked["events"] == ["removed"]
    shown = cli_json(["show", str(article_id)], config, db_url)
    assert [v["n"] for v in shown["versions"]] == [1, 2, 3]
    assert [v["headline_changed"] for v in shown["versions"]] == [False, False, True]
    assert shown["versions"][1]["words_added"] == 1 and shown["versions"][1]["words_removed"] == 1
    assert [e["kind"] for e in shown["events"]] == ["removed"] and shown["article"]["removed_at"]


def test_a_listing_page_source_tracks_its_articles(
    db_url: str, server: LoopbackServer, tmp_path: Path
) -> None:
    paths = [MT_PATH, "/2024/10/18/second-story-about-the-russian-economy-a86741"]
    server.routes["/news"] = Route(body=mt_listing([(p, "t") for p in paths]), content_type="text/html")
    serve_page(server, mt_article())
    serve_page(
        server, mt_article(title="Russian Economy Slows", paragraphs=list(SEED.paragraphs[3:])), paths[1]
    )
    config = write_config(tmp_path / "feeds.yaml", [{"name": "mt-news", "page": server.url("/news")}])
    (polled,) = cli_json(["poll", "--no-pages"], config, db_url)
    assert polled["status"] == 200 and polled["new"] == 0  # links are known; versions come from their pages
    checks = cli_json(["poll", "--articles"], config, db_url)
    assert sorted(c["version"] for c in checks) == ["new", "new"]
    assert (
        len(server.requests_for("/2024/10/17/nav-promo-story-about-something-else-a86700")) == 0
    )  # a nav link
    (again,) = cli_json(["poll"], config, db_url)
    assert again["status"] == 200


def test_a_single_article_page_source(db_url: str, server: LoopbackServer, tmp_path: Path) -> None:
    serve_page(server, mt_article())
    config = write_config(tmp_path / "feeds.yaml", [{"name": "one", "page": server.url(MT_PATH)}])
    (first,) = cli_json(["poll"], config, db_url)
    assert first["new"] == 1
    serve_page(server, mt_article(paragraphs=[p.replace("Friday", "on Friday") for p in SEED.paragraphs]))
    (second,) = cli_json(["poll"], config, db_url)
    assert second["changed"] == 1
