"""The CLI and the API answer from the same read models: the same alerts, matches, stories and diffs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.store.store import Store
from monitor.web import create_app
from tests.fixtures.cli import run_cli
from tests.fixtures.server import LoopbackServer
from tests.fixtures.web import WATCH, Archive, LiveServer, build_archive, web_config


@pytest.fixture
def archive(store: Store, server: LoopbackServer) -> Archive:
    return build_archive(store, server)


@pytest.fixture
def client(store: Store, archive: Archive) -> Iterator[httpx.Client]:
    with (
        LiveServer(create_app(store, archive.settings, token=None, health=None)) as live,
        live.client() as http,
    ):
        yield http


def cli(args: list[str], config: Path, db_url: str) -> Any:
    done = run_cli(args, config, db_url)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cli_and_api_list_the_same(
    client: httpx.Client, archive: Archive, server: LoopbackServer, db_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(yaml.safe_dump(web_config(server)), encoding="utf-8")

    diff = cli(["diff", str(archive.kyiv_id), "--format", "json"], config, db_url)
    assert diff == client.get(f"/api/v1/articles/{archive.kyiv_id}/diff").json()
    assert (diff["from"], diff["to"], diff["headline_changed"]) == (1, 2, True)

    stories = cli(["stories", "--watch", WATCH, "--format", "json"], config, db_url)
    api_stories = client.get("/api/v1/stories", params={"watch": WATCH}).json()
    assert stories and [(s["id"], s["outlets"], s["watches"]) for s in stories] == [
        (s["id"], s["outlets"], s["watches"]) for s in api_stories
    ]
    story = client.get(f"/api/v1/stories/{archive.story_id}").json()
    listed = next(s for s in stories if s["id"] == archive.story_id)
    assert [a["id"] for a in listed["articles"]] == [a["id"] for a in story["articles"]]
    assert story["outlets"] == ["moscow-times", "kyiv-post"]

    alerts = cli(["alerts", "--format", "json"], config, db_url)
    api_alerts = client.get("/api/v1/alerts").json()
    assert alerts, "the archive's watch queued alerts"
    fields = ("id", "delivery_id", "status", "watch", "channel", "event", "match_id", "attempts")
    assert [tuple(a[f] for f in fields) for a in alerts] == [tuple(a[f] for f in fields) for a in api_alerts]

    matches = cli(["matches", "--watch", WATCH, "--format", "json"], config, db_url)
    api_matches = client.get("/api/v1/matches", params={"watch": WATCH}).json()
    assert matches and [(m["id"], m["article_id"], m["terms"]) for m in matches] == [
        (m["id"], m["article_id"], m["terms"]) for m in api_matches
    ]
