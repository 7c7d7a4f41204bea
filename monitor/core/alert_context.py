"""An alert as data: the article, its story and outlets, the matched snippet and changes (pure).

`render.py` turns an `AlertContext` into a channel's message and the webhook JSON, and re-exports these
names; `sample_alert` is the realistic alert `monitor alerts test CHANNEL` sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from markupsafe import Markup, escape

EventType = Literal["new_story", "story_update", "new_version", "article_edit", "also_reported", "test"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    """The article an alert is about, at the version that matched."""

    id: int
    url: str
    title: str
    source: str
    published: datetime | None = None
    version: int = 1


@dataclass(frozen=True, slots=True)
class Outlet:
    """Another outlet's article in the same story."""

    source: str
    title: str
    url: str
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoryInfo:
    """The story the article belongs to, and the other outlets that reported it."""

    id: int
    other_outlets: tuple[Outlet, ...] = ()


@dataclass(frozen=True, slots=True)
class Snippet:
    """Plain text around the matches; `highlights` are [start, end) code-point offsets of the hits."""

    text: str
    highlights: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        for start, end in self.highlights:
            if not 0 <= start < end <= len(self.text):
                raise ValueError(
                    f"highlight ({start}, {end}) is outside the snippet of {len(self.text)} chars"
                )

    def parts(self) -> tuple[tuple[str, bool], ...]:
        """The text cut into (piece, is_hit) pieces, overlapping hits merged."""
        merged: list[list[int]] = []
        for start, end in sorted(self.highlights):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        pieces: list[tuple[str, bool]] = []
        pos = 0
        for start, end in merged:
            if start > pos:
                pieces.append((self.text[pos:start], False))
            pieces.append((self.text[start:end], True))
            pos = end
        if pos < len(self.text):
            pieces.append((self.text[pos:], False))
        return tuple(pieces)

    def marked(self, before: str = "**", after: str = "**") -> str:
        """The text with every hit wrapped in markers (markdown bold by default)."""
        return "".join(f"{before}{piece}{after}" if hit else piece for piece, hit in self.parts())

    def html(self) -> Markup:
        """The text HTML-escaped, with every hit in <mark>."""
        return Markup("").join(
            Markup("<mark>{}</mark>").format(piece) if hit else escape(piece) for piece, hit in self.parts()
        )


@dataclass(frozen=True, slots=True)
class Changes:
    """What an edit changed: words added and removed, and optionally a short diff text."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    diff: str | None = None

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.diff)


@dataclass(frozen=True, slots=True)
class AlertContext:
    """Everything one alert says: rendered for a channel, or sent as the webhook payload.

    `delivery_id` stays the same across retries so receivers can drop repeats.
    """

    event: EventType
    delivery_id: str
    watch: str
    article: ArticleInfo
    story: StoryInfo
    created_at: datetime
    terms: tuple[str, ...] = ()
    snippet: Snippet | None = None
    changes: Changes | None = None

    def __post_init__(self) -> None:
        if self.event not in EVENT_TYPES:
            raise ValueError(f"unknown alert event {self.event!r}; expected one of {', '.join(EVENT_TYPES)}")
        if not self.delivery_id:
            raise ValueError("an alert needs a delivery id")


def sample_alert(now: datetime, *, delivery_id: str = "test", watch: str = "example") -> AlertContext:
    """A realistic "test" alert for `monitor alerts test CHANNEL`."""
    text = (
        "Officials confirmed on Tuesday that the new bridge across the river will open to traffic next month."
    )
    hits = tuple((text.index(word), text.index(word) + len(word)) for word in ("bridge", "open"))
    return AlertContext(
        event="test",
        delivery_id=delivery_id,
        watch=watch,
        article=ArticleInfo(
            id=0,
            url="https://example.org/news/bridge-opens",
            title="New bridge to open next month",
            source="Example News",
            published=now,
            version=2,
        ),
        story=StoryInfo(
            id=0,
            other_outlets=(
                Outlet("Example Times", "Bridge opening date set", "https://example.com/bridge", now),
            ),
        ),
        created_at=now,
        terms=("bridge", "open"),
        snippet=Snippet(text, hits),
        changes=Changes(added=("Tuesday",), removed=("Monday",)),
    )
