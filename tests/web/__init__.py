"""The web side's tests share one archive: two outlets' reports of one story, filler, and an edited report."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Any
from xml.sax.saxutils import escape

import httpx
import yaml
from fastapi import FastAPI

from monitor.config import Settings, parse_settings
from monitor.store.store import Store
from monitor.web.server import serve_http
from tests.fixtures.feeds import atom, labelled_items, mt_item, mt_rss, other_item
from tests.fixtures.seeds import other_seed
from tests.fixtures.server import LoopbackServer, Route
from tests.helpers import poll_watching

WATCH = "nk-troops"
ADDED = "Seoul said on Saturday that the Storm Corps units had reached the Kursk front."
EDITED_TITLE = "North Korea sends 1,500 special forces to Russia, Seoul & Kyiv say <update>"


def web_config(server: LoopbackServer) -> dict[str, Any]:
    """The archive's config as YAML data (the CLI reads it from a file, the app as Settings)."""
    return {
        "defaults": {"timeout": "5s", "per_host": 4, "max_age": "none"},
        "sources": [
            {"name": "moscow-times", "feed": server.url("/rss/news")},
            {"name": "kyiv-post", "feed": server.url("/feed.atom")},
        ],
        "watches": [{"name": WATCH, "query": '"North Korea" AND troop*', "channels": ["hook"]}],
        "channels": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"}],
    }


def web_settings(server: LoopbackServer) -> Settings:
    return parse_settings(yaml.safe_dump(web_config(server)), "test.yaml", env={})


def kyiv_feed(*, edited: bool) -> bytes:
    paragraphs = list(other_seed().paragraphs)
    item = other_item()
    if edited:
        paragraphs.insert(1, ADDED)
        item = replace(item, title=EDITED_TITLE)
    return atom([replace(item, content_html="".join(f"<p>{escape(p)}</p>" for p in paragraphs))])


@dataclass(frozen=True)
class Archive:
    settings: Settings
    mt_id: int  # the Moscow Times report: one version
    kyiv_id: int  # the Kyiv Post report: two versions, the second adds ADDED and changes the headline
    story_id: int  # the story both belong to
    filler: int  # unrelated Moscow Times articles


def build_archive(store: Store, server: LoopbackServer) -> Archive:
    """Moscow Times first, then the Kyiv Post, then the Kyiv Post's edit: 2 outlets, 1 story, 1 edit."""
    filler = labelled_items(3)
    server.routes["/rss/news"] = Route.feed(mt_rss([mt_item(), *filler]))
    server.routes["/feed.atom"] = Route.feed(kyiv_feed(edited=False), content_type="application/atom+xml")
    config = web_settings(server)
    poll_watching(config, store, "moscow-times")
    poll_watching(config, store, "kyiv-post")
    server.routes["/feed.atom"] = Route.feed(kyiv_feed(edited=True), content_type="application/atom+xml")
    poll_watching(config, store, "kyiv-post")
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT a.id, s.name, a.story_id, a.version_count, a.key FROM articles a"
            " JOIN sources s ON s.id = a.source_id ORDER BY a.id"
        ).all()
    mt = next(r for r in rows if r[4] == mt_item().guid)
    kyiv = next(r for r in rows if r[1] == "kyiv-post")
    assert kyiv[3] == 2, rows
    assert mt[2] == kyiv[2] is not None, rows
    return Archive(config, mt[0], kyiv[0], kyiv[2], len(filler))


class LiveServer:
    """The app served by monitor.web.server.serve_http (real uvicorn) on a free loopback port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="web-test-server", daemon=True)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(serve_http(self.app, "127.0.0.1", self.port, self._stop))
        except BaseException as exc:  # reported by stop()
            self._error = exc

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start: {self._error!r}")
            time.sleep(0.02)

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)
        self._loop.close()
        if self._error is not None:
            raise self._error

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
