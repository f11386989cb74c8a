"""Worker processes answer batches; the folded result is the one process's, exactly."""

from __future__ import annotations

import json
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest
from tests.oracles import ArithmeticOracle, StoppingOracle
from typer.testing import CliRunner

from algolens.cli import app
from algolens.errors import AlgolensError
from algolens.families import make_task
from algolens.runs import load
from algolens.verify import random_batches, verify, verify_batches, verify_exhaustive
from algolens.verify.answers import AUTO_MIN_BATCHES, auto_workers, check_workers


def _verdict(res: Any) -> dict[str, Any]:
    """Everything but the screen's re-check count (each worker calibrates its own screen)."""
    return {k: v for k, v in res.to_dict().items() if k != "rechecked"}


@pytest.fixture(scope="module")
def add_d5_l1() -> Any:
    return load("zoo:add_d5_l1")  # about 1% of its answers are wrong: the fold has work to do


@pytest.mark.parametrize("precision", ["auto", "float32"])
def test_two_workers_fold_to_the_one_process_result(add_d5_l1: Any, precision: str) -> None:
    model, task = add_d5_l1.model, add_d5_l1.task
    for dist in ("uniform", "training"):
        one, two = (
            verify(model, task, questions=20_480, distribution=dist, seed=3, batch_size=256,
                   examples=8, precision=precision, workers=workers)
            for workers in (1, 2)
        )  # fmt: skip
        assert one.failures > 50 and len(one.examples) == 8 and one.prefix
        assert _verdict(two) == _verdict(one)


def test_the_comparison_sees_batches_folded_out_of_order(add_d5_l1: Any) -> None:
    """The control: folding the same batches in another order gives another result (its
    examples and prefix), so the equality above checks the order too."""
    model, task = add_d5_l1.model, add_d5_l1.task
    batches = list(
        random_batches(task, questions=8192, distribution="uniform", seed=3, batch_size=256)
    )
    ordered = verify_batches(model, task, batches, source="q", examples=8, workers=2)
    backwards = verify_batches(model, task, batches[::-1], source="q", examples=8, workers=2)
    assert ordered.failures == backwards.failures
    assert ordered.examples != backwards.examples


def test_exhaustive_with_workers_resumes_and_equals_one_process(tmp_path) -> None:
    task = make_task("add", n_digits=2)
    model = ArithmeticOracle(task, digit=1)
    state = tmp_path / "state.json"
    part = verify_exhaustive(
        model, task, state_path=state, batch_size=100, stop_after=30, workers=2
    )
    assert not part.complete and part.questions == 3000 and state.exists()
    whole = verify_exhaustive(model, task, state_path=state, batch_size=100, workers=2)
    fresh = verify_exhaustive(model, task, state_path=None, batch_size=100, workers=1)
    assert whole.complete and fresh.failures > 0 and not state.exists()
    assert whole.to_dict() == {**fresh.to_dict(), "source": whole.source}


def test_auto_uses_one_process_for_small_checks_and_rejects_zero() -> None:
    task = make_task("add", n_digits=2)
    model = ArithmeticOracle(task)
    assert auto_workers(model, AUTO_MIN_BATCHES - 1) == 1
    assert auto_workers(model, AUTO_MIN_BATCHES) >= 1
    with pytest.raises(AlgolensError, match="at least 1"):
        check_workers(model, 0)
    with pytest.raises(AlgolensError, match="at least 1"):
        verify(model, task, questions=1000, distribution="uniform", workers=0)


def test_cli_workers(add_d5_l1: Any) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["verify", "zoo:add_d5_l1", "-n", "100", "--workers", "0"])
    assert bad.exit_code == 2 and "--workers must be 1 to 512, got 0" in bad.output
    outs = []
    for k in ("1", "2"):
        args = ["verify", "zoo:add_d5_l1", "-n", "16384", "--workers", k, "--json",
                "--no-progress", "--distribution", "uniform"]  # fmt: skip
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        outs.append(json.loads(res.output)["uniform"])
    for out in outs:
        out.pop("rechecked", None)
    assert outs[0] == outs[1] and outs[0]["failures"] > 0


def test_ctrl_c_in_a_worker_saves_the_batches_folded_and_a_rerun_finishes(tmp_path) -> None:
    task = make_task("add", n_digits=2)
    state = tmp_path / "state.json"
    with pytest.raises(KeyboardInterrupt):
        verify_exhaustive(
            StoppingOracle(task, at=5, workers_only=True),
            task,
            state_path=state,
            batch_size=100,
            examples=0,
            workers=2,
        )
    saved = json.loads(state.read_text())["batches"]
    assert 4 <= saved < 100
    model = ArithmeticOracle(task, digit=1)
    whole = verify_exhaustive(model, task, state_path=state, batch_size=100, examples=0, workers=2)
    fresh = verify_exhaustive(model, task, state_path=None, batch_size=100, examples=0, workers=1)
    assert whole.complete and whole.to_dict() == fresh.to_dict()


def test_a_killed_worker_fails_the_call_instead_of_hanging() -> None:
    task = make_task("add", n_digits=2)
    with pytest.raises(BrokenProcessPool):
        verify_exhaustive(
            StoppingOracle(task, at=3, workers_only=True, kill=True),
            task,
            state_path=None,
            batch_size=100,
            examples=0,
            workers=2,
        )
