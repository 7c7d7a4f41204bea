"""The layers hold: the pure core imports no I/O and no edge; the whole of monitor/ has no import cycle, no
SQL outside store/, and one error tree."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

from monitor.errors import MonitorError
from tests.fixtures.imports import imports_of as _imports_of

CORE = Path(__file__).parents[2] / "monitor" / "core"
EDGES = (
    "monitor.store",
    "monitor.fetch",
    "monitor.notify",
    "monitor.service",
    "monitor.daemon",
    "monitor.cli",
    "monitor.web",
    "monitor.runtime",
    "monitor.config",
)
IO_MODULES = (
    "httpx",
    "sqlalchemy",
    "socket",
    "subprocess",
    "smtplib",
    "asyncio",
    "requests",
    "urllib.request",
    "apprise",
    "psycopg",
)


def imports_of(path: Path) -> set[str]:
    return _imports_of(path, submodules=False)


def test_core_is_pure() -> None:
    offenders = []
    for path in sorted(CORE.glob("*.py")):
        for name in imports_of(path):
            if name.startswith(EDGES) or (
                name.split(".")[0] in {m.split(".")[0] for m in IO_MODULES} and name.startswith(IO_MODULES)
            ):
                offenders.append(f"{path.name} imports {name}")
    assert offenders == []


def test_core_reads_no_clock() -> None:
    offenders = []
    for path in sorted(CORE.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for needle in ("datetime.now(", "datetime.utcnow(", "time.time(", "os.environ", "date.today("):
            if needle in text:
                offenders.append(f"{path.name}: {needle}")
    assert offenders == []


# --- the whole of monitor/: no import cycle, SQL only in store/, one error tree ---------------------------

MONITOR = Path(__file__).parents[2] / "monitor"


def module_name(path: Path) -> str:
    parts = path.relative_to(MONITOR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(MONITOR.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports that run when the module is imported: not those in functions or under TYPE_CHECKING."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _module_level(block)


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def import_graph() -> dict[str, set[str]]:
    """monitor's modules and the monitor modules each imports at import time. `from a import b` counts as
    a.b when b is a module; importing a.b also runs a's __init__ (an edge to a, unless the importer is
    inside a: then a is already being imported)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets: set[str] = set()
        for node in _module_level(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            else:
                base = _resolve(name, node)
                found = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
            for target in found:
                while target and target not in MODULES:
                    target = target.rpartition(".")[0]
                while target and target != "monitor":
                    if target != name and not name.startswith(target + "."):
                        targets.add(target)
                    target = target.rpartition(".")[0]
        graph[name] = targets
    return graph


def modules_in_cycles(graph: dict[str, set[str]]) -> dict[str, str]:
    """Every module on an import cycle, with one cycle through it (strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def connect(name: str) -> None:  # Tarjan's algorithm
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in sorted(graph[name]):
            if target not in index:
                connect(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == name:
                    break
            components.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            connect(name)
    return {m: " <-> ".join(c) for c in components if len(c) > 1 for m in c}


def test_no_import_cycle_in_monitor() -> None:
    assert modules_in_cycles(import_graph()) == {}


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert set(modules_in_cycles(graph)) == {"a", "b", "c"}


def test_only_the_store_imports_sqlalchemy() -> None:
    users = {
        name
        for name, path in MODULES.items()
        if not name.startswith("monitor.store")
        and any(n.split(".")[0] == "sqlalchemy" for n in imports_of(path))
    }
    assert users == set(), "SQL outside monitor/store/"


# Exceptions that stay out of the MonitorError tree, and why: each is a signal inside one I/O edge, caught
# there (or by its caller in the same edge) and turned into a recorded error; none reaches a user as such.
OUTSIDE_THE_TREE = {
    "monitor.config_yaml.TooBig": "a YAML bomb guard inside the loader; load_settings turns it into ConfigError",
    "monitor.netpolicy.BlockedAddress": "raised in the connection guard; fetch records it as the poll's error",
    "monitor.bounded.TooLarge": "the body cap; fetch and the webhook sender record it as their error",
    "monitor.bounded.UnsupportedEncoding": "an unknown content-encoding; recorded as fetch/webhook errors",
}


def exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in MODULES:
        if name == "monitor.__main__":
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == name:
                found[f"{name}.{value.__qualname__}"] = value
    return found


def test_one_error_tree() -> None:
    classes = exception_classes()
    outside = {name for name, cls in classes.items() if not issubclass(cls, MonitorError)}
    assert outside - OUTSIDE_THE_TREE.keys() == set(), "errors outside the MonitorError tree"
    assert OUTSIDE_THE_TREE.keys() - classes.keys() == set(), "listed but gone: take them off the list"
    elsewhere = {
        name
        for name, cls in classes.items()
        if issubclass(cls, MonitorError) and cls.__module__ != "monitor.errors"
    }
    assert elsewhere == set(), "MonitorErrors are defined in monitor/errors.py"
    codes = {cls.exit_code for cls in classes.values() if issubclass(cls, MonitorError)}
    assert codes <= {1, 2, 3}


# What each package may import (besides itself), as its docstring says; None: anything.
MAY_IMPORT: dict[str, set[str] | None] = {
    "monitor.core": {"monitor.models", "monitor.errors"},
    "monitor.store": {"monitor.core", "monitor.models", "monitor.errors", "monitor.config"},
    "monitor.notify": {
        "monitor.core",
        "monitor.errors",
        "monitor.config_channels",
        "monitor.bounded",
        "monitor.encode",
    },
    "monitor.web": {
        "monitor.store",
        "monitor.core",
        "monitor.models",
        "monitor.config",
        "monitor.errors",
        "monitor.encode",
        "monitor.daemon",
        "monitor.metrics",
    },
    "monitor.cli": None,
}


def _part(module: str) -> str:
    """The package or top-level module a module belongs to: monitor.store.sources -> monitor.store."""
    return ".".join(module.split(".")[:2])


def test_packages_import_what_their_docstrings_allow() -> None:
    offenders = []
    for name, targets in import_graph().items():
        allowed = MAY_IMPORT.get(_part(name))
        for target in targets:
            part = _part(target)
            if part == _part(name):
                continue
            if part == "monitor.cli" and name != "monitor.__main__":
                offenders.append(f"{name} imports {target} (nothing imports the CLI)")
            elif part == "monitor.runtime" and _part(name) != "monitor.cli":
                offenders.append(f"{name} imports {target} (only the CLI imports the composition root)")
            elif allowed is not None and part not in allowed:
                offenders.append(f"{name} imports {target}")
    assert offenders == []
