"""The read-only API, /healthz, the token guard and the Atom feeds, over a polled archive on both databases."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import httpx
import pytest

from monitor.daemon import Health
from monitor.errors import MonitorError
from monitor.store.db import make_engine
from monitor.store.store import Store
from monitor.web import create_app
from monitor.web.server import serve_http
from tests.fixtures.cli import env_for, write_config
from tests.fixtures.server import LoopbackServer, free_port
from tests.fixtures.web import ADDED, EDITED_TITLE, WATCH, Archive, LiveServer, build_archive, web_settings

TOKEN = "s3cret-t0ken"


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


def test_sources_and_articles(client: httpx.Client, archive: Archive) -> None:
    sources = client.get("/api/v1/sources").json()
    assert [s["name"] for s in sources] == ["kyiv-post", "moscow-times"]
    assert {s["state"] for s in sources} == {"ok"}
    kyiv, mt = sources
    assert (kyiv["articles"], kyiv["versions"], kyiv["last_status"]) == (1, 2, 200)
    assert mt["articles"] == 1 + archive.filler

    listing = client.get("/api/v1/articles", params={"limit": 2}).json()
    assert listing["total"] == 2 + archive.filler and len(listing["items"]) == 2
    assert listing["next_offset"] == 2
    rest = client.get("/api/v1/articles", params={"limit": 2, "offset": 4}).json()
    assert len(rest["items"]) == listing["total"] - 4 and rest["next_offset"] is None
    everything = client.get("/api/v1/articles").json()["items"]
    assert [a["first_seen"] for a in everything] == sorted(
        (a["first_seen"] for a in everything), reverse=True
    )
    only = client.get("/api/v1/articles", params={"source": "kyiv-post"}).json()
    assert [a["id"] for a in only["items"]] == [archive.kyiv_id] and only["total"] == 1
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.get("/api/v1/articles", params={"since": future}).json()["total"] == 0
    assert client.get("/api/v1/articles", params={"limit": 0}).status_code == 422


def test_article_versions_and_diff(client: httpx.Client, archive: Archive) -> None:
    detail = client.get(f"/api/v1/articles/{archive.kyiv_id}").json()
    assert detail["source"] == "kyiv-post" and detail["title"] == EDITED_TITLE
    assert detail["story_id"] == archive.story_id
    first, second = detail["versions"]
    assert (first["n"], second["n"]) == (1, 2)
    assert second["headline_changed"] is True and second["words_added"] >= len(ADDED.split())

    version = client.get(f"/api/v1/articles/{archive.kyiv_id}/versions/2").json()
    assert ADDED in version["body"] and version["title"] == EDITED_TITLE
    old = client.get(f"/api/v1/articles/{archive.kyiv_id}/versions/1").json()
    assert ADDED not in old["body"]

    diff = client.get(f"/api/v1/articles/{archive.kyiv_id}/diff").json()
    assert (diff["from"], diff["to"], diff["headline_changed"]) == (1, 2, True)
    inserted = " ".join(op["new"] for op in diff["body"] if op["op"] == "insert")
    assert ADDED in inserted
    assert diff["words_added"] == second["words_added"] and diff["words_removed"] == second["words_removed"]
    backwards = client.get(f"/api/v1/articles/{archive.kyiv_id}/diff", params={"from": 2, "to": 1}).json()
    assert ADDED in " ".join(op["old"] for op in backwards["body"] if op["op"] == "delete")


def test_not_found_is_json(client: httpx.Client, archive: Archive) -> None:
    for path, message in [
        ("/api/v1/articles/987654", "no article 987654"),
        (f"/api/v1/articles/{archive.kyiv_id}/versions/7", "has no version 7 (it has 1-2)"),
        (f"/api/v1/articles/{archive.kyiv_id}/diff?to=9", "has no version 9"),
        ("/api/v1/stories/987654", "no story 987654"),
        ("/feeds/watch/nobody.atom", "no watch named 'nobody'"),
        ("/api/v1/nothing-here", "Not Found"),
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json"
        assert message in response.json()["detail"], path
    page = client.get("/articles/987654")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "no article 987654" in page.text


def test_stories_matches_and_alerts(client: httpx.Client, archive: Archive) -> None:
    stories = client.get("/api/v1/stories").json()
    assert len(stories) == 1 + archive.filler
    (story,) = [s for s in stories if s["id"] == archive.story_id]
    assert story["outlets"] == ["moscow-times", "kyiv-post"] and story["watches"] == [WATCH]
    assert [a["id"] for a in story["articles"]] == [archive.mt_id, archive.kyiv_id]
    flagged = client.get("/api/v1/stories", params={"watch": WATCH}).json()
    assert [s["id"] for s in flagged] == [archive.story_id]
    assert [s["first_seen"] for s in stories] == sorted((s["first_seen"] for s in stories), reverse=True)
    page = client.get("/api/v1/stories", params={"limit": 2, "offset": 1}).json()
    assert [s["id"] for s in page] == [s["id"] for s in stories[1:3]]
    by_source = client.get("/api/v1/stories", params={"source": "kyiv-post"}).json()
    assert [s["id"] for s in by_source] == [archive.story_id]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.get("/api/v1/stories", params={"since": future}).json() == []
    for path, params, named in [
        ("/api/v1/stories", {"watch": "other"}, "no watch named 'other'"),
        ("/api/v1/stories", {"source": ["kyiv-post", "nosuch"]}, "no source named 'nosuch'"),
        ("/api/v1/matches", {"watch": "other"}, "no watch named 'other'"),
        ("/api/v1/search", {"q": "storm", "source": "nosuch"}, "no source named 'nosuch'"),
        ("/api/v1/alerts", {"watch": "other"}, "no watch named 'other'"),
        ("/api/v1/articles", {"source": "nosuch"}, "no source named 'nosuch'"),
    ]:
        refused = client.get(path, params=params)
        assert refused.status_code == 404 and refused.json()["detail"] == named, path
    one = client.get(f"/api/v1/stories/{archive.story_id}").json()
    assert one["outlets"] == ["moscow-times", "kyiv-post"] and one["article_count"] == 2

    found = client.get("/api/v1/matches", params={"watch": WATCH}).json()
    assert {m["article_id"] for m in found} == {archive.mt_id, archive.kyiv_id}
    assert [m["flagged"] for m in found if m["article_id"] == archive.mt_id] == [True]

    (alert,) = client.get("/api/v1/alerts", params={"status": "pending"}).json()
    assert (alert["watch"], alert["channel"], alert["story_id"]) == (WATCH, "hook", archive.story_id)
    assert client.get("/api/v1/alerts", params={"status": "sent"}).json() == []
    assert client.get("/api/v1/alerts", params={"status": "bogus"}).status_code == 422


def test_search(client: httpx.Client, archive: Archive) -> None:
    page = client.get("/api/v1/search", params={"q": '"Storm Corps"'}).json()
    assert page["total"] == 1 and page["next_offset"] is None
    assert page["index_pending"] == 0 and page["index_behind_seconds"] == 0  # the index is not behind
    (hit,) = page["hits"]
    assert hit["article_id"] == archive.kyiv_id and hit["source"] == "kyiv-post"
    marked = " ".join(hit["snippet"][start:end] for start, end in hit["highlights"]).lower()
    assert "storm" in marked and "corps" in marked
    both = client.get("/api/v1/search", params={"q": '"North Korea"', "limit": 1}).json()
    assert both["total"] == 2 and len(both["hits"]) == 1 and both["next_offset"] == 1
    for source, total in [("moscow-times", 0), ("kyiv-post", 1)]:
        params = {"q": '"Storm Corps"', "source": source}
        assert client.get("/api/v1/search", params=params).json()["total"] == total
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.get("/api/v1/search", params={"q": '"Storm Corps"', "since": future}).json()["total"] == 0
    flagged = client.get("/api/v1/search", params={"q": "Ukraine", "watch": WATCH}).json()
    assert {h["article_id"] for h in flagged["hits"]} == {archive.mt_id, archive.kyiv_id}
    in_story = client.get("/api/v1/search", params={"q": "Ukraine", "story": archive.story_id}).json()
    assert {h["story_id"] for h in in_story["hits"]} == {archive.story_id}
    bad = client.get("/api/v1/search", params={"q": "troops AND (Korea"})
    assert bad.status_code == 400
    error = bad.json()
    assert error["column"] >= 1 and error["detail"]
    assert client.get("/api/v1/search").status_code == 422


def test_openapi_describes_the_api(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for path in [
        "/healthz",
        "/api/v1/sources",
        "/api/v1/articles",
        "/api/v1/articles/{article_id}",
        "/api/v1/articles/{article_id}/versions/{n}",
        "/api/v1/articles/{article_id}/diff",
        "/api/v1/stories",
        "/api/v1/stories/{story_id}",
        "/api/v1/matches",
        "/api/v1/alerts",
        "/api/v1/search",
        "/feeds/watch/{name}.atom",
        "/feeds/changes.atom",
    ]:
        assert path in paths, path
    assert not any(p == "/" or p.startswith("/articles") for p in paths)  # the pages are not API
    diff = spec["components"]["schemas"]["DiffOut"]
    assert {"from", "to", "words_added", "words_removed", "body"} <= set(diff["properties"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    for page in ("/docs", "/redoc"):  # offline: every script and stylesheet comes from this server
        html = client.get(page)
        assert html.status_code == 200 and ("swagger" in html.text.lower() or "redoc" in html.text.lower())
        assets = re.findall(r"""(?:src|href)=["']([^"']+\.(?:js|css))["']""", html.text)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), (page, asset)
            fetched = client.get(asset)
            assert fetched.status_code == 200 and len(fetched.content) > 1000, asset


def test_the_token_guards_everything_but_healthz(store: Store, archive: Archive) -> None:
    app = create_app(store, archive.settings, token=TOKEN, health=None)
    with LiveServer(app) as live, live.client() as client:
        assert client.get("/healthz").status_code == 200
        for path in ["/api/v1/sources", "/openapi.json", "/feeds/changes.atom", "/docs", "/metrics"]:
            refused = client.get(path)
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"].startswith("Bearer")
        assert client.get("/api/v1/sources", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/v1/sources", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
        ok = client.get("/api/v1/sources", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and len(ok.json()) == 2
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200 and 'monitor_process_role{role="serve"} 1.0' in scraped.text

        page = client.get("/")
        assert page.status_code == 401 and "/?token=" in page.text
        assert client.get("/?token=wrong").status_code == 401
        signed = client.get(f"/sources?token={TOKEN}")
        assert signed.status_code == 303 and signed.headers["location"] == "/sources"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
        assert client.cookies.get("token") == TOKEN
        assert client.get("/sources").status_code == 200  # the cookie now signs the browser in
        assert client.get("/api/v1/sources").status_code == 200
        client.cookies.clear()
        assert client.get("/sources").status_code == 401
        feed = client.get("/feeds/changes.atom", params={"token": TOKEN})  # for feed readers
        assert feed.status_code == 200
        assert TOKEN not in feed.text  # the self link leaves the token out
        assert client.get("/feeds/changes.atom", params={"token": "nope"}).status_code == 401


def test_healthz(store: Store, archive: Archive, tmp_path: Path) -> None:
    def get(app_store: Store, health: Health | None) -> httpx.Response:
        app = create_app(app_store, archive.settings, token=None, health=health, tick_seconds=1.0)
        with LiveServer(app) as live, live.client() as client:
            return client.get("/healthz")

    served = get(store, None)
    assert served.status_code == 200
    assert served.json() == {"status": "ok", "database": True, "scheduler": None}

    now = datetime.now(UTC)
    ticking = get(store, Health(started_at=now - timedelta(hours=1), last_tick_at=now, polls=12))
    assert ticking.status_code == 200
    body = ticking.json()
    assert body["status"] == "ok" and body["scheduler"]["alive"] is True and body["scheduler"]["polls"] == 12

    stalled = get(
        store, Health(started_at=now - timedelta(hours=1), last_tick_at=now - timedelta(seconds=10))
    )
    assert stalled.status_code == 503
    assert stalled.json()["status"] == "degraded" and stalled.json()["scheduler"]["alive"] is False
    just_started = get(store, Health(started_at=now))
    assert just_started.status_code == 200

    broken = make_engine(f"sqlite:///{tmp_path}")  # a directory: SQLite cannot open it
    try:
        dead = get(Store(broken), None)
    finally:
        broken.dispose()
    assert dead.status_code == 503 and dead.json() == {
        "status": "degraded",
        "database": False,
        "scheduler": None,
    }


def test_atom_feeds_parse(client: httpx.Client, archive: Archive) -> None:
    response = client.get(f"/feeds/watch/{WATCH}.atom")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10" and feed.feed.id == f"tag:news-monitor,2024:watch/{WATCH}"
    assert feed.feed.links[0].rel == "self" and feed.feed.links[0].href.endswith(f"/feeds/watch/{WATCH}.atom")
    entries = feed.entries
    assert len(entries) == 2
    assert all(e.id.startswith("tag:news-monitor,2024:watch/") for e in entries)
    assert len({e.id for e in entries}) == 2
    updated = [e.updated_parsed for e in entries]
    assert updated == sorted(updated, reverse=True)  # newest first
    links = {e.link for e in entries}
    assert any("kyivpost.example" in link for link in links)
    assert all(any(t.term.lower().startswith("troop") for t in e.tags) for e in entries)
    assert all("north korea" in e.summary.lower() for e in entries)

    changes = feedparser.parse(client.get("/feeds/changes.atom").content)
    assert changes.bozo == 0, changes.get("bozo_exception")
    (change,) = changes.entries
    assert change.title == f"{EDITED_TITLE} (version 2)"  # & and < survive the escaping
    content = change.content[0].value
    assert "headline changed" in content and "<ins>" in content
    assert re.search(r"\+\d+ / -\d+ words", change.summary)
    assert "Storm Corps units had reached" in content
    assert change.link.startswith("https://www.kyivpost.example/")


async def test_serve_http_serves_until_stopped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/monitor.db"
    engine = make_engine(url)
    from monitor.store.db import upgrade

    upgrade(engine)
    with LoopbackServer() as feeds:
        app = create_app(Store(engine), web_settings(feeds), token=None, health=Health())
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve_http(app, "127.0.0.1", port, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(100):
                try:
                    response = await http.get("/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert response.status_code == 200 and response.json()["database"] is True
            with pytest.raises(MonitorError, match=f"cannot listen on 127.0.0.1:{port}"):
                await serve_http(app, "127.0.0.1", port, asyncio.Event())
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
        engine.dispose()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more


SERVE = [sys.executable, "-m", "monitor"]


def test_serve_command(db_url: str, server: LoopbackServer, tmp_path: Path) -> None:
    config = write_config(tmp_path / "feeds.yaml", [{"name": "mt", "feed": server.url("/rss/news")}])
    from monitor.store.db import upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()
    port = free_port()
    env = env_for(config, db_url) | {"MONITOR_API_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [*SERVE, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/sources", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                break
            except httpx.ConnectError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                time.sleep(0.1)
        assert response.status_code == 200 and response.json() == []  # `poll` never ran: no sources yet
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/sources").status_code == 401
        taken = subprocess.run(
            [*SERVE, "serve", "--port", str(port)], env=env, capture_output=True, text=True, timeout=60
        )
        assert taken.returncode == 1
        assert taken.stderr.strip().splitlines()[-1].startswith(f"monitor: cannot listen on 127.0.0.1:{port}")
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"serving http://127.0.0.1:{port}/" in err.decode()
