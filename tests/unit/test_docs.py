"""README.md documents every command of the CLI (as datasette checks its own docs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from monitor.cli.root import main
from tests.unit.test_layers import MODULES, import_graph

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


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


def module_map() -> list[str]:
    """The files of README's module map (paths under monitor/), in its order."""
    section = README[README.index("### Module map") :]
    block = section[section.index("```\n") + 4 :]
    return [line.split()[0] for line in block[: block.index("```")].splitlines() if line.strip()]


def test_the_module_map_lists_every_module() -> None:
    listed = module_map()
    monitor = Path(__file__).resolve().parents[2] / "monitor"
    files = sorted(str(p.relative_to(monitor)) for p in monitor.rglob("*.py"))
    assert sorted(listed) == files
    assert len(listed) == len(set(listed))


def test_the_module_map_is_in_layer_order() -> None:
    """Each module imports only modules listed above it (a package's __init__ may re-export from below)."""
    position = {}
    for index, path in enumerate(module_map()):
        parts = ["monitor", *Path(path).with_suffix("").parts]
        position[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = index
    upward = [
        f"{name} imports {target}, listed below it"
        for name, targets in import_graph().items()
        if name in position and MODULES[name].name != "__init__.py"
        for target in targets
        if position.get(target, -1) > position[name]
    ]
    assert upward == []
