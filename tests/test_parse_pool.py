"""`monitor poll` parses on every core, as `monitor run` does, but starts no more workers than sources."""

from __future__ import annotations

import os

from monitor.service import pool_size


def test_pool_is_sized_to_the_cores_and_the_sources() -> None:
    cores = os.cpu_count() or 1
    assert pool_size(1000) == cores
    assert pool_size(1) == 1
    assert pool_size(0) == 1
