"""Salvage of a feed a few bad characters break: what XML forbids, removed from the bytes (pure).

One lone surrogate (`&#xD800;`), NUL or other character XML 1.0 forbids makes feedparser's XML parser
reject the whole document; `core/feed_reference.py` parses the cleaned bytes again and says in the feed's
`problem` what was removed, so one bad character never costs every entry of the feed.
"""

from __future__ import annotations

import re

# Character references to code points XML 1.0 forbids: C0 controls but tab/LF/CR, surrogates, U+FFFE/F.
_BAD_CHAR_REF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{1,8})|0*([0-9]{1,10}));")
# Raw C0 controls (tab, LF and CR are fine) and UTF-8-encoded surrogates and U+FFFE/U+FFFF.
_BAD_RAW = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xed[\xa0-\xbf][\x80-\xbf]|\xef\xbf[\xbe\xbf]")


def _xml_allowed(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def clean_feed_bytes(body: bytes) -> tuple[bytes, str | None]:
    """Remove what XML forbids (bad character references, control bytes, encoded surrogates).

    Returns the cleaned bytes and what was removed (None when nothing was). UTF-16/32 bodies, where a
    NUL byte is part of every character, are left alone.
    """
    refs = 0

    def ref(match: re.Match[bytes]) -> bytes:
        nonlocal refs
        hex_digits, dec_digits = match.group(1), match.group(2)
        code = int(hex_digits, 16) if hex_digits is not None else int(dec_digits)
        if _xml_allowed(code):
            return match.group(0)
        refs += 1
        return b""

    cleaned = _BAD_CHAR_REF.sub(ref, body) if b"&#" in body else body
    raw = 0
    wide = body[:2] in (b"\xff\xfe", b"\xfe\xff") or body[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")
    if not wide and not body.startswith((b"<\x00", b"\x00<")):
        cleaned, raw = _BAD_RAW.subn(b"", cleaned)
    if not refs and not raw:
        return body, None
    parts = []
    if refs:
        parts.append(f"{refs} character reference{'s' if refs != 1 else ''} XML forbids")
    if raw:
        parts.append(f"{raw} control or surrogate character{'s' if raw != 1 else ''}")
    return cleaned, " and ".join(parts)
