"""Hostile archive content in the browser, Atom, terminal and mail: links inert, XML valid, controls escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from monitor.cli.output import emit
from monitor.config import parse_settings
from monitor.encode import header_value, safe_href, terminal_text, xml_text
from monitor.store.store import Store
from monitor.web import create_app
from tests.fixtures.cli import run_cli, write_config
from tests.fixtures.runtime import poll_watching
from tests.fixtures.server import LoopbackServer, Route
from tests.fixtures.web import LiveServer

EVIL_TITLE = "Troops \x1b[31mred\x01 [bold]title[/bold]"
EVIL_LINK = "javascript:alert(document.domain)"
FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>evil</title>'
    f"<item><title>{EVIL_TITLE}</title><link>{EVIL_LINK}</link>"
    "<description>troops body text of the hostile article</description></item>"
    "</channel></rss>"
).encode()


@pytest.fixture
def hostile_archive(store: Store, server: LoopbackServer) -> Iterator[tuple[Store, object]]:
    server.routes["/feed"] = Route(body=FEED)
    data = {
        "sources": [{"name": "evil", "feed": server.url("/feed")}],
        "watches": [{"name": "w", "query": "troops"}],
    }
    settings = parse_settings(yaml.safe_dump(data), "test.yaml", env={})
    poll_watching(settings, store)
    yield store, settings


def test_pages_and_feeds_keep_hostile_links_inert(hostile_archive: tuple[Store, object]) -> None:
    store, settings = hostile_archive
    app = create_app(store, settings, token=None, health=None, base_url="https://news.example/monitor")  # type: ignore[arg-type]
    with LiveServer(app) as live, live.client() as http:
        page = http.get("/articles/1")
        assert page.status_code == 200
        assert "javascript:" not in page.text.replace(EVIL_LINK, "")  # shown as text, never as href
        assert 'href="javascript:' not in page.text
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "<style" not in page.text and "<script" not in page.text
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert http.get("/static/site.css").status_code == 200
        assert "content-security-policy" in http.get("/nope").headers
        docs = http.get("/docs")
        assert "'sha256-" in docs.headers["content-security-policy"]

        for path in ("/feeds/watch/w.atom", "/feeds/changes.atom"):
            atom = http.get(path, headers={"Host": "evil.example"})
            assert atom.status_code == 200
            root = ET.fromstring(atom.content)  # strict XML: one ESC would make this raise
            links = [el.get("href", "") for el in root.iter("{http://www.w3.org/2005/Atom}link")]
            assert all(link.startswith(("http://", "https://")) for link in links), links
            assert "evil.example" not in atom.text
            self_link = next(
                el for el in root.iter("{http://www.w3.org/2005/Atom}link") if el.get("rel") == "self"
            )
            assert self_link.get("href", "").startswith("https://news.example/monitor/feeds/")


def test_self_links_default_to_the_listen_address(hostile_archive: tuple[Store, object]) -> None:
    store, settings = hostile_archive
    with LiveServer(create_app(store, settings, token=None, health=None)) as live, live.client() as http:  # type: ignore[arg-type]
        atom = http.get("/feeds/watch/w.atom", headers={"Host": "evil.example:666"})
    root = ET.fromstring(atom.content)
    self_link = next(el for el in root.iter("{http://www.w3.org/2005/Atom}link") if el.get("rel") == "self")
    assert self_link.get("href") == f"http://127.0.0.1:{live.port}/feeds/watch/w.atom"


def test_terminal_tables_escape_control_characters(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("w") as handle:
        emit([{"title": EVIL_TITLE}], "table", out=handle)
    text = out.read_text()
    assert "\x1b" not in text and "\x01" not in text
    assert "\\x1b[31mred\\x01" in text and "[bold]title[/bold]" in text  # printed as written, not as markup


def test_cli_show_and_search_print_no_raw_escapes(
    hostile_archive: tuple[Store, object], server: LoopbackServer, db_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "feeds.yaml", [{"name": "evil", "feed": server.url("/feed")}])
    for args in (["show", "1"], ["search", "troops"]):
        done = run_cli(args, config, db_url)
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout and "\x01" not in done.stdout


def test_the_encoders() -> None:
    assert (
        safe_href(EVIL_LINK) is None
        and safe_href(" JavaScript:x") is None
        and safe_href("data:text/html,x") is None
    )
    assert (
        safe_href("https://example.org/a b") is None
        and safe_href("https://example.org/a") == "https://example.org/a"
    )
    assert xml_text("a\x1bb\x01c\ufffe") == "abc"
    assert terminal_text("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert header_value("Troops\r\nBcc: victim@example.org\x1b") == "Troops Bcc: victim@example.org"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("(" * 200 + "troops" + ")" * 200, "nested too deeply"),
        ("NOT " * 300 + "troops", "nested too deeply"),
        ("NOT " * 2000 + "troops", "query too long"),
        (" NEAR/3 ".join(["x"] * 200), "too many NEARs in a row"),
        ('"' + " ".join(["troops"] * 5000) + '"', "query too long"),
        ('"' + " ".join(["troops"] * 100) + '"', "phrase too long"),
        (" OR ".join(["x"] * 300), "too many terms"),
    ],
)
def test_a_hostile_query_is_a_400_naming_the_limit(
    hostile_archive: tuple[Store, object], query: str, message: str
) -> None:
    store, settings = hostile_archive
    with LiveServer(create_app(store, settings, token=None, health=None)) as live, live.client() as http:  # type: ignore[arg-type]
        api = http.get("/api/v1/search", params={"q": query})
        page = http.get("/", params={"q": query})
    assert api.status_code == 400 and message in api.text
    assert page.status_code in (200, 400) and message in page.text


def test_out_of_range_numbers_and_nul_are_400s(hostile_archive: tuple[Store, object]) -> None:
    store, settings = hostile_archive
    big = str(2**63)
    with LiveServer(create_app(store, settings, token=None, health=None)) as live, live.client() as http:  # type: ignore[arg-type]
        for path, params in [
            (f"/api/v1/articles/{big}", {}),
            (f"/articles/{big}", {}),
            (f"/api/v1/stories/{big}", {}),
            ("/api/v1/articles", {"offset": big}),
            ("/api/v1/search", {"q": "troops", "offset": big}),
            ("/", {"q": "troops", "offset": big}),
            ("/api/v1/search", {"q": "troops", "source": "evil\x00"}),
            ("/api/v1/search", {"q": "troops", "watch": "w\x00"}),
        ]:
            response = http.get(path, params=params)
            assert response.status_code == 400, (path, params, response.status_code, response.text[:200])
        assert http.get("/api/v1/search", params={"q": "troops"}).status_code == 200
