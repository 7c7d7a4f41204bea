"""What a parse worker runs first, in a module of its own: unpickling the pool's initializer imports this
module in each worker, and from monitor.parse_pool that import was sqlalchemy, httpx and the config (about
a second of CPU per worker) for a function that needs only the standard library."""

from __future__ import annotations

import os
import threading
import time


def parse_worker_init(parent_pid: int) -> None:
    """Warm the parser import, and exit when the daemon dies (a SIGKILL would otherwise orphan us)."""
    import fastfeedparser  # noqa: F401
    import feedparser  # noqa: F401

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
