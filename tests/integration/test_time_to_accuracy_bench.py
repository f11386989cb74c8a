"""``benchmarks/time_to_accuracy.py`` over seeds: a too-short recipe is reported as not verified
(the benchmark's verdict can fail), with one row per seed, the spread, and the papers' ratio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
