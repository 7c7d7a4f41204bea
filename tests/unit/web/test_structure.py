"""The web package's shape: no SQL, no CLI imports, one factory that route modules never import, no cycle."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.imports import imports_of

MONITOR = Path(__file__).parents[3] / "monitor"
WEB = MONITOR / "web"
# The CLI modules that list what the web lists too: their queries live in store/ as well.
LISTING_COMMANDS = ("cli/alerts.py", "cli/matches.py", "cli/articles.py")


def module_name(path: Path) -> str:
    parts = path.relative_to(MONITOR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def web_modules() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(WEB.glob("*.py"))}


def test_no_sql_and_no_cli_in_the_web() -> None:
    offenders = []
    for name, imported in web_modules().items():
        for target in imported:
            if target.split(".")[0] == "sqlalchemy":
                offenders.append(f"{name} imports {target}")
            if target == "monitor.cli" or target.startswith("monitor.cli.") or target.endswith("_cli"):
                offenders.append(f"{name} imports {target}")
    for file in LISTING_COMMANDS:
        path = MONITOR / file
        if path.exists():  # the commands may have moved into a cli/ package
            offenders += [f"{file} imports {t}" for t in imports_of(path) if t.split(".")[0] == "sqlalchemy"]
    assert offenders == []


def test_route_modules_never_import_the_factory() -> None:
    offenders = [
        f"{name} imports {target}"
        for name, imported in web_modules().items()
        if name not in ("monitor.web", "monitor.web.factory", "monitor.web.server")  # server serves the app
        for target in imported
        if target in ("monitor.web", "monitor.web.factory", "monitor.web.create_app")
    ]
    assert offenders == []


def test_no_import_cycle_in_the_web() -> None:
    modules = web_modules()  # parsed once: asking for it per import took 40 s under load
    graph = {
        name: {t for t in imported if t in modules and t != name and t != "monitor.web"}
        for name, imported in modules.items()
    }
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise AssertionError(f"import cycle: {cycle}")
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in graph:
        visit(name, [])
