"""The shipped deployment files: the systemd unit and docker compose, checked by the tools that read them."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import parse_settings
from monitor.metrics import Metrics
from monitor.store.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_systemd_unit_is_notify_with_watchdog_user_and_hardening(tmp_path: Path) -> None:
    text = (ROOT / "deploy/news-monitor.service").read_text()
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(text)
    service = unit["Service"]
    assert service["Type"] == "notify" and service["WatchdogSec"]
    assert service["User"] == "news-monitor" and service["StateDirectory"] == "news-monitor"
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert "/var/lib/news-monitor" in service["Environment"] or "MONITOR_DATABASE_URL" in text
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / "news-monitor.service"  # verify wants the program to exist
    copy.write_text(text.replace("/opt/news-monitor/bin/monitor", "/bin/true"))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, check=False)
    problems = [line for line in done.stderr.splitlines() if copy.name in line]
    assert done.returncode == 0 and not problems, done.stderr


def test_compose_publishes_on_loopback_unless_told_and_uses_the_smtp_variables() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            # ${VAR:-default} resolved as compose would with VAR unset
            published = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", port)
            assert published.startswith("127.0.0.1:"), (name, port)
    monitor = compose["services"]["monitor"]
    assert {"SMTP_HOST", "SMTP_PORT"} <= set(monitor["environment"])


def test_the_example_channel_reads_smtp_host_and_port_from_the_environment() -> None:
    text = (ROOT / "config/feeds.yaml").read_text()
    example = re.search(r"^# Channels:[^\n]*\n((?:#   [^\n]*\n)+)", text, re.MULTILINE)
    assert example is not None
    block = "".join(line[2:] + "\n" for line in example.group(1).splitlines())
    assert "${SMTP_HOST" in block and "${SMTP_PORT" in block
    settings = parse_settings(
        "channels:\n" + block,
        "example.yaml",
        env={"SMTP_HOST": "mail.example", "SMTP_PORT": "2525", "WEBHOOK_SECRET": "x"},
    )
    mail = settings.channel("desk-mail")
    assert mail is not None
    assert (getattr(mail, "host", None), getattr(mail, "port", None)) == ("mail.example", 2525)


def test_the_image_installs_the_package_plainly_and_runs_as_a_user() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    installs = [line for line in lines if "pip install" in line]
    assert installs and all(" -e " not in line and "--editable" not in line for line in installs)
    # everything the plain install needs is copied in before it
    copied = {part for line in lines if line.startswith("COPY ") for part in line.split()[1:-1]}
    assert {"pyproject.toml", "setup.py", "monitor", "migrations"} <= copied


def test_the_grafana_dashboard_asks_only_for_metrics_the_service_exports(store: Store) -> None:
    dashboard = json.loads((ROOT / "deploy/grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    asked = {name for expr in exprs for name in re.findall(r"\bmonitor_[a-z_]+", expr)}
    metrics = Metrics(store, role="poll,deliver", story_index=lambda: 0)
    families = {f.name for f in text_string_to_metric_families(metrics.render().decode())}
    exported = {f + suffix for f in families for suffix in ("", "_total", "_bucket", "_sum", "_count")}
    assert asked and asked <= exported, asked - exported
    # every family the issue names has a panel
    for family in ("polls", "fetch_duration", "fetch_bytes", "new_articles", "alerts", "outbox", "sources"):
        assert any(f"monitor_{family}" in expr for expr in exprs), family
