"""Agreement between the two labellings of same-event pairs on the second labeller's sample.

First labeller: events.json (two items are the same event when one event lists both). Second labeller:
second_labeller.jsonl, on the pairs of label_sample.jsonl. Pure Python, no network, no corpus needed.
Figures: pairs, the confusion counts, raw agreement and Cohen's kappa, overall and per stratum, the
first labeller's pairs the sample holds, and every disagreement with the second labeller's reason.

The figures block of AGREEMENT.md (between the two `figures` markers) is this script's output:

    .venv/bin/python tests/data/real_stories/agreement.py            # print the block
    .venv/bin/python tests/data/real_stories/agreement.py --check    # exit 1 if AGREEMENT.md differs
    .venv/bin/python tests/data/real_stories/agreement.py --write    # rewrite the block in AGREEMENT.md
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVENTS = HERE / "events.json"
SAMPLE = HERE / "label_sample.jsonl"
SECOND = HERE / "second_labeller.jsonl"
DOC = HERE / "AGREEMENT.md"
BEGIN = "<!-- figures: agreement.py, do not edit by hand -->"
END = "<!-- /figures -->"
STRATA = ("near", "band", "random")


@dataclass(frozen=True)
class Judged:
    n: int
    stratum: str
    a_id: int
    b_id: int
    a_title: str
    b_title: str
    first: bool
    second: bool
    note: str


@dataclass(frozen=True)
class Confusion:
    both_yes: int
    first_only: int  # first labeller: same event; second: different
    second_only: int
    both_no: int

    @property
    def pairs(self) -> int:
        return self.both_yes + self.first_only + self.second_only + self.both_no

    @property
    def agreement(self) -> float:
        return (self.both_yes + self.both_no) / self.pairs

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa; None (undefined) when chance agreement is 1, both labellings constant and equal."""
        n = self.pairs
        first_yes, second_yes = self.both_yes + self.first_only, self.both_yes + self.second_only
        expected = (first_yes * second_yes + (n - first_yes) * (n - second_yes)) / (n * n)
        if expected == 1.0:
            return None
        return (self.agreement - expected) / (1.0 - expected)


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def first_pairs() -> set[frozenset[str]]:
    events = json.loads(EVENTS.read_text(encoding="utf-8"))["events"]
    return {frozenset(pair) for keys in events.values() for pair in itertools.combinations(keys, 2)}


def judged() -> list[Judged]:
    sample = {int(str(row["n"])): row for row in _read_jsonl(SAMPLE)}
    first = first_pairs()
    rows = []
    for label in _read_jsonl(SECOND):
        pair = sample[int(str(label["n"]))]
        if (pair["a"], pair["b"]) != (label["a"], label["b"]):
            raise ValueError(f"second_labeller.jsonl pair {label['n']} is not the sample's pair")
        rows.append(
            Judged(
                n=int(str(pair["n"])),
                stratum=str(pair["stratum"]),
                a_id=int(str(pair["a_id"])),
                b_id=int(str(pair["b_id"])),
                a_title=str(pair["a_title"]),
                b_title=str(pair["b_title"]),
                first=frozenset((str(pair["a"]), str(pair["b"]))) in first,
                second=bool(label["same"]),
                note=str(label["note"]),
            )
        )
    if len(rows) != len(sample):
        raise ValueError(f"{len(rows)} labels for {len(sample)} sampled pairs")
    return rows


def confusion(rows: list[Judged]) -> Confusion:
    return Confusion(
        both_yes=sum(r.first and r.second for r in rows),
        first_only=sum(r.first and not r.second for r in rows),
        second_only=sum(r.second and not r.first for r in rows),
        both_no=sum(not r.first and not r.second for r in rows),
    )


def _row(name: str, c: Confusion) -> str:
    kappa = "undefined" if c.kappa is None else f"{c.kappa:.3f}"
    return (
        f"| {name} | {c.pairs} | {c.both_yes} | {c.first_only} | {c.second_only} | {c.both_no} "
        f"| {c.agreement:.3f} | {kappa} |"
    )


def _short(title: str) -> str:
    return title if len(title) <= 60 else title[:57].rstrip() + "..."


def report() -> str:
    rows = judged()
    digest = hashlib.sha256(EVENTS.read_bytes()).hexdigest()[:12]
    first_total = len(first_pairs())
    in_sample = sum(r.first for r in rows)
    lines = [
        f"Against events.json sha256 {digest}: {first_total} same-event pairs, {in_sample} of them in the sample.",
        "",
        "| pairs | n | both same | first only | second only | both different | agreement | kappa |",
        "|---|---|---|---|---|---|---|---|",
        _row("all", confusion(rows)),
    ]
    lines += [_row(s, confusion([r for r in rows if r.stratum == s])) for s in STRATA]
    lines += ["", "Disagreements (first / second; the second labeller's reason):", ""]
    differ = [r for r in rows if r.first != r.second]
    for r in differ:
        verdict = f"{'same' if r.first else 'different'} / {'same' if r.second else 'different'}"
        lines.append(
            f"- #{r.n} ({r.stratum}) items {r.a_id} and {r.b_id}, {verdict}: "
            f"“{_short(r.a_title)}” vs “{_short(r.b_title)}”: {r.note or 'no note'}"
        )
    if not differ:
        lines.append("- none")
    return "\n".join(lines) + "\n"


def _with_block(doc: str, block: str) -> str:
    head, sep, rest = doc.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"{DOC.name} has no figures block ({BEGIN} ... {END})")
    return f"{head}{BEGIN}\n{block}{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="exit 1 if AGREEMENT.md's figures differ")
    group.add_argument("--write", action="store_true", help="rewrite the figures block of AGREEMENT.md")
    args = parser.parse_args()
    block = report()
    doc = DOC.read_text(encoding="utf-8")
    if args.check:
        same = _with_block(doc, block) == doc
        print("AGREEMENT.md figures match" if same else "AGREEMENT.md figures differ: run with --write")
        return 0 if same else 1
    if args.write:
        DOC.write_text(_with_block(doc, block), encoding="utf-8")
    print(block, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
