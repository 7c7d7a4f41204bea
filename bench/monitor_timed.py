"""The process bench/poll.py measures: `monitor` as its console script runs it, with stage timers patched
in and the moment of the first request noted (written to STATS as it exits).

    python bench/monitor_timed.py STATS [monitor arguments ...]

A script of its own, shaped like the console script (`from monitor.cli.root import main` at the top),
because each parse worker runs the main script again as it starts (CPython 3.11's fork server never
preloads `__main__`): workers of the real `monitor` import the CLI that way (~0.4 CPU s and ~40 MiB each),
and so must the measured ones. Run from bench/poll.py, they imported bench/poll.py instead and measured
lighter than the real command.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# as the console script imports it
from monitor.cli.root import main as monitor_main


class Stages:
    """Busy seconds per stage of the project's cycle, summed over concurrent work (patched in)."""

    def __init__(self) -> None:
        self.busy: dict[str, float] = {}

    def reset(self) -> dict[str, float]:
        busy, self.busy = self.busy, {}
        return {k: round(v, 2) for k, v in busy.items()}

    def add(self, stage: str, seconds: float) -> None:
        self.busy[stage] = self.busy.get(stage, 0.0) + seconds

    def install(self) -> None:
        from monitor import service
        from monitor.fetch import Fetcher
        from monitor.watching import WatchStep
        from monitor.writer import WriteBatcher

        def timed_async(cls: Any, name: str, stage: str) -> None:
            original = getattr(cls, name)

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    self.add(stage, time.perf_counter() - t0)

            setattr(cls, name, wrapper)

        def timed(cls: Any, name: str, stage: str) -> None:
            original = getattr(cls, name)

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.add(stage, time.perf_counter() - t0)

            setattr(cls, name, wrapper)

        timed_async(Fetcher, "fetch", "fetch")
        timed_async(service, "parse_body", "parse (worker + transfer)")  # as the service looks it up
        timed(WriteBatcher, "_write", "write transaction")
        timed(WatchStep, "finish", "  of which watch step")
        # `monitor poll` drains the search index after the cycle's last commit (issue 13: it may follow)
        timed_async(service.Service, "drain_search_index", "search index (after the cycle)")


def cli_child(stats_path: str, argv: list[str]) -> None:
    """Run the real `monitor` command in this process (`monitor.cli.root.main`), with the stage timers patched
    in and the moment of its first request noted; both are written to `stats_path` as it exits."""
    import atexit

    from monitor.fetch import Fetcher

    stages = Stages()
    stages.install()
    first: list[float] = []
    fetch = Fetcher.fetch

    async def noted(*args: Any, **kwargs: Any) -> Any:
        if not first:
            first.append(time.time())
        return await fetch(*args, **kwargs)

    Fetcher.fetch = noted  # type: ignore[method-assign]

    def dump() -> None:
        Path(stats_path).write_text(
            json.dumps({"stages": stages.reset(), "first_request": first[0] if first else None})
        )

    atexit.register(dump)
    monitor_main(argv, prog_name="monitor")


if __name__ == "__main__":
    if len(sys.argv) < 2:  # `make bench` runs every file here: this one only as bench/poll.py's child
        print("bench/monitor_timed.py: the process bench/poll.py measures; run bench/poll.py")
    else:
        cli_child(sys.argv[1], sys.argv[2:])
