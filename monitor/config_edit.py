"""Edit the config's sources in place, keeping its comments and layout (ruamel.yaml round trip).

Every edit is validated as `monitor check` would before the file is replaced (atomically, keeping its mode);
a running daemon sees the new contents at its next tick and reloads.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

from monitor.config import Settings, parse_settings
from monitor.errors import ConfigError, NotFoundError, SourceExistsError


@dataclass(frozen=True)
class NewSource:
    """A source to add, as `monitor sources add` or an OPML outline gives it."""

    name: str
    url: str
    page: bool = False
    tags: tuple[str, ...] = ()
    interval: str | None = None
    follow_links: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class ConfigDocument:
    """A config file loaded for a round trip: change its sources, then save() validates and writes it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError([f"{self.path}: config file not found"]) from None
        except OSError as exc:
            raise ConfigError([f"{self.path}: cannot read config file: {exc.strerror}"]) from None
        parse_settings(text, str(self.path))  # refuse to edit a file that is already invalid
        _, indent, block_seq_indent = load_yaml_guess_indent(text)
        self.yaml = YAML()
        self.yaml.preserve_quotes = True
        self.yaml.width = 4096
        sequence = indent or 2
        offset = block_seq_indent or 0
        self.yaml.indent(mapping=max(2, sequence - offset), sequence=sequence, offset=offset)
        self.data: CommentedMap = self.yaml.load(text) if text.strip() else CommentedMap()
        if not isinstance(self.data, CommentedMap):
            raise ConfigError([f"{self.path}: the top level must be a mapping"])

    @property
    def sources(self) -> CommentedSeq:
        found = self.data.get("sources")
        if found is None:
            found = CommentedSeq()
            self.data["sources"] = found
        if not isinstance(found, CommentedSeq):
            raise ConfigError([f"{self.path}: 'sources' must be a list"])
        return found

    def names(self) -> list[str]:
        return [str(s.get("name")) for s in self.sources if isinstance(s, dict)]

    def urls(self) -> set[str]:
        return {str(s.get("feed") or s.get("page")) for s in self.sources if isinstance(s, dict)}

    def add(self, source: NewSource) -> None:
        """Append a source after the last one (the comment that followed the list stays after it)."""
        if source.name in self.names():
            raise SourceExistsError(f"a source named {source.name!r} is already in {self.path}")
        entry = CommentedMap()
        entry["name"] = source.name
        entry["page" if source.page else "feed"] = source.url
        if source.interval:
            entry["interval"] = source.interval
        if source.tags:
            tags = CommentedSeq(source.tags)
            tags.fa.set_flow_style()
            entry["tags"] = tags
        if source.follow_links:
            entry["follow_links"] = True
        entry.update(source.extra)
        seq = self.sources
        blank = _separated_by_blank_lines(seq)
        trailing = _take_trailing(seq)
        seq.append(entry)
        _put_trailing(seq, trailing)
        if blank and len(seq) > 1:
            seq.ca.items[len(seq) - 1] = [None, [CommentToken("\n", CommentMark(0), None)], None, None]

    def remove(self, name: str) -> None:
        seq = self.sources
        found = [i for i, entry in enumerate(seq) if isinstance(entry, dict) and entry.get("name") == name]
        if not found:
            raise NotFoundError(f"no source named {name!r} in {self.path}")
        trailing = _take_trailing(seq)
        del seq[found[0]]
        _put_trailing(seq, trailing)

    def text(self) -> str:
        out = io.StringIO()
        self.yaml.dump(self.data, out)
        return out.getvalue()

    def save(self) -> Settings:
        """Validate the edited config as `monitor check` would, then replace the file atomically."""
        text = self.text()
        settings = parse_settings(text, str(self.path))
        mode = self.path.stat().st_mode & 0o7777
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temp, mode)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return settings


def _take_trailing(seq: CommentedSeq) -> str:
    """Detach what follows the list (blank lines, the next section's heading comment) and return it.

    ruamel keeps it either as the list's end comment or, after a scalar, on the last item's last key
    (behind that line's own end-of-line comment); it must stay after whatever item ends up last.
    """
    if seq.ca.end:
        rest = "".join(token.value for token in seq.ca.end)
        seq.ca.end = []
        return rest
    slot = _last_slot(seq, create=False)
    if slot is None or slot[2] is None:
        return ""
    value = slot[2].value
    newline = value.find("\n")
    if newline == -1:
        return ""
    own, rest = value[: newline + 1], value[newline + 1 :]
    if own.strip():
        slot[2].value = own
    else:
        slot[2] = None
    return str(rest)


def _put_trailing(seq: CommentedSeq, rest: str) -> None:
    """Hang `rest` after the last item's last line (where ruamel emits it; a list's end comment is not)."""
    slot = _last_slot(seq, create=True) if rest else None
    if slot is None:
        return
    if slot[2] is None:
        slot[2] = CommentToken("\n" + rest, CommentMark(0), None)
    else:
        slot[2].value += rest


def _last_slot(seq: CommentedSeq, *, create: bool) -> list[Any] | None:
    if not seq or not isinstance(seq[-1], CommentedMap) or not seq[-1]:
        return None
    last = seq[-1]
    key = list(last.keys())[-1]
    slot = last.ca.items.get(key)
    if slot is None and create:
        slot = last.ca.items[key] = [None, None, None, None]
    if slot is not None:
        while len(slot) < 3:
            slot.append(None)
    return cast(list[Any] | None, slot)


def _separated_by_blank_lines(seq: CommentedSeq) -> bool:
    """Whether the list's items are set apart by blank lines (ruamel keeps them as the items' pre-comments)."""
    for index in range(1, len(seq)):
        slot = seq.ca.items.get(index)
        if slot and len(slot) > 1 and slot[1] and all(t.value.strip() == "" for t in slot[1]):
            return True
    return False


def slug(text: str) -> str:
    """A source name from a title: lower case words joined by '-'."""
    words = re.findall(r"[\w]+", text.lower())
    return "-".join(words)[:80].strip("-") or "source"
