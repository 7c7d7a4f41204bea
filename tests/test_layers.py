"""The pure core imports nothing from the I/O edges, and nothing that does I/O."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).parents[1] / "monitor" / "core"
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
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


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


def test_only_the_store_speaks_sql() -> None:
    """No module outside monitor/store imports sqlalchemy (the watch step and the service included)."""
    package = CORE.parent
    offenders = [
        f"{path.relative_to(package)} imports {name}"
        for path in sorted(package.rglob("*.py"))
        if "store" not in path.relative_to(package).parts[:1]
        for name in imports_of(path)
        if name.split(".")[0] == "sqlalchemy"
    ]
    assert offenders == []
