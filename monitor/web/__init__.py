"""The read-only web side: JSON API, Atom feeds and server-rendered pages over the archive.

factory.py builds the app (the only module that imports the route modules); api.py, feeds.py and
pages.py hold the routes; schemas.py the API's JSON shapes; reads.py shapes the store's read models
(monitor.store.findings, .alerts, .archive, .listings) for them; deps.py the app state and shared
parameters; auth.py the token guard; templating.py the Jinja environment; security.py the headers;
server.py serves the app with uvicorn (`monitor serve`, the daemon's http role).
No module here builds SQL or imports a CLI module: every query is a store function. May import
monitor.store, monitor.core, monitor.config, monitor.errors, monitor.encode, and the daemon's health and
metrics types; never the service, the outbox, notify, the runtime or the CLI.
"""

from monitor.web.factory import create_app, listening_at

__all__ = ["create_app", "listening_at"]
