"""The whole archive as rows for JSONL: every article with all its versions, streamed in batches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.store.store import Store
from monitor.store.tables import articles, sources, versions

__all__ = ["export_rows"]

_EXPORT_BATCH = 500


def export_rows(store: Store, since: datetime | None) -> Iterator[dict[str, Any]]:
    """Every article (with a version seen since ``since``, if given) with all its versions, by article id.

    Streams in batches of articles, so an archive of any size exports in bounded memory; datetimes are
    timezone-aware ``datetime`` objects (``monitor.cli.output.plain`` makes them ISO 8601).
    """
    last_id = 0
    with store.read() as conn:
        while True:
            query = (
                sa.select(
                    articles.c.id,
                    sources.c.name.label("source"),
                    articles.c.key,
                    articles.c.url,
                    articles.c.title,
                    articles.c.published,
                    articles.c.first_seen,
                    articles.c.last_seen,
                    articles.c.removed_at,
                    articles.c.story_id,
                    articles.c.version_count,
                )
                .join(sources, sources.c.id == articles.c.source_id)
                .where(articles.c.id > last_id)
                .order_by(articles.c.id)
                .limit(_EXPORT_BATCH)
            )
            if since is not None:
                query = query.where(
                    articles.c.id.in_(sa.select(versions.c.article_id).where(versions.c.seen_at >= since))
                )
            batch = [dict(r._mapping) for r in conn.execute(query)]
            if not batch:
                return
            last_id = batch[-1]["id"]
            found: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in batch}
            version_query = (
                sa.select(
                    versions.c.article_id,
                    versions.c.id,
                    versions.c.n,
                    versions.c.title,
                    versions.c.summary,
                    versions.c.body,
                    versions.c.author,
                    versions.c.published,
                    versions.c.updated,
                    versions.c.tags,
                    versions.c.content_hash,
                    versions.c.seen_at,
                    versions.c.reverts_to,
                )
                .where(versions.c.article_id.in_(list(found)))
                .order_by(versions.c.article_id, versions.c.n)
            )
            for r in conn.execute(version_query):
                row = dict(r._mapping)
                found[row.pop("article_id")].append(row)
            for row in batch:
                row["versions"] = found[row["id"]]
                yield row
