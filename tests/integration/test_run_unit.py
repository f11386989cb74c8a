"""A run's files as one unit, with real processes (issue #35, items 1 and 3; slow tier).

A ``train`` process is stopped by ``os._exit`` (no cleanup at all, as kill -9) just before
each write of a short run's life: the rename completing each atomic write, each metrics row,
the removal of the checkpoint. Whatever it leaves resumes (or, with nothing to resume, trains
again) to the unbroken run's weights and metrics: 20 trials, every write covered. And 200
rounds of 2-4 processes taking over one stale lock find exactly one holder each time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file
from tests.bad_inputs import environment, run_cli
from tests.unit.test_run_locks import contend

pytestmark = pytest.mark.slow

ARGS = ["train", "add", "--digits", "2", "--layers", "1", "--heads", "2", "--d-model", "16",
        "--steps", "6", "--batch-size", "16", "--no-progress", "--seed", "5",
        "--train-opt", "checkpoint_every=4", "--train-opt", "log_every=2"]  # fmt: skip
TRIALS = 20

# a train process whose writes are numbered; it exits at once before write KILL_AT
DRIVER = """
import os, sys
from pathlib import Path
from algolens import store
kill_at, count = int(os.environ["KILL_AT"]), [0]
def tick():
    count[0] += 1
    if count[0] == kill_at:
        os._exit(9)
real_replace, real_unlink, real_write = os.replace, Path.unlink, store.MetricsLog.write
def replace(src, dst, **kw):
    tick()
    real_replace(src, dst, **kw)
def unlink(self, missing_ok=False):
    if self.name == store.CHECKPOINT and self.exists():
        tick()
    real_unlink(self, missing_ok=missing_ok)
def write(self, row):
    tick()
    real_write(self, row)
os.replace, Path.unlink, store.MetricsLog.write = replace, unlink, write
import atexit
atexit.register(lambda: Path(os.environ["COUNT_TO"]).write_text(str(count[0])))
from algolens.cli import app
app(sys.argv[1:], prog_name="algolens")
"""


def train_killed(out: Path, kill_at: int, count_to: Path) -> int:
    env = {**environment(), "KILL_AT": str(kill_at), "COUNT_TO": str(count_to)}
    done = subprocess.run([sys.executable, "-c", DRIVER, *ARGS, "--out", str(out)], env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    return done.returncode


def finish(out: Path) -> str:
    """Resume; a folder with nothing to resume trains again. 'same' or the refusal."""
    resumed = run_cli(["train", "--resume", "--out", str(out), "--no-progress"])
    if resumed.returncode == 0:
        return "resumed"
    lines = resumed.stderr.strip().splitlines()
    assert resumed.returncode == 2 and len(lines) == 1, resumed.stderr
    if "training finished" in lines[0]:
        return "finished"
    again = run_cli([*ARGS, "--out", str(out)])
    assert again.returncode == 0, (lines[0], again.stderr)
    return "trained again"


def test_a_kill_before_each_write_of_a_run_leaves_it_resumable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # every process alike: bit-identical weights
    whole, count = tmp_path / "whole", tmp_path / "count"
    assert train_killed(whole, 0, count) == 0  # numbers the writes; never exits early
    writes = int(count.read_text())
    reference = load_file(whole / "model.safetensors")
    outcomes = []
    for trial in range(TRIALS):
        k = trial % writes + 1  # every write, then again from the first
        out = tmp_path / f"killed_{trial}"
        assert train_killed(out, k, count) == 9, f"write {k} of {writes} was never reached"
        outcome = finish(out)
        weights = load_file(out / "model.safetensors")
        same = all(bool((weights[n] == reference[n]).all()) for n in reference)
        same = (
            same and (out / "metrics.jsonl").read_bytes() == (whole / "metrics.jsonl").read_bytes()
        )
        outcomes.append(f"write {k}: {outcome}" + ("" if same else ", DIFFERENT"))
        assert not (out / "checkpoint.pt").exists() and not list(out.glob(".*.tmp"))
    assert 10 <= writes <= TRIALS, writes
    assert not [o for o in outcomes if "DIFFERENT" in o], outcomes


def test_one_holder_in_200_rounds_of_a_stale_lock_takeover(tmp_path: Path) -> None:
    holders = contend(tmp_path, rounds=200, seed=1)
    assert holders == [1] * 200, [(r, n) for r, n in enumerate(holders) if n != 1]
