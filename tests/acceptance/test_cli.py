"""The real `monitor` command in a subprocess: config errors, poll, sources, db upgrade."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fixtures.cli import run_cli, write_config
from tests.fixtures.feeds import mt_news_feed, other_outlet_atom
from tests.fixtures.server import LoopbackServer, Route


def test_bad_config_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "defaults:\n  interval: 10m\nsources:\n  - name: a\n    feed: https://x.example/rss\n"
        "  - name: b\n    feed: https://y.example/rss\n    interval: fivemin\n  - name: c\n    feed: https://z.example/rss\n    intervl: 5m\n",
        encoding="utf-8",
    )
    done = run_cli(["check"], config, f"sqlite:///{tmp_path}/m.db")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"monitor: sources[1].interval: 'fivemin' is not a duration (use e.g. 30s, 10m, 1h30m, 2d) ({config}:8)",
        f"monitor: sources[2].intervl: unknown key (did you mean 'interval'?) ({config}:11)",
    ]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("sources:\n  - name: a\n    feed: [unclosed\n", encoding="utf-8")
    done = run_cli(["check"], config, f"sqlite:///{tmp_path}/m.db")
    assert done.returncode == 2
    assert done.stderr.startswith(f"monitor: {config}:4:")


def test_missing_config_file(tmp_path: Path) -> None:
    done = run_cli(["check"], tmp_path / "nope.yaml", f"sqlite:///{tmp_path}/m.db")
    assert done.returncode == 2 and "config file not found" in done.stderr


def test_shipped_config_is_valid() -> None:
    config = Path(__file__).parents[2] / "config" / "feeds.yaml"
    done = run_cli(["check"], config, "sqlite:///:memory:")
    assert done.returncode == 0, done.stderr
    assert "moscow-times" in config.read_text()


def test_poll_sources_and_upgrade_through_the_cli(
    db_url: str, server: LoopbackServer, tmp_path: Path
) -> None:
    server.routes["/rss/news"] = Route.feed(mt_news_feed(extra=4))
    server.routes["/feed.atom"] = Route.feed(other_outlet_atom(), content_type="application/atom+xml")
    config = write_config(
        tmp_path / "feeds.yaml",
        [
            {"name": "moscow-times", "feed": server.url("/rss/news")},
            {"name": "kyiv-post", "feed": server.url("/feed.atom")},
        ],
    )
    upgraded = run_cli(["db", "upgrade"], config, db_url)
    assert upgraded.returncode == 0 and "database at" in upgraded.stdout
    first = run_cli(["poll", "--format", "json"], config, db_url)
    assert first.returncode == 0, first.stderr
    rows = {r["source"]: r for r in json.loads(first.stdout)}
    assert (rows["moscow-times"]["status"], rows["moscow-times"]["new"]) == (200, 5)
    assert (rows["kyiv-post"]["status"], rows["kyiv-post"]["new"]) == (200, 1)
    assert "moscow-times: status=200 new=5 changed=0" in first.stderr
    second = run_cli(["poll", "moscow-times", "--format", "json"], config, db_url)
    assert [(r["source"], r["status"], r["new"]) for r in json.loads(second.stdout)] == [
        ("moscow-times", 304, 0)
    ]
    health = run_cli(["sources", "--format", "json"], config, db_url)
    assert health.returncode == 0
    by_name = {r["name"]: r for r in json.loads(health.stdout)}
    assert by_name["moscow-times"]["articles"] == 5 and by_name["moscow-times"]["last_status"] == 304
    assert by_name["kyiv-post"]["state"] == "ok" and by_name["kyiv-post"]["next_check_in_s"] > 0
    table = run_cli(["sources"], config, db_url)
    assert "moscow-times" in table.stdout and "kyiv-post" in table.stdout
    unknown = run_cli(["poll", "nope"], config, db_url)
    assert (
        unknown.returncode == 1 and unknown.stderr.strip() == f"monitor: no source named 'nope' in {config}"
    )


def test_read_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    config = write_config(tmp_path / "feeds.yaml", [])
    done = run_cli(["sources"], config, f"sqlite:///{tmp_path}/fresh.db")
    assert done.returncode == 1
    assert "run 'monitor db upgrade'" in done.stderr


_EXITING = """
import atexit, sys, threading, time
from monitor.cli.common import exit_without_teardown
atexit.register(lambda: print("exit handler ran"))
print("output", end="")
sys.stderr.write("to stderr")
if sys.argv[1] == "busy":
    threading.Thread(target=time.sleep, args=(0.2,)).start()
exit_without_teardown()
print(" ... returned")
"""


def test_exit_without_teardown_flushes_and_runs_the_exit_handlers() -> None:
    """`monitor poll` ends this way: what it wrote and what the exit handlers write arrive, status 0."""
    done = subprocess.run(
        [sys.executable, "-c", _EXITING, "idle"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "outputexit handler ran\n", "to stderr")


def test_exit_without_teardown_leaves_a_running_thread_to_the_normal_exit() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _EXITING, "busy"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (0, "output ... returned\nexit handler ran\n")
