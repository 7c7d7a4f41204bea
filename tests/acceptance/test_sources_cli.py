"""`monitor sources add|remove` and `monitor opml import|export` on a copy of the shipped config, via the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import listparser
import pytest

from monitor.config import load_settings
from tests.fixtures.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
DB = "sqlite:///unused.db"  # these commands never open the database


@pytest.fixture
def config(tmp_path: Path) -> Path:
    copy = tmp_path / "feeds.yaml"
    shutil.copy(ROOT / "config/feeds.yaml", copy)
    return copy


def test_add_and_remove_keep_comments_and_layout(config: Path) -> None:
    original = config.read_text()
    add = ["sources", "add", "kyiv-post", "https://www.kyivpost.com/feed"]
    done = run_cli([*add, "--tag", "ukraine", "--tag", "english", "--interval", "15m"], config, DB)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{config}: added kyiv-post (9 sources)"
    block = (
        "\n  - name: kyiv-post\n    feed: https://www.kyivpost.com/feed\n    interval: 15m\n"
        "    tags: [ukraine, english]\n"
    )
    end = (
        original.index("\n", original.index("tags:", original.index("name: france24"))) + 1
    )  # the last source
    assert config.read_text() == original[:end] + block + original[end:]
    assert run_cli(["check"], config, DB).returncode == 0

    page = run_cli(
        ["sources", "add", "desk", "https://example.org/news", "--page", "--follow-links"], config, DB
    )
    assert page.returncode == 0, page.stderr
    desk = load_settings(config).source("desk")
    assert desk is not None and desk.page == "https://example.org/news" and desk.follow_links

    assert run_cli(["sources", "remove", "desk"], config, DB).returncode == 0
    assert run_cli(["sources", "remove", "kyiv-post"], config, DB).returncode == 0
    assert config.read_text() == original

    meduza = "  - name: meduza\n    feed: https://meduza.io/rss/en/all\n    tags: [russia, english]\n\n"
    assert run_cli(["sources", "remove", "meduza"], config, DB).returncode == 0
    assert config.read_text() == original.replace(meduza, "", 1)


def test_bad_additions_change_nothing_and_say_why_in_one_line(config: Path) -> None:
    original = config.read_text()
    taken = run_cli(["sources", "add", "meduza", "https://example.org/rss"], config, DB)
    assert (
        taken.returncode == 2
        and taken.stderr.strip() == f"monitor: a source named 'meduza' is already in {config}"
    )
    bad = run_cli(["sources", "add", "ftp-one", "ftp://example.org/rss"], config, DB)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith(
        "monitor: sources[8].feed: 'ftp://example.org/rss' is not an http(s) URL"
    )
    interval = run_cli(["sources", "add", "x", "https://example.org/rss", "--interval", "soon"], config, DB)
    assert interval.returncode == 2 and "--interval" in interval.stderr
    gone = run_cli(["sources", "remove", "nosuch"], config, DB)
    assert gone.returncode == 3 and gone.stderr.strip() == f"monitor: no source named 'nosuch' in {config}"
    assert config.read_text() == original


OPML = """<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0">
  <head><title>From a feed reader</title></head>
  <body>
    <outline text="Europe">
      <outline type="rss" text="DW World" xmlUrl="https://rss.dw.com/rdf/rss-en-world"/>
      <outline type="rss" text="Le Monde – International" xmlUrl="https://www.lemonde.fr/en/international/rss_full.xml"/>
      <outline text="Ukraine">
        <outline type="rss" text="Kyiv Independent" xmlUrl="https://kyivindependent.com/feed/"/>
      </outline>
    </outline>
    <outline type="rss" text="Meduza" xmlUrl="https://meduza.io/rss/en/all"/>
    <outline type="rss" text="Meduza" xmlUrl="https://meduza.io/rss/all"/>
  </body>
</opml>
"""


def test_opml_import_skips_what_is_there_and_export_round_trips(config: Path, tmp_path: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text(OPML, encoding="utf-8")
    done = run_cli(["opml", "import", str(opml)], config, DB)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{config}: added 3 feeds, skipped 2 already there (11 sources)"
    settings = load_settings(config)
    added = {s.name: s for s in settings.sources[8:]}
    assert set(added) == {"le-monde-international", "kyiv-independent", "meduza-2"}
    assert added["le-monde-international"].tags == ("Europe",)
    assert set(added["kyiv-independent"].tags) == {"Europe", "Ukraine"}
    assert "# Watches: what to flag" in config.read_text()  # comments survive
    again = run_cli(["opml", "import", str(opml)], config, DB)
    assert "added 0 feeds, skipped 5 already there" in again.stdout

    exported = run_cli(["opml", "export"], config, DB)
    assert exported.returncode == 0, exported.stderr
    parsed = listparser.parse(exported.stdout.encode())
    assert not parsed.bozo and parsed.meta["title"] == "news-monitor sources"
    by_url = {f.url: f for f in parsed.feeds}
    assert set(by_url) == {s.feed for s in settings.sources}
    assert set(by_url["https://kyivindependent.com/feed/"].tags) == {"Europe", "Ukraine"}
    assert by_url["https://meduza.io/rss/en/all"].title == "meduza"

    broken = tmp_path / "broken.opml"
    broken.write_text("<html>not a list", encoding="utf-8")
    refused = run_cli(["opml", "import", str(broken)], config, DB)
    assert refused.returncode == 2 and refused.stderr.startswith(f"monitor: {broken}: not an OPML")
