"""``benchmarks/time_to_accuracy.py`` over seeds: a too-short recipe is reported as not verified
(the benchmark's verdict can fail), with one row per seed, the spread, and the papers' ratio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each runs the benchmark script: about 7-10 s

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "time_to_accuracy.py"


def test_seed_spread_reports_an_untrained_recipe_as_unverified(tmp_path: Path) -> None:
    args = ["--steps", "5", "--questions", "512", "--seeds", "0,1", "--paper-steps", "1"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--out", str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    seeds = [r for r in rows if r["benchmark"] == "time_to_accuracy"]
    assert [r["seed"] for r in seeds] == [0, 1] and not any(r["verified"] for r in seeds)
    (spread,) = [r for r in rows if r["benchmark"] == "time_to_accuracy_seeds"]
    assert spread["verified"] == "0 of 2"
    assert spread["failures_per_million_min_median_max"][0] > 100_000
    (ratio,) = [r for r in rows if r["benchmark"] == "time_to_accuracy_ratio"]
    assert ratio["paper_over_ours_median"] > 0
    assert len({p.name for p in tmp_path.iterdir()}) == 2  # one run per seed


def test_zoo_mode_times_both_recipes_in_one_run() -> None:
    """``--zoo add_d10_l2``: no training; both step times measured in this run, the papers' step
    (d_model 510) slower than ours (d_model 96), and the ratio their product."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--zoo", "add_d10_l2", "--paper-steps", "2"],
        capture_output=True, text=True, check=True, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["n_digits"] == 10 and row["paper_steps"] == 40_000 and row["ours_steps"] == 12_000
    assert row["paper_step_seconds"] > row["ours_step_seconds"] > 0
    ratio = row["paper_train_seconds_estimated"] / row["ours_train_seconds_estimated"]
    assert abs(row["paper_over_ours"] - ratio) < 0.02 * ratio
