"""Hostile configs and secrets: alias bombs, recursive anchors, non-UTF-8 files, passwords in output."""

from __future__ import annotations

import logging
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli.root import _SecretFilter
from monitor.config import parse_settings
from monitor.encode import hide_urls, mask_url
from monitor.errors import ConfigError
from tests.fixtures.cli import run_cli

ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def check(tmp_path: Path, content: bytes) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "feeds.yaml"
    config.write_bytes(content)
    return run_cli(["check"], config, f"sqlite:///{tmp_path}/x.db")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (ALIAS_BOMB.encode(), "aliases expanding too far"),
        (b"sources: &s [*s]\n", "an alias refers to the node that contains it"),
        (b"defaults: &d {x: *d}\n", "an alias refers to the node that contains it"),
        (b"sources: []\n# caf\xe9\n", "not UTF-8 text (byte 17)"),
        (b"sources: [\x01]\n", "invalid YAML"),
        (b"? [a, b]\n: 1\n", "a key must be a plain value"),
    ],
)
def test_a_hostile_config_is_one_line_and_exit_2(tmp_path: Path, content: bytes, message: str) -> None:
    done = check(tmp_path, content)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr


def test_the_alias_bomb_is_refused_without_expanding_it() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ConfigError):
        parse_settings(ALIAS_BOMB, "feeds.yaml")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200  # expanded, it is 387 million strings


def test_monitor_check_masks_the_database_password(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("sources: []\n", encoding="utf-8")
    done = run_cli(["check"], config, "postgresql://monitor:hunter2@db.example:5432/news")
    assert done.returncode == 0
    assert "hunter2" not in done.stdout + done.stderr and "monitor:***@db.example:5432" in done.stdout


def test_a_numeric_password_is_not_echoed_in_a_config_error() -> None:
    text = "channels:\n  - name: mail\n    type: email\n    host: h\n    password: [9876543210]\n    from: a@b\n    to: [c@d]\n"
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "feeds.yaml")
    assert "9876543210" not in str(caught.value) and "password" in str(caught.value)


def test_logs_mask_url_passwords_and_apprise_urls() -> None:
    secret_filter = _SecretFilter()
    record = logging.LogRecord("monitor", logging.INFO, "x", 1, "db %s", ("postgresql://u:pw@h/db",), None)
    secret_filter.filter(record)
    assert record.getMessage() == "db postgresql://u:***@h/db"
    record = logging.LogRecord("apprise", logging.DEBUG, "x", 1, "URL: %s", ("tgram://123:TOKEN/chat",), None)
    secret_filter.filter(record)
    assert "TOKEN" not in record.getMessage()
    assert mask_url("https://user:p%40ss@[::1]:8443/x?q=1") == "https://user:***@[::1]:8443/x?q=1"
    assert hide_urls("see ntfy://ntfy.sh/secret-topic now") == "see ntfy://… now"


def test_apprise_at_debug_level_prints_no_token(tmp_path: Path) -> None:
    script = (
        "import logging, apprise\n"
        "from monitor.cli.root import _setup_logging\n"
        "_setup_logging(2)\n"
        "a = apprise.Apprise(); a.add('json://127.0.0.1:9/SECRETTOKEN123')\n"
        "a.notify(body='x', title='y')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "apprise" in done.stderr.lower() or done.stderr  # it did log
    assert "SECRETTOKEN123" not in done.stdout + done.stderr
