"""Storage: SQLAlchemy 2 over SQLite (default) or Postgres; the schema is made by Alembic only.

Owns all SQL: the table handles (tables.py), engines, transactions and migrations (db.py), the Store that
the edges hold (store.py), one module per table family (sources.py polling state and source health;
articles.py articles and versions; tracking.py page re-checks; stories.py story membership; alerts.py the
outbox; leases.py leases and fleet state; search.py and search_index.py full text; export.py; retention.py)
and the read models the CLI and the web share (archive.py, findings.py, listings.py).
May import monitor.core, monitor.models, monitor.errors and monitor.config (settings it is given); never
fetch, notify, service, web or the CLI. No module outside store/ imports sqlalchemy.
"""
