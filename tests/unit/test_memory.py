"""Verification's workers keep freed memory: their forwards stop faulting pages in afresh."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from algolens import memory
from algolens.runs import load
from algolens.verify.answers import _pool

GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"

# ten float32 forwards of the zoo's 5-digit model on 1,024 questions, as a worker runs them,
# then the minor page faults of the last five (the first ones may fault in memory kept after)
FORWARDS = """
import json, resource, sys, torch
from algolens import load, memory
from algolens.verify.screen import readout_logits
from algolens.verify import random_batches
torch.set_num_threads(1)
if sys.argv[1] == "keep":
    assert memory.keep_freed_memory()
run = load("zoo:add_d5_l2")
model, task = run.model.eval(), run.task
stream = random_batches(task, questions=10 * 1024, distribution="training", seed=1, batch_size=1024)
batches = [b.inputs for b in stream]
with torch.inference_mode():
    for b in batches[:5]:
        readout_logits(model, task, b)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for b in batches[5:]:
        readout_logits(model, task, b)
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before))
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", FORWARDS, mode], capture_output=True, text=True,
                         check=True)  # fmt: skip
    return int(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.slow  # two fresh interpreters running forwards: about 11 s
@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_kept_memory_ends_the_page_faults_of_every_forward() -> None:
    plain, kept = _faults("plain"), _faults("keep")
    assert plain > 1_000  # the negative control: glibc's defaults fault in every forward's pages
    assert kept < plain / 10


def _kept() -> list[bool]:
    return list(memory._DONE)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_verification_workers_keep_freed_memory() -> None:
    run = load("zoo:add_d5_l1")
    pool = _pool(run.model, run.task, "float32", 1)
    try:
        assert pool.submit(_kept).result() == [True]
    finally:
        pool.shutdown()


def test_keep_freed_memory_is_set_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_DONE", [])
    first = memory.keep_freed_memory()
    assert first == GLIBC and memory.keep_freed_memory() == first and [first] == memory._DONE


def test_a_shard_task_keeps_freed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from algolens.verify import shards

    kept: list[bool] = []
    monkeypatch.setattr(shards, "keep_freed_memory", lambda: kept.append(True) or True)
    settings = shards.ShardSettings(batch_size=128, examples=3, precision="float32")
    res = shards._run_shard(load, "zoo:add_d5_l1", (0, 256), settings)
    assert kept == [True] and res.questions == 256
