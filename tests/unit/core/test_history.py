"""The diff pairing the CLI (`monitor diff`) and the web (API, pages, changes feed) share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.core.history import History, diff_document
from monitor.errors import NotFoundError

SEEN = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def version(n: int, title: str, body: str, reverts_to: int | None = None) -> dict[str, object]:
    return {
        "n": n,
        "title": title,
        "summary": "",
        "body": body,
        "seen_at": SEEN + timedelta(hours=n),
        "reverts_to": reverts_to,
    }


def history(*versions: dict[str, object]) -> History:
    return History({"id": 7, "title": "t", "source": "wire"}, list(versions), [])


THREE = history(
    version(1, "Talks open", "the talks opened in Geneva today"),
    version(2, "Talks stall", "the talks stalled in Geneva today"),
    version(3, "Talks stall", "the talks stalled in Geneva today after a walkout"),
)


def test_default_pair_is_the_latest_and_the_one_before() -> None:
    assert THREE.default_pair(None, None) == (2, 3)
    assert THREE.default_pair(None, 2) == (1, 2)
    assert THREE.default_pair(1, None) == (1, 3)
    assert THREE.default_pair(None, 1) == (1, 1)  # never version 0


def test_a_missing_version_is_named_newer_first() -> None:
    with pytest.raises(NotFoundError, match=r"article 7 has no version 9 \(it has 1-3\)"):
        THREE.diff(*THREE.default_pair(None, 9))
    with pytest.raises(NotFoundError, match="has no version 5"):
        THREE.diff(5, 2)
    with pytest.raises(NotFoundError, match="article 7 has no versions yet"):
        history().default_pair(None, None)
    with pytest.raises(NotFoundError, match=r"has no version 1 \(it has no versions yet\)"):
        history().version(1)


def test_diff_document_counts_title_and_body_words() -> None:
    changes = THREE.diff(1, 3)
    document = diff_document(7, 1, 3, changes)
    assert list(document) == [
        "article",
        "from",
        "to",
        "headline_changed",
        "title",
        "body",
        "words_added",
        "words_removed",
    ]
    assert (document["article"], document["from"], document["to"]) == (7, 1, 3)
    assert document["headline_changed"] is True
    assert document["words_added"] == 1 + 4  # "stall"; "stalled", "after", "a", "walkout"
    assert document["words_removed"] == 1 + 1  # "open"; "opened"
    assert {"op": "replace", "old": "open", "new": "stall"} in document["title"]


def test_rows_summarise_each_version() -> None:
    rows = THREE.rows()
    assert [r["n"] for r in rows] == [1, 2, 3]
    assert [r["headline_changed"] for r in rows] == [False, True, False]
    assert rows[2]["words_added"] == 3 and rows[2]["words_removed"] == 0
