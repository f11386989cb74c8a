"""kill -9 at random moments: every run directory resumes to the unbroken run's weights, bit for
bit, or is refused in one line. Checkpoints every 4 steps and a metrics row every step make
most kills land between file writes."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file
from tests.bad_inputs import environment, run_cli

pytestmark = pytest.mark.slow

ARGS = ["train", "add", "--digits", "2", "--layers", "1", "--heads", "2", "--d-model", "16",
        "--steps", "120", "--batch-size", "32", "--no-progress",
        "--train-opt", "checkpoint_every=4", "--train-opt", "log_every=1"]  # fmt: skip
KILLS = 20


def algolens(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(list(args))


def rows(out: Path) -> int:
    try:
        return (out / "metrics.jsonl").read_bytes().count(b"\n")
    except OSError:
        return 0


def kill_at(out: Path, at_row: int, extra: float) -> None:
    """Start a training into ``out`` and kill -9 it once ``at_row`` metrics rows are on disk,
    plus ``extra`` seconds (or when it ends by itself)."""
    proc = subprocess.Popen([sys.executable, "-m", "algolens", *ARGS, "--out", str(out)],
                            env=environment(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    while proc.poll() is None and rows(out) < at_row:
        time.sleep(0.002)
    time.sleep(extra)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def finish(out: Path) -> str:
    """Resume until done; a directory without progress starts again with a plain train.
    Returns 'same', or the one-line refusal."""
    for _ in range(3):
        has_weights = (out / "model.safetensors").exists()
        if (out / "checkpoint.pt").exists():
            done = algolens("train", "--resume", "--out", str(out), "--no-progress")
        elif has_weights:
            return "same"
        else:
            done = algolens(*ARGS, "--out", str(out))
        if done.returncode == 2:
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
            return lines[0]
        assert done.returncode == 0, done.stderr
    return "same"


def test_random_kills_resume_bit_identically_or_are_refused(tmp_path: Path) -> None:
    unbroken = tmp_path / "unbroken"
    assert algolens(*ARGS, "--out", str(unbroken)).returncode == 0
    reference = load_file(unbroken / "model.safetensors")
    rng = random.Random(0)
    outcomes = []
    for k in range(KILLS):
        out = tmp_path / f"killed_{k}"
        kill_at(out, at_row=rng.randrange(0, 120), extra=rng.random() * 0.03)
        outcome = finish(out)
        if outcome == "same":
            weights = load_file(out / "model.safetensors")
            same = all(bool((weights[n] == reference[n]).all()) for n in reference)
            outcome = "same" if same else "DIFFERENT weights"
            rows_after = [line for line in (out / "metrics.jsonl").read_text().splitlines()]
            steps = [int(line.split('"step": ')[1].split(",")[0]) for line in rows_after]
            assert steps == sorted(set(steps)), f"kill {k}: duplicate or unordered metrics rows"
        outcomes.append(outcome)
    assert "DIFFERENT weights" not in outcomes, outcomes
    assert outcomes == ["same"] * KILLS, outcomes


@pytest.mark.parametrize("signals", [["SIGTERM"], ["SIGINT", "SIGINT"], ["SIGTERM", "SIGINT"]])
def test_sigterm_and_a_second_ctrl_c_leave_a_run_that_resumes_identically(
    tmp_path: Path, signals: list[str]
) -> None:
    unbroken = tmp_path / "unbroken"
    assert algolens(*ARGS, "--out", str(unbroken)).returncode == 0
    out = tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "-m", "algolens", *ARGS, "--out", str(out)],
                            env=environment(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    while proc.poll() is None and rows(out) < 30:
        time.sleep(0.002)
    for name in signals:
        proc.send_signal(getattr(signal, name))
        time.sleep(0.001)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert (out / "checkpoint.pt").exists(), "the signal did not save a checkpoint"
    assert finish(out) == "same"
    weights, reference = (
        load_file(out / "model.safetensors"),
        load_file(unbroken / "model.safetensors"),
    )
    assert all(bool((weights[n] == reference[n]).all()) for n in reference)


def test_a_killed_writers_leftovers_do_not_block_the_run(tmp_path: Path) -> None:
    """A lock whose process is gone, an empty lock from a kill between creating and filling
    it, and a torn temporary file: the next writer takes over and cleans up."""
    import os

    out = tmp_path / "r"
    kill_at(out, at_row=10, extra=0.0)
    (out / "train.lock").write_text("")
    old = time.time() - 60
    os.utime(out / "train.lock", (old, old))
    (out / ".checkpoint.pt.abc.tmp").write_bytes(b"")
    assert finish(out) == "same"
    assert not list(out.glob(".*.tmp")) and not (out / "train.lock").exists()
