"""Assemble the labelled same-story set from its parts and the two seed reports; derive the pairs.

    .venv/bin/python tests/data/stories/assemble.py

parts/*.jsonl hold the articles (one event per ``event_id``, grouped in topics); the seed reports (one
event from two outlets) are added from ../shared/seeds. Writes articles.jsonl (ids renumbered from 1 in
published order) and pairs.jsonl: every same-event pair, every pair of different events of one topic
(hard negatives) and a fixed random sample of pairs across topics (random negatives).
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.fixtures.seeds import mt_seed, other_seed  # noqa: E402

RANDOM_NEGATIVES = 400


def main() -> None:
    rows = []
    for part in sorted((HERE / "parts").glob("*.jsonl")):
        rows.extend(json.loads(line) for line in part.read_text(encoding="utf-8").splitlines() if line)
    event = "seed-nk-troops-russia-2024-10-18"
    for source, url, seed in (
        (
            "moscow-times",
            "https://www.themoscowtimes.com/2024/10/18/north-korea-sending-large-scale-troop-deployments-to-fight-in-ukraine-war-seoul-says-a86740",
            mt_seed(),
        ),
        ("kyiv-post", "https://www.kyivpost.com/post/40451", other_seed()),
    ):
        rows.append(
            {
                "source": source,
                "url": url,
                "title": seed.title,
                "body": seed.body,
                "published": seed.published.isoformat(),
                "event_id": event,
                "topic": "korea",
            }
        )
    rows.sort(key=lambda r: (datetime.fromisoformat(r["published"]), r["url"]))
    out = []
    for i, row in enumerate(rows, start=1):
        out.append(
            {
                "id": i,
                **{k: row[k] for k in ("source", "url", "title", "body", "published", "event_id", "topic")},
            }
        )
    (HERE / "articles.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), encoding="utf-8"
    )
    pairs = []
    negatives = []
    for a, b in itertools.combinations(out, 2):
        if a["event_id"] == b["event_id"]:
            pairs.append({"a": a["id"], "b": b["id"], "same": True, "kind": "same_event"})
        elif a["topic"] == b["topic"]:
            pairs.append({"a": a["id"], "b": b["id"], "same": False, "kind": "hard_negative"})
        else:
            negatives.append({"a": a["id"], "b": b["id"], "same": False, "kind": "random_negative"})
    pairs.extend(sorted(random.Random(7).sample(negatives, RANDOM_NEGATIVES), key=lambda p: (p["a"], p["b"])))
    (HERE / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    kinds = {
        k: sum(p["kind"] == k for p in pairs) for k in ("same_event", "hard_negative", "random_negative")
    }
    outlets = len({r["source"] for r in out})
    events = len({r["event_id"] for r in out})
    print(f"{len(out)} articles, {events} events, {outlets} outlets; {len(pairs)} pairs {kinds}")


if __name__ == "__main__":
    main()
