"""The read-only web side: JSON API, Atom feeds and server-rendered pages over the archive."""

from monitor.web.app import create_app

__all__ = ["create_app"]
