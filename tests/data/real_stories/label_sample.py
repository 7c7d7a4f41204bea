"""Draw the second labeller's sample of item pairs from the real-feeds week, reproducibly.

The 238 items are those of tests/fixtures/real_feeds.py (ids 1.. oldest first). Three strata, 230 pairs:

  near     the 170 pairs most alike by a plain TF-IDF cosine of title (x3) and the first 700 characters of
           the text (capitalised words x2), among pairs published within two calendar days of each other:
           the pairs that could plausibly be one event
  band     30 pairs drawn at random (seed 9) from the next 1,330 of that ranking (ranks 171-1500)
  random   30 pairs drawn at random (seed 9) from all other pairs of the week, any dates

The sample depends only on the items, never on anyone's labels. Written to label_sample.jsonl next to this
file, one pair a line: n, stratum, rank (in the near ranking, or null), a, b (item keys, a older), ids and
titles. Run from the repository root:

    .venv/bin/python tests/data/real_stories/label_sample.py [--check]

--check compares with the committed file instead of writing it (exit 1 on a difference).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fixtures.real_feeds import RealItem, week_items  # noqa: E402

OUT = Path(__file__).with_name("label_sample.jsonl")
SEED = 9
NEAR, BAND_END, BAND, RANDOM = 170, 1500, 30, 30
WORD = re.compile(r"[^\W\d_]+|\d[\d,.]*\d|\d")
_STOPWORDS = (
    "the and for with that this from have has had was were are but not you your its it's their they them "
    "his her she him who whom which what when where why how will would can could should may might than "
    "then there here into onto over under after before about also just more most some such only other "
    "been being our out off per via said says say"
)
STOP = frozenset(_STOPWORDS.split())


def _terms(item: RealItem) -> dict[str, float]:
    out: dict[str, float] = {}
    for part, weight in ((item.doc.title, 3.0), (item.doc.body[:700], 1.0)):
        for match in WORD.finditer(part):
            token = match.group()
            low = token.lower().replace("’s", "").replace("'s", "")
            if len(low) < 3 or low in STOP:
                continue
            out[low] = out.get(low, 0.0) + weight * (2.0 if token[0].isupper() else 1.0)
    return out


def _vectors(items: tuple[RealItem, ...]) -> list[dict[str, float]]:
    counts = [_terms(item) for item in items]
    df: Counter[str] = Counter()
    for count in counts:
        df.update(count.keys())
    vectors = []
    for count in counts:
        raw = {t: c * math.log(len(items) / df[t]) for t, c in count.items()}
        norm = math.sqrt(sum(v * v for v in raw.values())) or 1.0
        vectors.append({t: v / norm for t, v in raw.items()})
    return vectors


def draw() -> list[dict[str, Any]]:
    items = week_items()
    vectors = _vectors(items)
    near: list[tuple[float, int, int]] = []
    for i, j in itertools.combinations(range(len(items)), 2):
        days = abs((items[i].doc.published.date() - items[j].doc.published.date()).days)
        if days > 2:
            continue
        small, large = sorted((vectors[i], vectors[j]), key=len)
        sim = sum(v * large.get(t, 0.0) for t, v in small.items())
        near.append((round(sim, 9), i, j))
    near.sort(key=lambda row: (-row[0], row[1], row[2]))
    rng = random.Random(SEED)
    chosen: list[tuple[str, int | None, int, int]] = [
        ("near", r + 1, i, j) for r, (_, i, j) in enumerate(near[:NEAR])
    ]
    band_ranks = sorted(rng.sample(range(NEAR, BAND_END), BAND))
    chosen += [("band", r + 1, near[r][1], near[r][2]) for r in band_ranks]
    taken = {(i, j) for _, _, i, j in chosen}
    rest = [p for p in itertools.combinations(range(len(items)), 2) if p not in taken]
    chosen += [("random", None, i, j) for i, j in sorted(rng.sample(rest, RANDOM))]
    rows = []
    for n, (stratum, rank, i, j) in enumerate(chosen, 1):
        a, b = items[i], items[j]
        rows.append(
            {
                "n": n,
                "stratum": stratum,
                "rank": rank,
                "a": a.key,
                "b": b.key,
                "a_id": a.doc.article_id,
                "b_id": b.doc.article_id,
                "a_title": a.doc.title,
                "b_title": b.doc.title,
            }
        )
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed sample, write nothing"
    )
    args = parser.parse_args()
    text = render(draw())
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("sample matches" if same else f"sample differs from {OUT}")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} pairs to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
