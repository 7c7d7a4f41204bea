"""Roles and the fleet's compose file: `monitor run --role`, /healthz naming roles and the last tick, and
docker-compose.fleet.yml (pollers that scale with no port, one deliverer, the web side)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import click
import httpx
import pytest
import yaml

from monitor.cli.run import _roles, run
from monitor.store.store import Store
from monitor.store.tables import fetches
from tests.fixtures.cli import start_daemon, write_config
from tests.fixtures.feeds import mt_news_feed
from tests.fixtures.server import LoopbackServer, Route, free_port

ROOT = Path(__file__).resolve().parents[2]
FLEET_COMPOSE = ROOT / "docker-compose.fleet.yml"


def test_roles_default_to_all_and_http_needs_an_address() -> None:
    assert _roles((), None) == ("poll", "deliver")
    assert _roles((), "127.0.0.1:8080") == ("poll", "deliver", "http")
    assert _roles(("deliver", "poll"), None) == ("poll", "deliver")
    assert _roles(("poll,deliver",), None) == ("poll", "deliver")
    assert _roles(("deliver",), "127.0.0.1:8080") == ("deliver", "http")
    with pytest.raises(click.BadParameter, match="needs --http"):
        _roles(("http",), None)
    with pytest.raises(click.BadParameter, match="sweep: roles are poll, deliver, http or all"):
        _roles(("sweep",), None)


def _command_roles(command: list[str]) -> tuple[str, ...]:
    assert command[0] == "run", command
    context = run.make_context("run", list(command[1:]))
    return _roles(tuple(context.params["role"]), context.params["http"])


def test_the_fleet_compose_file_scales_pollers_beside_one_deliverer_and_the_web() -> None:
    compose = yaml.safe_load(FLEET_COMPOSE.read_text())
    services = compose["services"]
    poller, deliverer, web = services["poller"], services["deliverer"], services["web"]
    assert _command_roles(poller["command"]) == ("poll",)
    assert _command_roles(deliverer["command"]) == ("deliver",)
    assert _command_roles(web["command"]) == ("http",)
    # A service that scales may not publish a host port or name its container.
    assert "ports" not in poller and "container_name" not in poller
    assert deliverer.get("deploy", {}).get("replicas", 1) == 1 and "ports" not in deliverer
    assert any(p.endswith(":8080:8080") for p in web["ports"])
    for name in ("poller", "deliverer", "web"):
        service = services[name]
        url = service["environment"]["MONITOR_DATABASE_URL"]
        assert url.startswith("postgresql://") and "@postgres:5432/" in url, name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "web" in services and services["web"]["healthcheck"]["test"][-1].count("/healthz") == 1


def _docker_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


def test_docker_compose_reads_the_fleet_file_where_the_cli_exists() -> None:
    if not _docker_compose():
        pytest.skip("no `docker compose` on this machine (the file is checked by parsing above)")
    done = subprocess.run(
        ["docker", "compose", "-f", str(FLEET_COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_deliver_and_http_daemon_polls_nothing_and_healthz_names_its_roles(
    db_url: str, store: Store, server: LoopbackServer, tmp_path: Path
) -> None:
    server.routes["/rss/news"] = Route.feed(mt_news_feed(extra=2))
    config = write_config(
        tmp_path / "feeds.yaml", [{"name": "moscow-times", "feed": server.url("/rss/news")}]
    )
    port = free_port()
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, db_url, log, "--role", "deliver", "--http", f"127.0.0.1:{port}")
    health: dict[str, object] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                health = response.json()
                scheduler = health.get("scheduler") or {}
                if (
                    response.status_code == 200
                    and isinstance(scheduler, dict)
                    and scheduler.get("last_tick_at")
                ):
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        time.sleep(2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    scheduler = health["scheduler"]
    assert isinstance(scheduler, dict)
    assert scheduler["roles"] == ["deliver", "http"] and scheduler["alive"] is True
    assert scheduler["last_tick_at"] is not None and scheduler["worker"].endswith(f":{daemon.pid}")
    with store.read() as conn:
        import sqlalchemy as sa

        assert conn.execute(sa.select(sa.func.count()).select_from(fetches)).scalar_one() == 0
    assert server.requests == []
    assert "roles deliver,http" in log.read_text()
