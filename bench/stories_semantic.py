"""Does a semantic signal (wordllama's static embeddings, mean-pooled over title and opening) separate
same-event from different-event pairs better than the lexical score? Development days only (13-16 Feb;
never the held-out days).

Pairs: every labelled same-event pair of the dev part, and every cross-outlet different-event pair within
48 hours. For each signal: how many different-event pairs score at or above each same-event pair (ROC
style) and the AUC; then the grouping's pair precision/recall (the project's StoryIndex, scores combined
with the cosine of the article's embedding to the mean of the story members' embeddings) for a grid of
combinations. Also the cost per article and the model's memory.

    .venv/bin/pip install wordllama==0.4.0.post1
    .venv/bin/python bench/stories_semantic.py [--opening WORDS]

Found (3 Dec 2026, dev part: 15 same-event pairs, 3,543 cross-outlet different-event pairs within 48 h):
the cosine alone ranks pairs better than the lexical score (different-event pairs at or above the six
missed pairs the window can reach: 38/18/16/16/16/8 lexically, 2/2/1/22/16/32 by cosine of the title and
40 words), but no combination helps: every missed cross-outlet pair has a different-event pair at least as high on both
lexical score and cosine x time (FP's and The Week's Bezos/Washington Post pieces, lexical 0.372, cosine
0.559, dominate all four), so any rule rising with both that groups it groups that one too. In the index,
lexical + w x cosine and cosine gates (grid below) group at most 8 pairs with no false one (baseline 8);
the best with more is 9 or 10 pairs at 2 to 6 false. No dev missed pair shares a figure. Cost: 0.12-0.17
ms an article to embed; the model adds about 80 MB RSS a process (load 0.3 s); int8 costs 256 B an
article with cosines within 0.001 of float. WordLlama.load() of 0.4.0.post1 is not offline as it stands:
it looks for the bundled tokenizer in wordllama/tokenizer/ (the wheel has wordllama/tokenizers/) and
would download it; cache_dir=<package dir> finds both files.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import monitor.core.stories as stories_mod  # noqa: E402
from bench.stories import pair_counts, pair_figures, split  # noqa: E402
from monitor.core.stories import StoryIndex, same_event_score  # noqa: E402
from monitor.core.story_features import _BOILERPLATE, StoryDoc, StoryFeatures, features  # noqa: E402
from tests.fixtures.real_feeds import labels, week_items  # noqa: E402

WINDOW = timedelta(hours=48)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def text_of(doc: StoryDoc, opening: int) -> str:
    body = _BOILERPLATE.sub(" ", doc.body).split()
    return doc.title + ". " + " ".join(body[:opening]) if opening else doc.title


def embed_all(model: Any, docs: Sequence[StoryDoc], opening: int) -> dict[int, np.ndarray]:
    vecs = model.embed([text_of(d, opening) for d in docs], norm=True)
    return {d.article_id: v for d, v in zip(docs, vecs, strict=True)}


def quantise(v: np.ndarray) -> np.ndarray:
    """int8, scaled by the largest component (as it would be stored), back to a unit float vector."""
    scale = float(np.abs(v).max()) or 1.0
    q = np.round(v / scale * 127.0).astype(np.int8).astype(np.float32)
    return q / (float(np.linalg.norm(q)) or 1.0)


def separation(name: str, same: list[tuple[float, str]], diff: list[float]) -> None:
    """For each same-event pair: how many different-event pairs score at or above it; AUC."""
    diff_sorted = sorted(diff)
    above = [sum(1 for d in diff_sorted if d >= s) for s, _ in same]
    wins = sum(sum(1.0 if s > d else 0.5 if s == d else 0.0 for d in diff) for s, _ in same)
    auc = wins / (len(same) * len(diff))
    print(f"{name:28} AUC {auc:.3f}; different-event pairs at or above each same-event pair: {sorted(above)}")


def run_cluster(
    docs: Sequence[StoryDoc],
    feats: dict[int, StoryFeatures],
    combine: Callable[[float, float, float], float] | None,
    emb: dict[int, np.ndarray],
    threshold: float,
) -> dict[int, int]:
    """The StoryIndex with `_score` wrapped: combine(lexical score, cosine to story centroid, time factor)."""
    original = stories_mod._score
    current: list[int] = [0]

    def wrapped(q: Any, story: Any, closest: Any) -> float:
        lexical = original(q, story, closest)
        if combine is None:
            return lexical
        members = [a for _, a in story.by_time]
        centroid = np.mean([emb[a] for a in members], axis=0)
        cos = float(emb[current[0]] @ centroid / (np.linalg.norm(centroid) or 1.0))
        factor = stories_mod.time_factor(q.published, closest)
        if q.source in story.outlets or (story.single is not None and story.single.source == q.source):
            return lexical
        return combine(lexical, cos, factor)

    stories_mod._score = wrapped  # type: ignore[assignment]
    try:
        index = StoryIndex(threshold)
        story: dict[int, int] = {}
        for doc in docs:
            current[0] = doc.article_id
            found = index.assign(feats[doc.article_id])
            story[doc.article_id] = found.story_id if found.story_id is not None else doc.article_id
            index.add(feats[doc.article_id], story[doc.article_id])
    finally:
        stories_mod._score = original
    return story


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opening", type=int, default=40, help="body words after the title to embed")
    args = parser.parse_args()

    rss0 = rss_mb()
    t0 = time.perf_counter()
    import wordllama
    from wordllama import WordLlama

    # 0.4.0.post1 looks for its bundled tokenizer in wordllama/tokenizer/ (it ships wordllama/tokenizers/)
    # and would download it from Hugging Face; the package directory as cache_dir finds both files.
    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    print(
        f"model: load {time.perf_counter() - t0:.2f} s, max RSS {rss0:.0f} -> {rss_mb():.0f} MB "
        f"(embedding matrix {model.embedding.nbytes / 1e6:.1f} MB float32)"
    )

    items = split(week_items())["dev"]
    label = labels()
    docs = [it.doc for it in items]
    by_id = {d.article_id: d for d in docs}
    event = {it.doc.article_id: label.get(it.key, it.key) for it in items}
    feats = {d.article_id: features(d) for d in docs}

    # Cost per article: the embedding of title + opening, one text at a time as a parse worker would.
    texts = [text_of(d, args.opening) for d in docs]
    model.embed(texts[:5], norm=True)
    reps = 20
    c0 = time.process_time()
    for _ in range(reps):
        for t in texts:
            model.embed(t, norm=True)
    per = (time.process_time() - c0) / (reps * len(texts))
    c0 = time.process_time()
    for _ in range(reps):
        for d in docs:
            features(d)
    per_feat = (time.process_time() - c0) / (reps * len(docs))
    print(f"cost: embed {per * 1e3:.3f} ms/article (features() itself: {per_feat * 1e3:.3f} ms/article)")

    pairs_same: list[tuple[int, int]] = []
    pairs_diff: list[tuple[int, int]] = []
    for a, b in itertools.combinations(sorted(event), 2):
        if event[a] == event[b]:
            pairs_same.append((a, b))
        elif by_id[a].source != by_id[b].source and abs(by_id[a].published - by_id[b].published) < WINDOW:
            pairs_diff.append((a, b))
    print(f"dev: {len(docs)} items, {len(pairs_same)} same-event pairs, {len(pairs_diff)} different-event")

    lex = {p: same_event_score(feats[p[0]], feats[p[1]]) for p in pairs_same + pairs_diff}
    tf = {p: stories_mod.time_factor(by_id[p[0]].published, by_id[p[1]].published) for p in lex}
    print("\n== separation (pair scores) ==")
    separation("lexical", [(lex[p], "") for p in pairs_same], [lex[p] for p in pairs_diff])
    for opening in sorted({0, 20, args.opening, 80, 200}):
        emb = embed_all(model, docs, opening)
        cos = {p: float(emb[p[0]] @ emb[p[1]]) for p in lex}
        separation(
            f"cosine, opening {opening}", [(cos[p], "") for p in pairs_same], [cos[p] for p in pairs_diff]
        )
        separation(
            f"cosine*time, opening {opening}",
            [(cos[p] * tf[p], "") for p in pairs_same],
            [cos[p] * tf[p] for p in pairs_diff],
        )
        for w in (0.3, 0.6):
            comb = {p: lex[p] + w * cos[p] * tf[p] for p in lex}
            separation(
                f"lex+{w}*cos*tf, open {opening}",
                [(comb[p], "") for p in pairs_same],
                [comb[p] for p in pairs_diff],
            )

    # Any combination that rises with both signals groups a pair only if it groups every pair at least as
    # high on both: count, for each same-event pair, the different-event pairs that dominate it so.
    print("\n== dominance: different-event pairs with lexical >= and cosine*time >= the same-event pair's ==")
    for opening in sorted({0, 20, args.opening, 80, 200}):
        emb = embed_all(model, docs, opening)
        cos = {p: float(emb[p[0]] @ emb[p[1]]) for p in lex}
        dom = []
        for p in sorted(pairs_same, key=lambda p: lex[p]):
            over = [d for d in pairs_diff if lex[d] >= lex[p] and cos[d] * tf[d] >= cos[p] * tf[p]]
            dom.append(len(over))
        raw = [
            sum(1 for d in pairs_diff if lex[d] >= lex[p] and cos[d] >= cos[p])
            for p in sorted(pairs_same, key=lambda p: lex[p])
        ]
        print(f"  opening {opening:3}: {dom} (same-event pairs by lexical score, ascending)")
        print(f"      cosine without time: {raw}")

    emb = embed_all(model, docs, args.opening)
    cos = {p: float(emb[p[0]] @ emb[p[1]]) for p in lex}
    print(f"\n== dominators of each same-event pair below the threshold (opening {args.opening}) ==")
    for p in sorted(pairs_same, key=lambda p: lex[p]):
        if lex[p] >= 0.4 or tf[p] == 0.0:
            continue
        over = sorted(
            (d for d in pairs_diff if lex[d] >= lex[p] and cos[d] * tf[d] >= cos[p] * tf[p]),
            key=lambda d: -cos[d] * tf[d],
        )
        a, b = by_id[p[0]], by_id[p[1]]
        print(
            f"  {a.source}: {a.title[:40]!r} / {b.source}: {b.title[:40]!r} (lex {lex[p]:.3f}, cos*tf {cos[p] * tf[p]:.3f}):"
        )
        for d in over[:4]:
            x, y = by_id[d[0]], by_id[d[1]]
            print(
                f"      lex {lex[d]:.3f} cos*tf {cos[d] * tf[d]:.3f}: {x.source}: {x.title[:40]!r} / {y.source}: {y.title[:40]!r}"
            )
        print(f"      ... {len(over)} in all")
    print(
        f"\n== same-event pairs (opening {args.opening}): lexical, cosine, int8 cosine; different-event pairs at or above each =="
    )
    diff_cos = sorted((cos[p], p) for p in pairs_diff)
    for p in sorted(pairs_same, key=lambda p: lex[p]):
        a, b = by_id[p[0]], by_id[p[1]]
        q = float(quantise(emb[p[0]]) @ quantise(emb[p[1]]))
        above = sum(1 for c, _ in diff_cos if c >= cos[p])
        above_lex = sum(1 for d in pairs_diff if lex[d] >= lex[p])
        outlet = " same outlet" if a.source == b.source else ""
        print(
            f"  lex {lex[p]:.3f} (above {above_lex:4}) cos {cos[p]:.3f} (above {above:3}) int8 {q:.3f} "
            f"tf {tf[p]:.2f}{outlet}: "
            f"{a.source}: {a.title[:50]!r} / {b.source}: {b.title[:50]!r}"
        )
    print("  closest different-event pairs by cosine:")
    for c, p in diff_cos[-8:][::-1]:
        a, b = by_id[p[0]], by_id[p[1]]
        print(
            f"  lex {lex[p]:.3f} cos {c:.3f} tf {tf[p]:.2f}: {a.source}: {a.title[:50]!r} / {b.source}: {b.title[:50]!r}"
        )

    print("\n== grouping (StoryIndex, dev part; cosine to story centroid, cross-outlet only) ==")
    base = run_cluster(docs, feats, None, emb, 0.4)
    tp = pair_counts(base, event)[0]
    print(f"  baseline: {pair_figures(base, event)}")
    results: list[tuple[float, str, tuple[int, int, int]]] = []
    combos: dict[str, Callable[[float, float, float], float]] = {}
    for w in (0.1, 0.2, 0.3, 0.4, 0.5):
        for floor in (0.0, 0.5, 0.6, 0.7):
            combos[f"lex + {w}*max(0,cos-{floor})/(1-{floor})*tf"] = lambda lx, c, f, w=w, floor=floor: (
                lx + w * max(0.0, c - floor) / (1.0 - floor) * f
            )
    for gate in (0.7, 0.75, 0.8, 0.85, 0.9):
        for lo in (0.15, 0.2, 0.25, 0.3):
            # cosine as a gate: a pair this alike needs only `lo` of lexical evidence (names overlap
            # through the lexical score being non-trivial)
            combos[f"gate cos>={gate} lex>={lo}"] = lambda lx, c, f, gate=gate, lo=lo: (
                max(lx, 0.6) if c >= gate and lx >= lo * f and f > 0 else lx
            )
    for name, fn_ in combos.items():
        for threshold in (0.4, 0.45, 0.5, 0.55):
            t = pair_counts(run_cluster(docs, feats, fn_, emb, threshold), event)
            results.append((threshold, name, t))
    ranked = sorted(results, key=lambda r: (r[2][1] > 0, -r[2][0], r[2][1]))
    best_tp = max(r[2][0] for r in results if r[2][1] == 0)
    print(f"  most pairs grouped with no false pair: {best_tp} (baseline {tp})")
    shown = [r for r in ranked if r[2][1] > 0][:12]
    for threshold, name, (tp_, fp_, fn2) in [r for r in ranked if r[2][1] == 0][:4] + shown:
        prec = tp_ / (tp_ + fp_) if tp_ + fp_ else 1.0
        print(
            f"  {name:40} thr {threshold:.2f}: tp {tp_} fp {fp_} missed {fn2}; P {prec:.3f} R {tp_ / (tp_ + fn2):.3f}"
        )


if __name__ == "__main__":
    main()
