"""Sharded exhaustive verification on a local Ray equals the unsharded run exactly, and a
rerun skips the shards it finished."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from tests.conftest import ADD_D2_STORED

from algolens import store
from algolens.runs import load
from algolens.verify import verify_exhaustive
from algolens.verify.shards import merge, shard_ranges, verify_range


def _failing_copy(tmp: Path) -> Path:
    """The 2-digit model with its unembedding pushed towards '3': many failures to compare."""
    run = tmp / "broken"
    shutil.copytree(ADD_D2_STORED, run)
    model = load(run).model
    with torch.no_grad():
        model.unembed.b_U[3] += 8.0  # about 5% of the questions fail
    store.save_weights(model, run / store.WEIGHTS)
    return run


def _verdict(state: dict, source: bool = True) -> dict:
    """Everything but how many questions the bfloat16 screen handed back to float32 (each
    shard calibrates its own screen, so that count differs; the verdicts may not)."""
    out = {k: v for k, v in state.items() if k != "rechecked"}
    return out if source else {**out, "source": ""}


def test_shard_ranges_cover_the_space_once() -> None:
    assert shard_ranges(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert shard_ranges(2, 5) == [(0, 1), (1, 2)]


def test_merged_shards_equal_the_unsharded_result_without_ray(tmp_path: Path) -> None:
    run = load(_failing_copy(tmp_path))
    whole = verify_exhaustive(run.model, run.task, examples=7)
    assert 0 < whole.failures < whole.questions
    parts = [
        verify_range(run.model, run.task, start=a, stop=b, batch_size=256, examples=7)
        for a, b in shard_ranges(10_000, 4)
    ]
    merged = merge(parts, source=whole.source, examples=7)
    assert _verdict(merged.state()) == _verdict(whole.state())
    assert merged.precision == whole.precision


@pytest.mark.slow  # a local Ray instance takes tens of seconds to start here
def test_sharded_verification_on_ray_equals_unsharded_and_resumes(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from algolens.verify.shards import verify_sharded

    path = _failing_copy(tmp_path)
    run = load(path)
    whole = verify_exhaustive(run.model, run.task, examples=7)
    state = tmp_path / "shards"
    try:
        sharded = verify_sharded(
            str(path), load=load, shards=3, state_dir=state, workers=2, examples=7
        )
        assert _verdict(sharded.state(), source=False) == _verdict(whole.state(), source=False)
        assert len(list(state.glob("shard_*.json"))) == 3
        (state / "shard_0001.json").unlink()  # as if that shard had been interrupted
        again = verify_sharded(
            str(path), load=load, shards=3, state_dir=state, workers=2, examples=7
        )
        assert _verdict(again.state()) == _verdict(sharded.state())
    finally:
        ray.shutdown()
