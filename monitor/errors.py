"""One exception hierarchy: every error of the project is a MonitorError; the CLI turns it into one clear
line per problem on stderr and the error's exit code.

Exit codes: 1 a failure (fetch, parse, delivery, rendering, database, a lost write race); 2 bad input (the
config, a query, an option, an OPML file, a source that is already there); 3 a named thing that does not
exist. Pure: imports nothing, so every layer (core/ included) may raise these. A few internal signals stay
out of the tree on purpose, each caught in the module that raises it (tests/unit/test_layers.py lists them).
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error a user can cause or see."""

    exit_code = 1


class ConfigError(MonitorError):
    """The configuration is invalid; `problems` holds one line per problem."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class UsageError(MonitorError):
    """A bad option value or combination, said in one line."""

    exit_code = 2


class OpmlError(MonitorError):
    """An OPML file cannot be read."""

    exit_code = 2


class SourceExistsError(MonitorError):
    """A source of that name (or URL) is already in the config."""

    exit_code = 2


class QueryError(MonitorError):
    """A watch query does not parse; `column` is 1-based."""

    exit_code = 2

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = column
        super().__init__(f"{message} at column {column}")


class WatchQueryError(QueryError):
    """A watch that does not compile: which one (``index`` in the list, ``watch`` name), what and where."""

    def __init__(self, index: int, watch: str, error: QueryError) -> None:
        super().__init__(error.message, error.column)
        self.index = index
        self.watch = watch
        self.args = (f"watch '{watch}': {error.message} at column {error.column}",)

    def __str__(self) -> str:
        return str(self.args[0])


class FetchError(MonitorError):
    """A request failed (network, timeout, too large, bad status)."""


class ParseError(MonitorError):
    """A feed or page could not be parsed."""


class NotFoundError(MonitorError):
    """A named thing (source, article, channel) does not exist."""

    exit_code = 3


class DeliveryError(MonitorError):
    """An alert delivery failed. `retryable` says whether trying again later can help; `retry_after` is
    the server's own hint in seconds (HTTP Retry-After), to be honoured over the backoff when longer."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
        channel: str | None = None,
    ) -> None:
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.channel = channel
        super().__init__(f"channel {channel!r}: {message}" if channel else message)


class RenderError(MonitorError):
    """A channel's template does not compile or does not render; names the channel and the template."""

    def __init__(self, channel: str, template: str, detail: str, line: int | None = None) -> None:
        self.channel = channel
        self.template = template
        self.detail = detail
        self.line = line
        where = f" line {line}" if line else ""
        super().__init__(f"channel {channel!r}: {template} template{where}: {detail}")


class DatabaseError(MonitorError):
    """The database cannot be reached or is not in the expected state."""


class ConcurrentWriteError(MonitorError):
    """Rows this write expected to create were created by another writer first; retry the unit."""
