"""When a re-seen article is a new version, and what changed between versions (pure)."""

from __future__ import annotations

import difflib
import hashlib
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.core.normalize import normalize_text

# Cosmetic noise that never makes a version: relative time stamps and engagement counters.
COSMETIC = (
    re.compile(
        r"\b(?:updated|published|posted|edited)?\s*\d+\s+(?:second|minute|min|hour|hr|day)s?\s+ago\b", re.I
    ),
    re.compile(r"\b\d[\d.,]*\s*[KkMm]?\s+(?:shares?|comments?|views?|likes?|reactions?)\b", re.I),
)
_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
    }
)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)\]])")
_SPACE_AFTER_OPEN = re.compile(r"([(\[])\s+")
_LONE_SEPARATORS = re.compile(r"(?<!\S)[·•|/]+(?!\S)")


_QUOTE_PAIRS = tuple((chr(k), v) for k, v in _QUOTES.items() if isinstance(v, str))
_AGO = re.compile(r"ago", re.I)
_COUNTED = re.compile(r"share|comment|view|like|reaction", re.I)
# Literal searches on the lower-cased text stand for _AGO and _COUNTED (re.I scans several times slower).
# re.I also reads "ſ" as s, "K" as k and "İ"/"ı" as i; lower() maps K to k but not the other three, so a text
# holding one of those asks re.I itself.
_OTHER_CASE_FORMS = ("\u017f", "\u0130", "\u0131")
_COUNTED_WORDS = ("share", "comment", "view", "like", "reaction")
_PUNCT_AFTER_SPACE = ",.;:!?)]"
# Gates: every match of COSMETIC[0], COSMETIC[1] and _LONE_SEPARATORS holds a match of its gate, and a
# gate starts with a character class the regex engine skips to, where the pattern's leading assertion (\b,
# a lookbehind) made it try every position (most of cosmetic_form on real feeds). A gate's lookbehind after
# its first character keeps it from restarting inside a run of digits or separators, as the assertion did
# (a 12,000-digit run is in the real feeds).
_AGO_GATE = re.compile(r"\d\s+(?:second|minute|min|hour|hr|day)s?\s+ago\b", re.I)
_COUNTER_GATE = re.compile(
    r"\d(?<!\d\d)[\d.,]*\s*[KkMm]?\s+(?:shares?|comments?|views?|likes?|reactions?)\b", re.I
)
_LONE_GATE = re.compile(r"[·•|/](?<!\S[·•|/])[·•|/]*(?!\S)")
_ANY_PUNCT_AFTER_SPACE = re.compile(" [" + re.escape(_PUNCT_AFTER_SPACE) + "]")


def _has_ascii_digit(text: str) -> bool:
    """Whether the text holds one of 0-9 (ten scans for one character each: faster than a regex's)."""
    return (
        "0" in text
        or "1" in text
        or "2" in text
        or "3" in text
        or "4" in text
        or "5" in text
        or "6" in text
        or "7" in text
        or "8" in text
        or "9" in text
    )


def cosmetic_form(text: str, ignore: Sequence[re.Pattern[str]] = ()) -> str:
    """The text as versions compare it: no stamps or counters, straight quotes, tight punctuation.

    Each step runs only when its cheap precondition holds (a literal search): the same output as running
    every regex, at a fraction of the cost on feed text, where most steps find nothing (bench/realfeeds.py).
    """
    # A stamp and a counter each hold a figure (\d): ASCII text with no digit 0-9 holds neither, and skips
    # the word searches (a third of this on the bench feeds; \d reads other digits in other text).
    if not text.isascii() or _has_ascii_digit(text):
        lower = text.lower()
        # re.I knows no other spelling of a, g or o; then the gate (the stamp from its figure on) tells.
        if "ago" in lower and _AGO_GATE.search(text) is not None:
            text = COSMETIC[0].sub(" ", text)
            lower = text.lower()
        if not text.isascii() and any(form in text for form in _OTHER_CASE_FORMS):
            counted = _COUNTED.search(text) is not None
        else:
            counted = any(word in lower for word in _COUNTED_WORDS)
        if counted and _COUNTER_GATE.search(text) is not None:
            text = COSMETIC[1].sub(" ", text)
    for pattern in ignore:
        text = pattern.sub(" ", text)
    if ("·" in text or "•" in text or "|" in text or "/" in text) and _LONE_GATE.search(text) is not None:
        text = _LONE_SEPARATORS.sub(" ", text)
    text = normalize_text(text)
    for quote, plain in _QUOTE_PAIRS:
        if quote in text:
            text = text.replace(quote, plain)
    # normalize_text left single spaces only, so "\s+X" is " X" and "X\s+" is "X ". One search says
    # whether any " X" is there (eight searches for a pair starting with a space cost a third of this).
    if _ANY_PUNCT_AFTER_SPACE.search(text) is not None:
        for mark in _PUNCT_AFTER_SPACE:
            if " " + mark in text:
                text = text.replace(" " + mark, mark)
    if "(" in text or "[" in text:
        for mark in "([":
            if mark + " " in text:
                text = text.replace(mark + " ", mark)
    return text


def _cosmetic_form_reference(text: str, ignore: Sequence[re.Pattern[str]] = ()) -> str:
    """The plain definition of cosmetic_form, every regex run; tests hold the fast one to it."""
    for pattern in (*COSMETIC, *ignore):
        text = pattern.sub(" ", text)
    text = normalize_text(_LONE_SEPARATORS.sub(" ", text)).translate(_QUOTES)
    return _SPACE_AFTER_OPEN.sub(r"\1", _SPACE_BEFORE_PUNCT.sub(r"\1", text))


def content_fingerprint(title: str, body: str, *, ignore: Sequence[re.Pattern[str]] = ()) -> str:
    """Hash of the cosmetic form of title and text: equal fingerprints mean no new version.

    `ignore` patterns (a source's configured noise) are removed too, before hashing.
    """
    digest = hashlib.sha256()
    digest.update(cosmetic_form(title, ignore).encode())
    digest.update(b"\x00")
    digest.update(cosmetic_form(body, ignore).encode())
    return digest.hexdigest()


# --- word-level diffs -----------------------------------------------------------------------------

_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class DiffOp:
    """One run of the diff: equal, insert, delete or replace, with the words of each side."""

    op: str
    old: tuple[str, ...]
    new: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WordDiff:
    ops: tuple[DiffOp, ...]

    @property
    def added(self) -> int:
        return sum(len(o.new) for o in self.ops if o.op in ("insert", "replace"))

    @property
    def removed(self) -> int:
        return sum(len(o.old) for o in self.ops if o.op in ("delete", "replace"))

    @property
    def changed(self) -> bool:
        return any(o.op != "equal" for o in self.ops)

    def added_words(self) -> list[str]:
        return [w for o in self.ops if o.op in ("insert", "replace") for w in o.new]

    def removed_words(self) -> list[str]:
        return [w for o in self.ops if o.op in ("delete", "replace") for w in o.old]


@dataclass(frozen=True, slots=True)
class VersionDiff:
    """Headline and text differences between two versions."""

    title: WordDiff
    body: WordDiff

    @property
    def headline_changed(self) -> bool:
        return self.title.changed


def word_diff(old: str, new: str) -> WordDiff:
    """Word-level diff (difflib on whitespace tokens, no autojunk so frequent words still align)."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return WordDiff(
        tuple(DiffOp(tag, tuple(a[i1:i2]), tuple(b[j1:j2])) for tag, i1, i2, j1, j2 in matcher.get_opcodes())
    )


def diff_versions(old_title: str, old_body: str, new_title: str, new_body: str) -> VersionDiff:
    return VersionDiff(word_diff(old_title, new_title), word_diff(old_body, new_body))


def render_text(diff: WordDiff, *, context: int | None = None) -> str:
    """`[-old-]{+new+}` markup; with `context`, long equal runs are cut to that many words each side."""
    parts: list[str] = []
    for index, op in enumerate(diff.ops):
        if op.op == "equal":
            words = list(op.old)
            if context is not None and len(words) > 2 * context:
                head = words[:context] if index else []
                tail = words[-context:] if index < len(diff.ops) - 1 else []
                words = [*head, "…", *tail]
            parts.append(" ".join(words))
        else:
            if op.old:
                parts.append("[-" + " ".join(op.old) + "-]")
            if op.new:
                parts.append("{+" + " ".join(op.new) + "+}")
    return " ".join(p for p in parts if p)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(words: Sequence[str]) -> str:
    """Words for a terminal: control characters from the page shown escaped, never obeyed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", " ".join(words))


def render_ansi(diff: WordDiff, *, context: int | None = 12) -> str:
    """Terminal colours: removed words red and struck through, added words green."""
    parts: list[str] = []
    for index, op in enumerate(diff.ops):
        if op.op == "equal":
            words = list(op.old)
            if context is not None and len(words) > 2 * context:
                words = [
                    *(words[:context] if index else []),
                    "…",
                    *(words[-context:] if index < len(diff.ops) - 1 else []),
                ]
            parts.append(_visible(words))
        else:
            if op.old:
                parts.append("\x1b[9;31m" + _visible(op.old) + "\x1b[0m")
            if op.new:
                parts.append("\x1b[32m" + _visible(op.new) + "\x1b[0m")
    return " ".join(p for p in parts if p)


def render_html(diff: WordDiff) -> str:
    """<del>/<ins> markup, escaped."""
    parts: list[str] = []
    for op in diff.ops:
        if op.op == "equal":
            parts.append(html.escape(" ".join(op.old)))
        else:
            if op.old:
                parts.append("<del>" + html.escape(" ".join(op.old)) + "</del>")
            if op.new:
                parts.append("<ins>" + html.escape(" ".join(op.new)) + "</ins>")
    return " ".join(p for p in parts if p)


def diff_json(diff: WordDiff) -> list[dict[str, object]]:
    return [{"op": o.op, "old": " ".join(o.old), "new": " ".join(o.new)} for o in diff.ops]


def history_rows(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One summary row per version of an article (as `article_history` reads them): n, seen_at, title,
    words added and removed against the version before, headline changed, reverts_to, words."""
    rows = []
    previous: Mapping[str, Any] | None = None
    for version in history:
        if previous is None:
            added, removed, headline = len((version["title"] + " " + version["body"]).split()), 0, False
        else:
            body = word_diff(version_text(previous), version_text(version))
            title = word_diff(previous["title"], version["title"])
            added, removed, headline = body.added + title.added, body.removed + title.removed, title.changed
        rows.append(
            {
                "n": version["n"],
                "seen_at": version["seen_at"],
                "title": version["title"],
                "words_added": added,
                "words_removed": removed,
                "headline_changed": headline,
                "reverts_to": version["reverts_to"],
                "words": len(version_text(version).split()),
            }
        )
        previous = version
    return rows


def version_text(version: Mapping[str, Any]) -> str:
    """The text a version's diff compares: its body, else its summary."""
    return version["body"] or version["summary"] or ""
