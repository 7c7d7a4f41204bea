"""YAML + environment -> validated settings; every problem names its YAML path and file:line."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.config_channels import AppriseChannel, ChannelBase, ChannelSettings, EmailChannel, WebhookChannel
from monitor.config_yaml import Located, Path_, TooBig, interpolate, path_text
from monitor.core.durations import parse_duration, parse_size
from monitor.core.query import parse_query
from monitor.core.schedule import SchedulePolicy
from monitor.errors import ConfigError, QueryError
from monitor.models import SourceKind
from monitor.netpolicy import FetchPolicy

DEFAULT_CONFIG = "config/feeds.yaml"
DEFAULT_DATABASE = "sqlite:///data/monitor.db"
DEFAULT_USER_AGENT = (
    "news-monitor/0.1 (+https://github.com/news-monitor/news-monitor; scheduled news monitor; polite poller)"
)

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _duration_or_none(value: Any) -> timedelta | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    return parse_duration(value)


OptionalDuration = Annotated[timedelta | None, BeforeValidator(_duration_or_none)]
Size = Annotated[int, BeforeValidator(parse_size)]
NO_MAX_AGE = timedelta.max  # `max_age: none`: articles of any age alert


def _parse_max_age(value: object) -> timedelta:
    """A duration, or `none` (also YAML null) to let articles of any age alert."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return NO_MAX_AGE
    if isinstance(value, timedelta | str | int | float):
        return parse_duration(value)
    raise ValueError(f"{value!r} is not a duration or none")


MaxAge = Annotated[timedelta, BeforeValidator(_parse_max_age)]
AlertOn = Literal["story", "edits", "outlets"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Strict):
    """Settings every source inherits unless it overrides them."""

    interval: Duration = timedelta(minutes=10)
    timeout: Duration = timedelta(seconds=20)
    user_agent: str = DEFAULT_USER_AGENT
    max_bytes: Size = 10_000_000
    concurrency: int = Field(default=32, ge=1, le=1000)
    per_host: int = Field(default=2, ge=1, le=100)
    jitter: float = Field(default=0.1, ge=0, le=0.5)
    max_backoff: Duration = timedelta(hours=6)
    adaptive: bool = False
    min_interval: Duration = timedelta(minutes=2)
    max_interval: Duration = timedelta(hours=6)
    robots: bool | None = None  # None: obey robots.txt for pages, not for feeds
    parser: Literal["hybrid", "feedparser"] = "hybrid"  # hybrid: fastfeedparser, feedparser when unsure
    # An article published longer ago than this when first seen (or undated, on a source's first poll)
    # is matched and grouped but alerts nobody: a new source's backlog is no flood.
    max_age: MaxAge = timedelta(days=2)


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class SourceConfig(_Strict):
    """One feed or page to poll."""

    name: str = Field(min_length=1, max_length=200)
    feed: str | None = None
    page: str | None = None
    interval: Duration | None = None
    enabled: bool = True
    tags: tuple[str, ...] = ()
    robots: bool | None = None
    adaptive: bool | None = None
    min_interval: Duration | None = None
    max_interval: Duration | None = None
    timeout: Duration | None = None
    follow_links: bool = False
    allow_private: bool = False  # links, listings and redirects may reach private/loopback addresses
    recheck: tuple[Duration, ...] | None = None
    recheck_tail: OptionalDuration = timedelta(days=7)  # after the ladder: the pace; none stops
    recheck_until: Duration = timedelta(days=90)  # after the ladder: how long after first seen
    recheck_budget: int = Field(default=100, ge=0, le=100_000)  # tail re-checks per cycle
    ignore: tuple[str, ...] = ()

    _url_ok = field_validator("feed", "page")(_check_url)

    @field_validator("ignore")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
        return patterns

    @model_validator(mode="after")
    def _one_url(self) -> SourceConfig:
        if (self.feed is None) == (self.page is None):
            raise ValueError("give exactly one of 'feed:' or 'page:'")
        return self

    @property
    def kind(self) -> SourceKind:
        return SourceKind.FEED if self.feed is not None else SourceKind.PAGE

    @property
    def url(self) -> str:
        return self.feed or self.page or ""

    def fetch_policy(self) -> FetchPolicy:
        """What this source's fetches may reach: its own host and port as configured; private only if allowed."""
        return FetchPolicy(source_url=self.url, allow_private=self.allow_private)

    def policy(self, defaults: Defaults) -> SchedulePolicy:
        """The schedule policy of this source, its own settings over the defaults."""
        return SchedulePolicy(
            interval=self.interval or defaults.interval,
            jitter=defaults.jitter,
            max_backoff=defaults.max_backoff,
            adaptive=defaults.adaptive if self.adaptive is None else self.adaptive,
            min_interval=self.min_interval or defaults.min_interval,
            max_interval=self.max_interval or defaults.max_interval,
        )

    def obeys_robots_for_pages(self, defaults: Defaults) -> bool:
        """Article pages are web pages: robots.txt is obeyed unless the source or defaults say no."""
        for choice in (self.robots, defaults.robots):
            if choice is not None:
                return choice
        return True

    def obeys_robots(self, defaults: Defaults) -> bool:
        """Pages obey robots.txt unless told otherwise; feeds are published to be polled."""
        for choice in (self.robots, defaults.robots):
            if choice is not None:
                return choice
        return self.kind is SourceKind.PAGE


class WatchConfig(_Strict):
    """A query whose new matches are alerted to channels."""

    name: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1)
    channels: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    stem: Literal["en", "ru"] | None = None
    # story: a new story, or an edit that makes an article newly match; edits: every later edit of an
    # alerted article; outlets: another outlet reports a flagged story (once per outlet).
    alert_on: tuple[AlertOn, ...] = ("story",)
    max_age: MaxAge | None = None  # None: the defaults' max_age


class FleetSettings(_Strict):
    """How the daemons sharing one database lease work and notice each other."""

    lease: Duration = timedelta(minutes=10)  # a poll, page check or delivery this long is given up on
    heartbeat: Duration = timedelta(seconds=5)  # each process writes its heartbeat row this often
    dead_after: Duration = timedelta(seconds=30)  # no heartbeat this long: its leases go to the others
    db_pool: int = Field(default=8, ge=1, le=200)  # database connections per process


class RetentionSettings(_Strict):
    """How long bookkeeping rows are kept; `None` keeps them for ever. Versions are kept unless told."""

    fetches: Duration | None = timedelta(days=30)
    alerts: Duration | None = timedelta(days=90)  # sent or failed ones; pending alerts are never pruned
    matches: Duration | None = timedelta(days=30)  # unflagged matches of stories no longer open
    versions: Duration | None = None
    every: Duration = timedelta(hours=1)


class Settings(_Strict):
    """The whole validated configuration."""

    database: str | None = None
    base_url: str | None = None  # where the web pages are reached (Atom self links); else the listen address
    defaults: Defaults = Defaults()
    fleet: FleetSettings = FleetSettings()
    retention: RetentionSettings = RetentionSettings()
    sources: tuple[SourceConfig, ...] = ()
    watches: tuple[WatchConfig, ...] = ()
    channels: tuple[ChannelSettings, ...] = ()

    def config_hash(self) -> str:
        """A hash of everything the fleet must agree on (all but the database URL), to spot mixed configs."""
        data = self.model_dump(mode="json", exclude={"database"})
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]

    _base_url_ok = field_validator("base_url")(_check_url)

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)

    def channel(self, name: str) -> ChannelSettings | None:
        return next((c for c in self.channels if c.name == name), None)


def _field_names(model: type[BaseModel]) -> list[str]:
    if model is ChannelBase:
        return sorted(
            {n for m in (EmailChannel, WebhookChannel, AppriseChannel) for n in m.model_fields} | {"from"}
        )
    return list(model.model_fields)


def _model_at(path: Path_) -> type[BaseModel] | None:
    models: dict[str, type[BaseModel]] = {
        "defaults": Defaults,
        "sources": SourceConfig,
        "watches": WatchConfig,
        "channels": ChannelBase,
    }
    if not path:
        return Settings
    if path == ("defaults",):
        return Defaults
    if path == ("fleet",):
        return FleetSettings
    if path == ("retention",):
        return RetentionSettings
    if len(path) == 2 and isinstance(path[0], str) and isinstance(path[1], int):
        return models.get(path[0])
    return None


def _message(error: Any, loc: Path_) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1] if loc else loc)
        key = str(loc[-1]) if loc else ""
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(key, _field_names(model), n=1)
            if close:
                hint = f" (did you mean '{close[0]}'?)"
        return f"unknown key{hint}"
    if kind == "missing":
        return "is required"
    if kind == "union_tag_invalid":
        return f"unknown channel type {error['input'].get('type')!r} (use {', '.join(_CHANNEL_TYPES)})"
    if kind == "union_tag_not_found":
        return f"'type' is required (one of {', '.join(_CHANNEL_TYPES)})"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if kind.startswith(("int_", "bool_", "string_", "float_")) and "input" in error and not _secret(loc):
        message = f"{error['input']!r}: {message[0].lower()}{message[1:]}"
    return message


_CHANNEL_TYPES = ("email", "webhook", "apprise")
_SECRET_KEYS = frozenset({"password", "secret", "token", "url", "urls", "database", "headers", "username"})


def _secret(loc: Path_) -> bool:
    """Whether a config value may hold a secret, so errors must not quote it."""
    return any(isinstance(part, str) and part in _SECRET_KEYS for part in loc)


def _clean_loc(loc: tuple[Any, ...]) -> Path_:
    # Drop pydantic's synthetic segments (function-after[...], the channel union's tag) from a location.
    kept = [p for p in loc if isinstance(p, int) or "[" not in str(p)]
    if len(kept) >= 3 and kept[0] == "channels" and kept[2] in _CHANNEL_TYPES:
        del kept[2]
    return tuple(kept)


CrossCheck = Callable[[Settings], list[tuple[Path_, str]]]
_cross_checks: list[CrossCheck] = []


def cross_check(check: CrossCheck) -> CrossCheck:
    """Register a whole-config check (names that must exist, queries that must parse)."""
    _cross_checks.append(check)
    return check


@cross_check
def _names_are_unique_and_known(settings: Settings) -> list[tuple[Path_, str]]:
    problems: list[tuple[Path_, str]] = []
    sections: tuple[tuple[str, Sequence[Any]], ...] = (
        ("sources", settings.sources),
        ("watches", settings.watches),
        ("channels", settings.channels),
    )
    for section, items in sections:
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.name in seen:
                problems.append(
                    ((section, i, "name"), f"'{item.name}' is already used by {section}[{seen[item.name]}]")
                )
            else:
                seen[item.name] = i
    sources = {s.name for s in settings.sources}
    channels = {c.name for c in settings.channels}
    for i, watch in enumerate(settings.watches):
        for j, channel in enumerate(watch.channels):
            if channel not in channels:
                problems.append((("watches", i, "channels", j), f"no channel named '{channel}'"))
        for j, source in enumerate(watch.sources):
            if source not in sources:
                problems.append((("watches", i, "sources", j), f"no source named '{source}'"))
    return problems


@cross_check
def _watch_queries_parse(settings: Settings) -> list[tuple[Path_, str]]:
    problems: list[tuple[Path_, str]] = []
    for i, watch in enumerate(settings.watches):
        try:
            parse_query(watch.query)
        except QueryError as exc:
            problems.append((("watches", i, "query"), f"{exc.message} at column {exc.column}"))
    return problems


def _compose(text: str) -> yaml.Node | None:
    """The YAML node tree, by libyaml where PyYAML's reader would take the text (a 1,000-source config:
    0.1 s where the pure-Python composer took about 1 s of `monitor poll`'s start); by the pure composer
    otherwise and on any error, so the accepted texts and the error messages stay its own."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None and yaml.reader.Reader.NON_PRINTABLE.search(text) is None:
        try:
            return yaml.compose(text, Loader=loader)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def parse_settings(text: str, origin: str, env: dict[str, str] | None = None) -> Settings:
    """Validate YAML text; raise ConfigError with one line per problem naming path and origin:line."""
    env = dict(os.environ) if env is None else env
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{origin}:{mark.line + 1}" if mark else origin
        raise ConfigError([f"{where}: {exc.problem or exc.context or 'invalid YAML'}"]) from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        raise ConfigError([f"{origin}: invalid YAML: {str(exc).splitlines()[0]}"]) from None
    located = Located()
    try:
        data = located.build(node, ()) if node is not None else {}
    except TooBig as exc:
        raise ConfigError([f"{origin}:{exc.line}: {exc}"]) from None
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise ConfigError(
            [f"{origin}: invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{origin}:1: the configuration must be a mapping of keys to values"])

    def line_of(path: Path_) -> str:
        line = located.line(path)
        return f"{origin}:{line}" if line else origin

    env_problems: list[tuple[Path_, str]] = []
    data = interpolate(data, (), env, env_problems)
    problems = [f"{path_text(p)}: {m} ({line_of(p)})" for p, m in env_problems]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        unset = {p for p, _ in env_problems}
        for error in exc.errors():
            loc = _clean_loc(error["loc"])
            if loc in unset:
                continue  # already reported: its environment variable is not set
            problems.append(f"{path_text(loc)}: {_message(error, loc)} ({line_of(loc)})")
        raise ConfigError(problems) from None
    for check in _cross_checks:
        problems.extend(f"{path_text(p)}: {m} ({line_of(p)})" for p, m in check(settings))
    if problems:
        raise ConfigError(problems)
    return settings


def load_settings(path: str | Path, env: dict[str, str] | None = None) -> Settings:
    """Read and validate a config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc.strerror}"]) from None
    return parse_settings(text, str(path), env)


def database_url(cli_value: str | None, settings: Settings | None, env: dict[str, str] | None = None) -> str:
    """--db, else $MONITOR_DATABASE_URL, else the config's database, else SQLite at data/monitor.db."""
    env = dict(os.environ) if env is None else env
    return (
        cli_value
        or env.get("MONITOR_DATABASE_URL")
        or (settings.database if settings else None)
        or DEFAULT_DATABASE
    )


def config_path(cli_value: str | None, env: dict[str, str] | None = None) -> str:
    """--config, else $MONITOR_CONFIG, else config/feeds.yaml."""
    env = dict(os.environ) if env is None else env
    return cli_value or env.get("MONITOR_CONFIG") or DEFAULT_CONFIG
