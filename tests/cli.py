"""Run the real `monitor` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

MONITOR = [sys.executable, "-m", "monitor"]


def write_config(path: Path, sources: list[dict[str, Any]], **extra: Any) -> Path:
    data: dict[str, Any] = {"defaults": {"timeout": "5s", "per_host": 4}, "sources": sources, **extra}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def env_for(config: Path, db_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["MONITOR_CONFIG"] = str(config)
    env["MONITOR_DATABASE_URL"] = db_url
    env["PYTHONWARNINGS"] = "error::DeprecationWarning"
    return env


def run_cli(
    args: list[str], config: Path, db_url: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MONITOR, *args],
        env={**env_for(config, db_url), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_daemon(
    config: Path, db_url: str, log: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*MONITOR, "run", "--tick", "0.2", *extra],
            env={**env_for(config, db_url), **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
