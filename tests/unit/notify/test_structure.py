"""The shape of alert delivery: senders implement the contract and never import the dispatcher, the config
imports nothing of notify, the delivery loop speaks no SQL, and leases and table handles exist once."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.imports import imports_of

MONITOR = Path(__file__).parents[3] / "monitor"
NOTIFY = MONITOR / "notify"
SENDERS = ("email.py", "webhook.py", "apprise_channel.py")


def test_senders_import_the_contract_never_the_dispatcher() -> None:
    for sender in SENDERS:
        imported = imports_of(NOTIFY / sender)
        assert "monitor.notify.contract" in imported, sender
        assert not {"monitor.notify.dispatch", "monitor.notify"} & imported, sender
    assert {f"monitor.notify.{s.removesuffix('.py')}" for s in SENDERS} <= imports_of(NOTIFY / "dispatch.py")


def test_the_config_imports_nothing_of_notify() -> None:
    for module in ("config.py", "config_channels.py"):
        offenders = [t for t in imports_of(MONITOR / module) if t.startswith("monitor.notify")]
        assert offenders == [], module


def test_the_delivery_loop_speaks_no_sql() -> None:
    for path in (MONITOR / "outbox.py", *NOTIFY.glob("*.py")):
        assert not [t for t in imports_of(path) if t.split(".")[0] == "sqlalchemy"], path.name


def test_one_lease_implementation_and_table_handles_defined_once() -> None:
    leasing, handles = [], []
    for path in sorted(MONITOR.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(MONITOR))
        if "with_for_update(" in text and name != "store/leases.py":
            leasing.append(name)
        if ".__table__" in text and name != "store/tables.py":
            handles.append(name)
    assert leasing == []
    assert handles == []
