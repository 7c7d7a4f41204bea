"""The web pages in headless Chromium (Debian's, driven by Playwright): search, open the article, see its diff."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from monitor.store.store import Store
from monitor.web import create_app
from tests.fixtures.server import LoopbackServer
from tests.fixtures.web import ADDED, EDITED_TITLE, WATCH, LiveServer, build_archive

CHROMIUM = os.environ.get("MONITOR_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-t0ken"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK) and not os.environ.get("CI"), reason=f"no Chromium at {CHROMIUM}"
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def test_search_open_the_article_and_see_its_diff(page: Page, store: Store, server: LoopbackServer) -> None:
    archive = build_archive(store, server)
    app = create_app(store, archive.settings, token=TOKEN, health=None)
    with LiveServer(app) as live:
        page.goto(live.base + "/")
        expect(page.locator("h1")).to_have_text("Sign in needed")
        page.goto(f"{live.base}/?token={TOKEN}")  # signs the browser in with a cookie
        assert page.url == live.base + "/"

        box = page.get_by_role("searchbox", name="Search")
        box.fill('"Storm Corps"')
        box.press("Enter")
        page.wait_for_url(re.compile(r"/\?q="))
        results = page.locator("li.result")
        expect(results).to_have_count(1)
        expect(page.locator("#result-count")).to_contain_text("1 article found")
        marks = results.first.locator("mark")
        expect(marks.first).to_be_visible()
        marked = " ".join(marks.all_inner_texts()).lower()
        assert "storm" in marked and "corps" in marked

        results.first.locator("h2 a").click()
        page.wait_for_url(f"**/articles/{archive.kyiv_id}")
        expect(page.locator("#article-title")).to_have_text(EDITED_TITLE)
        rows = page.locator("#versions tr.version")
        expect(rows).to_have_count(2)
        expect(rows.nth(0).locator("td").first).to_have_text("1")
        expect(rows.nth(1).locator("td").first).to_have_text("2")
        expect(rows.nth(1)).to_contain_text("headline changed")

        expect(page.locator("#diff-heading")).to_have_text("Changes from version 1 to 2")
        inserted = page.locator("#diff ins")
        expect(inserted.first).to_be_visible()
        assert ADDED in " ".join(inserted.all_inner_texts())
        green = inserted.first.evaluate("e => getComputedStyle(e).backgroundColor")
        assert green == "rgb(212, 247, 220)"  # highlighted, not just underlined
        expect(page.locator(".headline-diff ins")).to_contain_text("Seoul & Kyiv say <update>")

        # Choosing the versions the other way round shows the sentence as removed.
        page.locator("select[name=from]").select_option("2")
        page.locator("select[name=to]").select_option("1")
        page.get_by_role("button", name="Compare").click()
        page.wait_for_url("**from=2&to=1")
        assert ADDED in " ".join(page.locator("#diff del").all_inner_texts())

        page.get_by_role("link", name="the story across outlets").click()
        expect(page.locator("#outlets li")).to_have_count(2)
        outlets = [t.split(" · ")[0] for t in page.locator("#outlets li").all_inner_texts()]
        assert outlets == ["moscow-times", "kyiv-post"]

        page.get_by_role("link", name="Sources", exact=True).click()
        expect(page.locator("#sources tbody tr")).to_have_count(2)
        expect(page.locator("#feeds")).to_contain_text(f"Watch {WATCH}")


def test_a_bad_query_shows_where(page: Page, store: Store, server: LoopbackServer) -> None:
    archive = build_archive(store, server)
    with LiveServer(create_app(store, archive.settings, token=None, health=None)) as live:
        page.goto(live.base + "/")
        box = page.get_by_role("searchbox", name="Search")
        box.fill("troops AND (Korea")
        box.press("Enter")
        expect(page.locator("#query-error")).to_contain_text("column")
        expect(page.locator("li.result")).to_have_count(0)
