"""Storage: SQLAlchemy 2 over SQLite (default) or Postgres; the schema is made by Alembic only."""
