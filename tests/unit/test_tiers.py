"""The test tiers stay honest: every test file lives in a tier, a unit test touches nothing but plain data, an
integration test uses a real part (a database, a loopback server, another process), an acceptance test runs
a real process, and no tier borrows from a tier above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.fixtures.imports import imported

TESTS = Path(__file__).resolve().parents[1]
TIERS = ("unit", "integration", "acceptance")

# Modules whose import means a test reaches past plain data: a database, the network, a server, a process.
IO_MODULES = (
    "sqlalchemy",
    "psycopg",
    "alembic",
    "httpx",
    "uvicorn",
    "fastapi",
    "starlette",
    "playwright",
    "aiosmtpd",
    "aiosmtplib",
    "apprise",
    "smtplib",
    "subprocess",
    "socket",
    "ssl",
    "multiprocessing",
    "http.server",
    "http.client",
    "urllib.request",
    "monitor.store",
    "monitor.service",
    "monitor.runtime",
    "monitor.fetch",
    "monitor.netpolicy",
    "monitor.outbox",
    "monitor.notify",
    "monitor.watching",
    "monitor.daemon",
    "monitor.fleet",
    "monitor.dryrun",
    "monitor.reload",
    "monitor.systemd",
    "monitor.web",
    # the shared fixtures that start servers, databases or the real command
    "tests.fixtures.databases",
    "tests.fixtures.server",
    "tests.fixtures.notify",
    "tests.fixtures.hostile",
    "tests.fixtures.web",
    "tests.fixtures.runtime",
    "tests.fixtures.cli",
)
IO_NAMES = {"ProcessPoolExecutor"}  # a pool of processes, imported from concurrent.futures
RUNS_A_PROCESS = ("subprocess", "tests.fixtures.cli")
# Fixture modules whose fixtures are real parts (the alert fixtures in tests/fixtures/alerts.py are plain data).
IO_FIXTURE_MODULES = ("databases.py", "notify.py")
# Scripts that live beside their test because it runs them in a subprocess.
SCRIPTS = {"integration/hostile/bomb_rss.py"}


def is_fixture(node: ast.FunctionDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
    return False


def io_fixtures() -> set[str]:
    """The names of the shared fixtures that start a database or a server."""
    names = set()
    for file in IO_FIXTURE_MODULES:
        tree = ast.parse((TESTS / "fixtures" / file).read_text(encoding="utf-8"))
        names |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and is_fixture(n)}
    return names


def real_parts(source: str, fixtures: set[str]) -> set[str]:
    """What in a test file goes past plain data: I/O imports, and I/O fixtures its tests or fixtures ask for."""
    tree = ast.parse(source)
    found = {
        name
        for name in imported(tree)
        if any(name == io or name.startswith(io + ".") for io in IO_MODULES)
        or name.split(".")[-1] in IO_NAMES
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            found |= {f"fixture {a.arg}" for a in args if a.arg in fixtures}
    return found


def files(tier: str) -> list[Path]:
    return sorted(p for p in (TESTS / tier).rglob("test_*.py"))


def test_every_test_file_lives_in_a_tier() -> None:
    outside = [
        str(p.relative_to(TESTS))
        for p in TESTS.rglob("test_*.py")
        if p.relative_to(TESTS).parts[0] not in TIERS and "__pycache__" not in p.parts
    ]
    assert outside == []
    assert all(files(tier) for tier in TIERS)


def test_helpers_live_in_fixtures_and_fixtures_in_one_conftest() -> None:
    """A tier holds tests (and the scripts they run); shared code is in tests/fixtures/, loaded by tests/conftest.py."""
    stray = [
        rel
        for tier in TIERS
        for p in (TESTS / tier).rglob("*.py")
        if not p.name.startswith("test_")
        and p.name != "__init__.py"
        and (rel := str(p.relative_to(TESTS))) not in SCRIPTS
    ]
    assert stray == []
    assert sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("conftest.py")) == ["conftest.py"]


def test_unit_tests_touch_only_plain_data() -> None:
    fixtures = io_fixtures()
    offenders = {
        str(p.relative_to(TESTS)): sorted(found)
        for p in files("unit")
        if (found := real_parts(p.read_text(encoding="utf-8"), fixtures))
    }
    assert offenders == {}, "move these to tests/integration (or take the I/O out)"


def test_integration_and_acceptance_tests_use_a_real_part() -> None:
    fixtures = io_fixtures()
    plain = [
        str(p.relative_to(TESTS))
        for tier in ("integration", "acceptance")
        for p in files(tier)
        if not real_parts(p.read_text(encoding="utf-8"), fixtures)
    ]
    assert plain == [], "plain-data tests belong in tests/unit"


def test_acceptance_tests_run_a_real_process() -> None:
    idle = [
        str(p.relative_to(TESTS))
        for p in files("acceptance")
        if not any(
            name.startswith(RUNS_A_PROCESS) for name in imported(ast.parse(p.read_text(encoding="utf-8")))
        )
    ]
    assert idle == []


def test_no_tier_borrows_from_a_tier_above_it() -> None:
    offenders = []
    for rank, tier in enumerate(TIERS):
        above = tuple(f"tests.{t}" for t in TIERS[rank + 1 :])
        for p in sorted((TESTS / tier).rglob("*.py")):
            for name in imported(ast.parse(p.read_text(encoding="utf-8"))):
                if above and name.startswith(above):
                    offenders.append(f"{p.relative_to(TESTS)} imports {name}")
    assert offenders == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import sqlalchemy as sa\n", {"sqlalchemy"}),
        ("from monitor.store.repo import Store\n", {"monitor.store.repo", "monitor.store.repo.Store"}),
        ("from concurrent.futures import ProcessPoolExecutor\n", {"concurrent.futures.ProcessPoolExecutor"}),
        ("from tests.fixtures.cli import run_cli\n", {"tests.fixtures.cli", "tests.fixtures.cli.run_cli"}),
        ("def test_x(db_url: str) -> None:\n    pass\n", {"fixture db_url"}),
        ("async def test_x(receiver: object) -> None:\n    pass\n", {"fixture receiver"}),
        ("from monitor.core.feeds import parse_feed\nfrom tests.fixtures.alerts import make_alert\n", set()),
        ("def test_x(tmp_path: object, message: object) -> None:\n    pass\n", set()),
    ],
)
def test_the_checker_sees_real_parts(source: str, expected: set[str]) -> None:
    assert real_parts(source, io_fixtures()) == expected
