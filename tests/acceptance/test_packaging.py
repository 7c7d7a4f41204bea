"""`pip install .` (not editable) into a fresh virtualenv gives a `monitor` that migrates and serves offline."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_plain_install_upgrades_the_database_and_serves_offline_docs(tmp_path: Path) -> None:
    # Build from a copy of the tracked files, so nothing of the checkout (its migrations/) is on the path.
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(
        b"\0"
    )
    source = tmp_path / "src"
    for name in filter(None, files):
        path = ROOT / name.decode()
        if path.is_file():
            target = source / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "MONITOR_"))}
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    work = tmp_path / "elsewhere"
    work.mkdir()
    database = f"sqlite:///{work / 'monitor.db'}"
    monitor = str(env_dir / "bin" / "monitor")
    done = subprocess.run(
        [monitor, "--db", database, "db", "upgrade"], cwd=work, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("database at ") and "(head " in done.stdout
    where = subprocess.run(
        [str(python), "-c", "import monitor.store.db as d; print(d.MIGRATIONS)"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()
    assert "site-packages" in where  # the migrations the package carries

    # /docs, /redoc and the pages come from the installed package (templates and Swagger UI assets).
    probe = """
import re, sys
from fastapi.testclient import TestClient
from monitor.config import parse_settings
from monitor.store.db import make_engine
from monitor.store.store import Store
from monitor.web import create_app
store = Store(make_engine(sys.argv[1]))
client = TestClient(create_app(store, parse_settings("sources: []", "t.yaml", env={}), token=None, health=None))
for page in ("/docs", "/redoc"):
    html = client.get(page).text
    for asset in re.findall(r'(?:src|href)="([^"]+[.](?:js|css))"', html):
        assert asset.startswith("/") and client.get(asset).status_code == 200, asset
assert client.get("/sources").status_code == 200
assert client.get("/metrics").status_code == 200
print("ok")
"""
    served = subprocess.run(
        [str(python), "-c", probe, database], cwd=work, capture_output=True, text=True, env=env
    )
    assert served.stdout.strip() == "ok", served.stderr[-3000:]
