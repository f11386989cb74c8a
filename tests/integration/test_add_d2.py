"""Integration tier: a real model trained on CPU, checked against the oracle on every question."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from algolens import load
from algolens.tasks.base import greedy_answers
from algolens.verify import verify_exhaustive


def test_two_digit_addition_is_perfect_on_all_10000_questions(add_d2_run: Path) -> None:
    run = load(add_d2_run)
    res = verify_exhaustive(run.model, run.task)
    assert (res.questions, res.failures) == (10_000, 0)
    assert run.predict(["12+34", "99+1", "99+99", "0+0"]) == ["046", "100", "198", "000"]


def test_teacher_forced_argmax_matches_greedy_when_right(add_d2_run: Path) -> None:
    run = load(add_d2_run)
    batch = run.task.exhaustive_batch(0, 10_000)
    greedy = greedy_answers(run.model, run.task, batch.inputs)
    assert (greedy == batch.targets).all()


def test_metrics_log_per_digit_and_subtask(add_d2_run: Path) -> None:
    run = load(add_d2_run)
    last = run.metrics[-1]
    assert last["step"] == 800
    for key in ("loss_A0", "loss_A1", "loss_A2", "loss_BA", "loss_UC1", "loss_US9"):
        assert key in last
    assert last["loss"] < 0.01


@pytest.mark.slow
def test_the_stored_fixture_is_what_the_recipe_trains(tmp_path: Path) -> None:
    """The fast tier reads the stored add_d2 run; training the recipe again gives its weights
    (same seed, same machine) and its 100% on all 10,000 questions."""
    from safetensors.torch import load_file
    from tests.conftest import ADD_D2_STORED, train_add_d2

    out = train_add_d2(tmp_path / "add_d2")
    a, b = load_file(out / "model.safetensors"), load_file(ADD_D2_STORED / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    res = verify_exhaustive(load(out).model, load(out).task)
    assert (res.questions, res.failures) == (10_000, 0)
