"""What every CLI command module shares: global options, one-line errors, output format, opening the runtime."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import click

from monitor.cli.output import FORMATS
from monitor.errors import ConfigError, MonitorError
from monitor.runtime import Runtime, open_runtime

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Globals:
    """The global options given before the command."""

    config: str | None
    db: str | None


def fail(exc: MonitorError) -> None:
    lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
    for line in lines:
        click.echo(f"monitor: {line}", err=True)
    sys.exit(exc.exit_code)


def handles_errors(func: F) -> F:
    """Turn MonitorError into one clear line per problem on stderr and the error's exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MonitorError as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]


def format_option(func: F) -> F:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format.",
    )(func)


def open_from(ctx: click.Context, *, migrate: bool) -> AbstractContextManager[Runtime]:
    """Open the runtime (settings + store) from the global options."""
    g: Globals = ctx.obj
    return open_runtime(g.config, g.db, migrate=migrate)


__all__ = ["Globals", "fail", "format_option", "handles_errors", "open_from"]
