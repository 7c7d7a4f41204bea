"""README.md documents every command of the CLI (as datasette checks its own docs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from monitor.cli.root import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def command_paths(group: click.Group, prefix: str = "monitor") -> Iterator[str]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        yield path
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


def test_every_command_is_in_the_readme() -> None:
    paths = list(command_paths(main))
    assert "monitor sources add" in paths and "monitor opml export" in paths and "monitor test" in paths
    missing = [p for p in paths if f"`{p}" not in README]
    assert not missing, missing


def test_the_metrics_and_deploy_files_are_in_the_readme() -> None:
    for needle in (
        "/metrics",
        "deploy/news-monitor.service",
        "deploy/grafana-dashboard.json",
        "SIGHUP",
        "MONITOR_PUBLISH",
        "--utc",
    ):
        assert needle in README, needle
