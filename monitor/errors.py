"""One exception hierarchy: the CLI turns these into one clear line and an exit code."""

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


class QueryError(MonitorError):
    """A watch query does not parse; `column` is 1-based."""

    exit_code = 2

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = column
        super().__init__(f"{message} at column {column}")


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
