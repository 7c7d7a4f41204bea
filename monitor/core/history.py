"""An article's history as the CLI and the web read it: its versions, which two a diff compares, the diff.

Pure: it takes the rows `store.tracking.article_history` returns (reverts already resolved to their
text) and answers `monitor show`/`monitor diff`, the API, the article pages and the changes feed alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.core.versions import VersionDiff, diff_json, diff_versions, history_rows, version_text
from monitor.errors import NotFoundError


@dataclass(frozen=True)
class History:
    """An article, its versions in order (reverts resolved to their text) and its events."""

    article: dict[str, Any]
    versions: list[dict[str, Any]]
    events: list[dict[str, Any]]

    def rows(self) -> list[dict[str, Any]]:
        """One summary row per version: n, seen_at, title, words, words added/removed, headline, revert."""
        return history_rows(self.versions)

    def version(self, n: int) -> dict[str, Any]:
        for version in self.versions:
            if version["n"] == n:
                return version
        known = f"it has 1-{self.versions[-1]['n']}" if self.versions else "it has no versions yet"
        raise NotFoundError(f"article {self.article['id']} has no version {n} ({known})")

    def default_pair(self, from_n: int | None, to_n: int | None) -> tuple[int, int]:
        """The versions a diff compares: given ones, else the latest and the one before it."""
        if not self.versions:
            raise NotFoundError(f"article {self.article['id']} has no versions yet")
        to_n = to_n or self.versions[-1]["n"]
        from_n = from_n or max(to_n - 1, 1)
        return from_n, to_n

    def diff(self, from_n: int, to_n: int) -> VersionDiff:
        """Word diff of title and text between two versions (NotFoundError naming a missing one, `to` first)."""
        new, old = self.version(to_n), self.version(from_n)
        return diff_versions(old["title"], version_text(old), new["title"], version_text(new))


def diff_document(article_id: int, from_n: int, to_n: int, changes: VersionDiff) -> dict[str, Any]:
    """The JSON shape of a diff, as `monitor diff --format json` prints and /api/v1/.../diff answers."""
    return {
        "article": article_id,
        "from": from_n,
        "to": to_n,
        "headline_changed": changes.headline_changed,
        "title": diff_json(changes.title),
        "body": diff_json(changes.body),
        "words_added": changes.title.added + changes.body.added,
        "words_removed": changes.title.removed + changes.body.removed,
    }
