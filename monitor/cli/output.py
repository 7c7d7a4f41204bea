"""Listings for humans (rich tables) and for scripts (json, jsonl, csv): one place, every command."""

from __future__ import annotations

import csv
import dataclasses
import enum
import json
import sys
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, TextIO

from monitor.encode import terminal_text

FORMATS = ("table", "json", "jsonl", "csv")
# The zone table times are shown in: None is the machine's local zone (`monitor --utc` sets UTC).
TABLE_ZONE: ContextVar[tzinfo | None] = ContextVar("TABLE_ZONE", default=None)


def plain(value: Any) -> Any:
    """A JSON-able version of dataclasses, enums, datetimes and containers."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(TABLE_ZONE.get()).strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def _csv_cell(value: Any) -> Any:
    """Lists joined with '; ' (nested ones and mappings as JSON); Unicode as is."""
    if isinstance(value, list):
        return "; ".join(
            json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else str(v) for v in value
        )
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def emit(
    rows: Sequence[Mapping[str, Any]],
    fmt: str,
    columns: Sequence[str] | None = None,
    *,
    title: str | None = None,
    out: TextIO | None = None,
) -> None:
    """Print rows in the chosen format; `columns` picks and orders the table and CSV columns."""
    out = out or sys.stdout
    data = [plain(dict(r)) for r in rows]
    if fmt == "json":
        json.dump(data, out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt == "jsonl":
        for row in data:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        names = list(columns or (data[0].keys() if data else []))
        writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        for row in data:
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    else:
        from rich.console import Console  # rich only for tables: JSON and CSV output never load it
        from rich.table import Table
        from rich.text import Text

        names = list(columns or (rows[0].keys() if rows else []))
        table = Table(title=title, show_lines=False, header_style="bold")
        for name in names:
            table.add_column(name.replace("_", " "), overflow="fold")
        for row in rows:
            # Text, not markup: a title like "[red]x" or one with ESC sequences must print as written.
            table.add_row(*(Text(terminal_text(_cell(row.get(n)))) for n in names))
        Console(file=out, soft_wrap=False, width=None if out.isatty() else 200).print(table)
