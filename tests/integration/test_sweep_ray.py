"""``algolens sweep`` on a local Ray with 2 workers: two tiny configurations train and verify
into ordinary run directories and a results table and page; a rerun skips them; a sweep killed
mid-run resumes to the same weights as one that was never stopped; Ctrl-C saves checkpoints."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.bad_inputs import environment, run_cli
from tests.sweeps import LEGO_TRAIN, lego_spec, tiny_spec

from algolens.runs import load_run

pytestmark = pytest.mark.slow  # a local Ray takes tens of seconds to start here
pytest.importorskip("ray")


def _sweep(spec: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(["sweep", str(spec), "--out", str(out), "--workers", "2", "--no-progress"], 600)


def test_two_configurations_train_verify_and_write_results(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, [40, 60])
    done = _sweep(spec, tmp_path / "sweeps")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "sweeps" / "tiny"
    rows = list(csv.DictReader((folder / "results.csv").open()))
    assert [int(r["steps_done"]) for r in rows] == [40, 60]
    for row in rows:
        assert int(row["uniform_questions"]) == 300 and int(row["training_questions"]) == 300
        assert float(row["uniform_per_million_low"]) <= float(row["uniform_per_million"])
        assert int(row["suite_carry_questions"]) > 0
        run = load_run(folder / "runs" / row["run"])  # an ordinary run directory
        assert run.config.train.steps == int(row["steps"])
    assert len(json.loads((folder / "results.json").read_text())) == 2
    html = (folder / "sweep.html").read_text()
    assert html.count('class="plotly-graph-div"') == 2 and "2 of 2" in html
    again = _sweep(spec, tmp_path / "sweeps")
    assert again.returncode == 0 and "(2 already were)" in again.stdout


def test_lego_variants_on_ray_train_what_lego_train_does_on_one_thread(tmp_path: Path) -> None:
    """A Ray task trains on one thread: the sweep's parent run has the weights of
    ``algolens lego train`` on one thread, and not those of the random variant."""
    import torch
    from typer.testing import CliRunner

    from algolens.cli import app

    done = _sweep(lego_spec(tmp_path), tmp_path / "sweeps")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "sweeps" / "legotiny"
    rows = list(csv.DictReader((folder / "results.csv").open()))
    assert [r["variant"] for r in rows] == ["random", "parent"]
    swept = {r["variant"]: load_run(folder / "runs" / r["run"]) for r in rows}
    assert swept["parent"].config.provenance.threads == 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = CliRunner().invoke(app, [*LEGO_TRAIN, "--out", str(tmp_path / "direct")])
    finally:
        torch.set_num_threads(threads)
    assert res.exit_code == 0, res.output
    want = load_run(tmp_path / "direct").model.state_dict()
    for variant, same in (("parent", True), ("random", False)):
        got = swept[variant].model.state_dict()
        equal = want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
        assert equal is same, variant


def _start(spec: Path, out: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "algolens", "sweep", str(spec), "--out", str(out),
            "--workers", "2", "--no-progress"]  # fmt: skip
    return subprocess.Popen(argv, env=environment(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip


def _wait_for_steps(folder: Path, step: int, timeout: float = 300) -> None:
    """Until every run of the sweep has logged ``step``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        logs = list(folder.glob("runs/*/metrics.jsonl"))
        lasts = [log.read_text().splitlines()[-1:] for log in logs]
        if len(logs) == 2 and all(last and json.loads(last[0])["step"] >= step for last in lasts):
            return
        time.sleep(0.5)
    raise AssertionError(f"the sweep's runs never reached step {step}")


def _weights(folder: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in folder.glob("runs/*/model.safetensors")}


def test_a_killed_sweep_resumes_to_the_weights_of_an_unbroken_one(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, [400, 401])
    assert _sweep(spec, tmp_path / "whole").returncode == 0
    proc = _start(spec, tmp_path / "killed")
    _wait_for_steps(tmp_path / "killed" / "tiny", 50)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and whatever shares its session
    proc.wait()
    rows = list((tmp_path / "killed" / "tiny" / "runs").glob("*/checkpoint.pt"))
    assert rows, "the killed runs kept no checkpoint"
    resumed = _sweep(spec, tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr
    whole, killed = _weights(tmp_path / "whole" / "tiny"), _weights(tmp_path / "killed" / "tiny")
    assert len(whole) == 2 and whole == killed


def test_ctrl_c_stops_every_run_with_its_checkpoint_saved(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, [5000, 5001])
    proc = _start(spec, tmp_path / "sweeps")
    folder = tmp_path / "sweeps" / "tiny"
    _wait_for_steps(folder, 30)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130 and "continue with: algolens sweep" in err
    for run in folder.glob("runs/*"):
        import torch

        state = torch.load(run / "checkpoint.pt", weights_only=False)
        assert 30 <= state["step"] < 5000 and not (run / "train.lock").exists()
