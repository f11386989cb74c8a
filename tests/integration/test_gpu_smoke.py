"""``benchmarks/gpu_smoke.sh``: without CUDA it says so and exits 0; with DEVICE=cpu its train,
verify and analyse steps run and print their rates."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "gpu_smoke.sh"


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, check=False, env=env, timeout=900
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_says_so_and_exits_0() -> None:
    done = _run()
    assert done.returncode == 0 and "no CUDA device" in done.stdout


@pytest.mark.slow
def test_on_the_cpu_every_step_runs_and_prints_its_rate() -> None:
    done = _run(DEVICE="cpu", STEPS="20", QUESTIONS="3000")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "train: 20 steps" in out and "ms per step" in out
    assert "verify: 3,000 questions" in out and "q/s" in out
    assert "analyse: report in" in out and "ok on cpu" in out
