"""YAML read with the line of every path in it, a budget against alias bombs, and ${VAR} interpolation.

`config.py` validates what this reads and names each problem's YAML path and file:line.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


def path_text(path: Path_) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


class TooBig(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


# A config of a few hundred sources has a few thousand nodes; aliases may repeat some, not multiply them
# (400 bytes of nested aliases expand to billions of nodes: the "billion laughs").
MAX_NODES = 200_000
MAX_DEPTH = 50


class Located:
    """YAML data plus the line of every path in it, with a budget on nodes built (aliases count each time)."""

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}
        self._built = 0
        self._open: set[int] = set()

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self._built += 1
        line = node.start_mark.line + 1
        if self._built > MAX_NODES:
            raise TooBig(line, f"more than {MAX_NODES:,} values (aliases expanding too far?)")
        if len(path) > MAX_DEPTH:
            raise TooBig(line, f"nested deeper than {MAX_DEPTH} levels")
        if id(node) in self._open:
            raise TooBig(line, "an alias refers to the node that contains it")
        self.lines[path] = line
        if isinstance(node, yaml.MappingNode):
            self._open.add(id(node))
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(self._scalar(key_node))
                result[key] = self.build(value_node, (*path, key))
                self.lines[(*path, key)] = key_node.start_mark.line + 1
            self._open.discard(id(node))
            return result
        if isinstance(node, yaml.SequenceNode):
            self._open.add(id(node))
            items = [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            self._open.discard(id(node))
            return items
        return self._scalar(node)

    @staticmethod
    def _scalar(node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise TooBig(node.start_mark.line + 1, "a key must be a plain value")
        return yaml.SafeLoader.construct_object(_LOADER, node, deep=True)

    def line(self, path: Path_) -> int | None:
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


_LOADER = yaml.SafeLoader("")

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(data: Any, path: Path_, env: dict[str, str], problems: list[tuple[Path_, str]]) -> Any:
    if isinstance(data, dict):
        return {k: interpolate(v, (*path, k), env, problems) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, (*path, i), env, problems) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append((path, f"environment variable {name} is not set"))
            return ""

        return _ENV.sub(replace, data)
    return data
