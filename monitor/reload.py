"""Reload the config without a restart: on SIGHUP, or when the file's contents change (checked each tick).

A config that does not validate is refused with the same one-line problems as `monitor check`; the running
config stays. A valid one replaces the sources (new ones are polled at once, removed ones stop), the
watches (recompiled) and the channels, in every part of the daemon that holds them.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable
from pathlib import Path

from monitor.config import Settings, load_settings
from monitor.errors import ConfigError

log = logging.getLogger("monitor.reload")


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None


class Reloader:
    """Watches one config file; `check()` from the tick, `request()` from SIGHUP."""

    def __init__(self, path: str | Path, settings: Settings) -> None:
        self.path = Path(path)
        self.settings = settings
        self.appliers: list[Callable[[Settings], object]] = []  # sync or async; awaited in order
        self._digest = _digest(self.path)
        self._requested = False
        self.reloads = 0
        self.refusals = 0

    def request(self) -> None:
        """Ask for a reload at the next tick (what SIGHUP does), even if the file looks unchanged."""
        self._requested = True

    async def check(self) -> bool:
        """Reload if asked to or if the file's contents changed; True when a new config was applied."""
        digest = _digest(self.path)
        if not self._requested and (digest is None or digest == self._digest):
            return False
        why = "SIGHUP" if self._requested else "the file changed"
        self._requested = False
        self._digest = digest
        try:
            settings = load_settings(self.path)
        except ConfigError as exc:
            self.refusals += 1
            log.error("config reload (%s) refused, keeping the running config:", why)
            for problem in exc.problems:
                log.error("  %s", problem)
            return False
        for apply in self.appliers:
            result = apply(settings)
            if inspect.isawaitable(result):
                await result
        self.settings = settings
        self.reloads += 1
        log.info(
            "config reloaded (%s): %d sources, %d watches, %d channels",
            why,
            len(settings.sources),
            len(settings.watches),
            len(settings.channels),
        )
        return True
