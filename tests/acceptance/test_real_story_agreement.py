"""The second labeller's sample and agreement figures (tests/data/real_stories): the committed figures are
what the script computes from the committed labels, the sample is what its script draws, and kappa is
Cohen's."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.fixtures import real_feeds

LABELS = Path(__file__).resolve().parents[1] / "data" / "real_stories"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"real_stories_{name}", LABELS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while the class is built
    spec.loader.exec_module(module)
    return module


agreement = _load("agreement")


def test_committed_figures_match_the_labels() -> None:
    done = subprocess.run(
        [sys.executable, str(LABELS / "agreement.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "AGREEMENT.md figures match"


def test_the_check_fails_when_a_label_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [json.loads(line) for line in agreement.SECOND.read_text(encoding="utf-8").splitlines()]
    rows[0]["same"] = not rows[0]["same"]
    flipped = tmp_path / "second_labeller.jsonl"
    flipped.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    monkeypatch.setattr(agreement, "SECOND", flipped)
    monkeypatch.setattr(sys, "argv", ["agreement.py", "--check"])
    assert agreement.main() == 1


def test_every_sampled_pair_is_labelled_once_by_each_labeller() -> None:
    judged = agreement.judged()
    sample = [json.loads(line) for line in agreement.SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert [j.n for j in judged] == [row["n"] for row in sample] == list(range(1, len(sample) + 1))
    assert len({frozenset((row["a"], row["b"])) for row in sample}) == len(sample)
    assert {row["stratum"] for row in sample} == set(agreement.STRATA)


def test_kappa_is_cohens() -> None:
    # po = 0.7, pe = (25*30 + 25*20) / 50**2 = 0.5, kappa = 0.4
    c = agreement.Confusion(both_yes=20, first_only=5, second_only=10, both_no=15)
    assert c.pairs == 50
    assert c.agreement == pytest.approx(0.7)
    assert c.kappa == pytest.approx(0.4)
    assert agreement.Confusion(both_yes=3, first_only=0, second_only=0, both_no=7).kappa == pytest.approx(1.0)
    assert agreement.Confusion(both_yes=0, first_only=0, second_only=0, both_no=9).kappa is None


@pytest.mark.skipif(not real_feeds.available(), reason="../shared/corpora/real-feeds is absent")
def test_the_sample_is_what_its_script_draws() -> None:
    keys = {item.key for item in real_feeds.week_items()}
    sample = [json.loads(line) for line in agreement.SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert all(row["a"] in keys and row["b"] in keys for row in sample)
    done = subprocess.run(
        [sys.executable, str(LABELS / "label_sample.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
