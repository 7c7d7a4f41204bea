"""Output encoding per sink: text from feeds is hostile, so each place it goes gets its own escaping.

HTML and Atom links: http(s) only. Atom text: no XML-illegal characters. Terminal tables: control
characters shown escaped. Mail and HTTP headers: one line, no controls. Logs and messages: passwords in
URLs masked.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# C0 and C1 controls and DEL, except tab and newline (which tables and logs can show as they are)
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_HEADER_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_URL_PASSWORD = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^/\s:@]*):(?P<password>[^/\s@]+)@"
)
_ANY_URL = re.compile(r"\b(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://\S+")
_BARE_PATH = re.compile(r"(?<![\w:/.])/[^\s'\")]+")


def safe_href(url: str | None) -> str | None:
    """The URL when it is http(s) (and so cannot run script when clicked), else None."""
    if not url:
        return None
    cleaned = url.strip()
    if _TERMINAL_CONTROL.search(cleaned) or any(c.isspace() for c in cleaned):
        return None
    try:
        scheme = urlsplit(cleaned).scheme.lower()
    except ValueError:
        return None
    return cleaned if scheme in ("http", "https") else None


def xml_text(text: str) -> str:
    """Text with the characters XML 1.0 forbids removed, so one bad title cannot break a whole feed."""
    return _XML_ILLEGAL.sub("", text)


def terminal_text(text: str) -> str:
    """Text with control characters (ESC, SOH, ...) shown as escapes, so a title cannot drive the terminal."""
    return _TERMINAL_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def header_value(text: str, limit: int = 998) -> str:
    """One line without control characters, for a mail or HTTP header."""
    return " ".join(_HEADER_UNSAFE.sub(" ", text).split())[:limit]


def mask_url(url: str) -> str:
    """The URL with its password (if any) shown as ***; anything not a URL is returned unchanged."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return mask_text(url)
    if not password:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def mask_text(text: str) -> str:
    """Every `scheme://user:password@` in free text with the password masked."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", text)


def hide_urls(text: str) -> str:
    """Every URL (and bare URL path) in free text cut short, for logs of libraries that put tokens in paths."""
    return _BARE_PATH.sub("/…", _ANY_URL.sub(lambda m: f"{m.group('scheme')}://…", text))
