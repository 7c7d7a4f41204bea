"""The dashboard and the watch, alert and source pages in headless Chromium, at a phone's 400 px width."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from monitor.store.store import Store
from monitor.store.tables import alerts, sources
from monitor.web import create_app
from tests.fixtures.server import LoopbackServer
from tests.fixtures.web import WATCH, LiveServer, build_archive
from tests.integration.web.test_browser import browser, pytestmark  # noqa: F401  (the fixture and the skip mark)

PHONE = {"width": 400, "height": 800}


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport=PHONE)
    try:
        yield context.new_page()
    finally:
        context.close()


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide at {PHONE['width']}px"


def test_dashboard_watch_alert_and_source_pages_on_a_phone(
    phone: Page, store: Store, server: LoopbackServer
) -> None:
    page = phone
    archive = build_archive(store, server)
    with store.write() as conn:  # one failed alert and one failing source, as a live archive has
        failed_id = conn.execute(
            alerts.insert()
            .values(
                delivery_id="failed-1",
                event_key="failed-1",
                story_id=archive.story_id,
                watch=WATCH,
                channel="old-hook",
                match_id=conn.execute(sa.text("SELECT min(id) FROM matches")).scalar_one(),
                event="new_story",
                status="failed",
                attempts=5,
                next_attempt_at=datetime.now(UTC),
                last_error="http://127.0.0.1:9/hook: connection refused by 127.0.0.1:9 (gave up after 5 attempts)",
                created_at=datetime.now(UTC),
            )
            .returning(alerts.c.id)
        ).scalar_one()
        conn.execute(
            sources.update()
            .where(sources.c.name == "kyiv-post")
            .values(consecutive_errors=3, last_error="status 503 from www.kyivpost.com")
        )
    with LiveServer(create_app(store, archive.settings, token=None, health=None)) as live:
        page.goto(live.base + "/")
        expect(page.get_by_role("searchbox", name="Search")).to_be_visible()
        flagged = page.locator("#flagged")
        expect(flagged.locator("h2.watch")).to_have_text([WATCH])
        expect(flagged).to_contain_text("moscow-times → kyiv-post")  # the outlets, first to report first
        expect(page.locator("#pending-alerts li")).to_have_count(1)
        expect(page.locator("#failed-alerts li")).to_have_count(1)
        expect(page.locator("#failed-alerts")).to_contain_text(f"monitor alerts retry {failed_id}")
        expect(page.locator("#erring li")).to_have_count(1)
        expect(page.locator("#erring")).to_contain_text("status 503 from www.kyivpost.com")
        no_horizontal_scroll(page)

        flagged.get_by_role("link", name=WATCH).click()
        page.wait_for_url(f"**/watches/{WATCH}")
        expect(page.locator("#watch-stories li")).to_have_count(1)
        expect(page.locator("#watch-matches > ol > li")).to_have_count(2)
        no_horizontal_scroll(page)

        page.get_by_role("link", name="Alerts", exact=True).click()
        expect(page.locator("#alerts > li")).to_have_count(2)
        page.locator("#alert-filter").get_by_role("link", name="failed").click()
        page.wait_for_url("**/alerts?status=failed")
        expect(page.locator("#alerts > li")).to_have_count(1)
        no_horizontal_scroll(page)

        page.get_by_role("link", name="Sources", exact=True).click()
        no_horizontal_scroll(page)
        page.locator("#sources").get_by_role("link", name="moscow-times").click()
        page.wait_for_url("**/sources/moscow-times")
        expect(page.locator("#articles > li")).to_have_count(1 + archive.filler)
        no_horizontal_scroll(page)

        for path in ("/stories", "/watches", f"/stories/{archive.story_id}", f"/articles/{archive.kyiv_id}"):
            page.goto(live.base + path)
            no_horizontal_scroll(page)

        page.goto(live.base + "/")
        box = page.get_by_role("searchbox", name="Search")
        box.fill('"Storm Corps"')
        box.press("Enter")
        page.wait_for_url(re.compile(r"/\?q="))
        expect(page.locator("li.result")).to_have_count(1)

        for path, status in [
            ("/watches/nosuch", 404),
            ("/sources/nosuch", 404),
            ("/alerts?status=bogus", 404),
        ]:
            assert httpx.get(live.base + path, timeout=5).status_code == status, path
