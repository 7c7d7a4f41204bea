"""What the watch step needs of a fetched article, worked out beside feed parsing in the parse workers.

Pure functions of the drafts, so they run in any pool: the story features of each draft (its article id
left 0 until the store assigns one) and the watches it matches as a new article. The write transaction
then only looks up story candidates and applies.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from monitor.core.feeds import Parser, parse_feed_drafts
from monitor.core.match import MatchDoc, Matcher, WatchHit, WatchSpec, compile_watches
from monitor.core.story_features import StoryDoc, StoryFeatures, features
from monitor.models import ArticleDraft, ParsedFeed, crosses_processes, version_body


@dataclass(frozen=True, slots=True)
class WatchContext:
    """What a parse worker needs to know of the source and the watches."""

    source: str
    source_tags: tuple[str, ...]
    watches: tuple[WatchSpec, ...]

    def __reduce__(self) -> tuple[Callable[..., WatchContext], tuple[object, ...]]:
        """Pickled for a parse worker (every call): the watches go as one bytes object and its digest, the
        bytes pickled once per set of watches (a config reload makes a new set), and each worker unpickles
        a set once; not a hundred dataclasses pickled and unpickled per feed."""
        digest, blob = _shipped(self.watches)
        return _received_context, (self.source, self.source_tags, digest, blob)


# The last watches pickled in this process, by identity (service.watch_specs is one tuple per config).
_sent: tuple[tuple[WatchSpec, ...], bytes, bytes] | None = None
# The watches a parse worker has unpickled, by digest: the current set and a few before a reload.
_received: dict[bytes, tuple[WatchSpec, ...]] = {}
_RECEIVED_SETS = 4


def _shipped(watches: tuple[WatchSpec, ...]) -> tuple[bytes, bytes]:
    """The digest and pickle of a set of watches, worked out once per set."""
    global _sent
    sent = _sent
    if sent is None or sent[0] is not watches:
        blob = pickle.dumps(watches, pickle.HIGHEST_PROTOCOL)
        sent = _sent = (watches, hashlib.blake2b(blob, digest_size=16).digest(), blob)
    return sent[1], sent[2]


def _received_context(source: str, source_tags: tuple[str, ...], digest: bytes, blob: bytes) -> WatchContext:
    """A WatchContext as `__reduce__` sent it, its watches unpickled once per set in this process."""
    watches = _received.get(digest)
    if watches is None:
        watches = pickle.loads(blob)
        if len(_received) >= _RECEIVED_SETS:
            _received.clear()
        _received[digest] = watches
    return WatchContext(source, source_tags, watches)


@crosses_processes
@dataclass(frozen=True, slots=True)
class DraftInsight:
    """A draft's story features (None when it is undated: the store's clock dates it), the watches it
    matches as a new article, and the features as stored (their JSON, article id 0: the writer puts the
    store's id in with `with_article_id`, so it encodes nothing)."""

    features: StoryFeatures | None
    hits: tuple[WatchHit, ...]
    encoded: str | None = None


_NO_ID = '{"a":0,'


def with_article_id(encoded: str | None, article_id: int) -> str | None:
    """A worker's features JSON (`StoryFeatures.to_json` of article 0) for the stored article id; None if
    it is not such a document (the writer then encodes the features itself)."""
    if encoded is None or not encoded.startswith(_NO_ID):
        return None
    return f'{{"a":{article_id},{encoded[len(_NO_ID) :]}'


@lru_cache(maxsize=4)
def _matcher(watches: tuple[WatchSpec, ...]) -> Matcher:
    return compile_watches(list(watches))


def draft_insights(drafts: Sequence[ArticleDraft], context: WatchContext) -> dict[str, DraftInsight]:
    """Each draft's insight, by draft key."""
    matcher = _matcher(context.watches)
    out: dict[str, DraftInsight] = {}
    for draft in drafts:
        body = version_body(draft.summary, draft.body)
        tags = tuple(dict.fromkeys([*draft.tags, *context.source_tags]))
        hits = matcher.match(MatchDoc(title=draft.title, body=body, source=context.source, tags=tags))
        feats = encoded = None
        if draft.published is not None:
            feats = features(StoryDoc(0, context.source, draft.title, body, draft.published))
            encoded = feats.to_json()
        out[draft.key] = DraftInsight(feats, tuple(hits), encoded)
    return out


def parse_feed_for_watches(
    body: bytes, headers: Mapping[str, str], base_url: str, context: WatchContext, parser: Parser = "hybrid"
) -> tuple[ParsedFeed, tuple[ArticleDraft, ...], dict[str, DraftInsight]]:
    """Parse a feed, build its drafts and their insights in one call (a parse worker's unit of work)."""
    feed, drafts = parse_feed_drafts(body, headers, base_url, parser)
    return feed, drafts, draft_insights(drafts, context)
