"""A run's plan: its config built once, checked once, read back typed; nothing built twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import tiny_model_spec

import algolens.families as registry
import algolens.models as models
import algolens.plan as plan_module
import algolens.runs as runs
from algolens import store
from algolens.config import TrainConfig
from algolens.errors import AlgolensError
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.models import TransformerConfig, build_model, model_spec
from algolens.plan import RunPlan, plan, recipe_plan

TRAIN = TrainConfig(steps=4, batch_size=16, lr=3e-3, log_every=2)


def test_a_plan_holds_the_typed_task_and_model_config_its_stored_config_says() -> None:
    """The plan's task is the family's frozen dataclass and its model config a
    TransformerConfig; the stored (JSON) sections are theirs, and read back to equal ones."""
    p = plan({"name": "add", "n_digits": 3}, tiny_model_spec(), TRAIN)
    assert isinstance(p.task, ArithmeticTask) and p.task.n_digits == 3
    assert isinstance(p.model, TransformerConfig) and p.model.n_ctx == p.task.n_ctx
    assert p.config.task == p.task.to_dict()
    assert p.config.model == model_spec(build_model(p.model))  # what a built model says
    again = RunPlan.of(p.config)
    assert again.task == p.task and again.model == p.model
    with pytest.raises(AlgolensError):  # checked once, at the plan: the model must fit
        plan({"name": "add", "n_digits": 3}, {**tiny_model_spec(), "n_ctx": 5}, TRAIN)


def test_training_a_plan_builds_its_task_and_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the recipe to the saved run, the task is built once and the model once; training a
    stored config instead reads it back (one more task build): the count can fail."""
    counts = {"task": 0, "model": 0}

    def counting(fn, key):  # type: ignore[no-untyped-def]
        def call(*a, **k):  # type: ignore[no-untyped-def]
            counts[key] += 1
            return fn(*a, **k)

        return call

    for module in (plan_module, runs):
        monkeypatch.setattr(module, "make_task", counting(registry.make_task, "task"))
    monkeypatch.setattr(runs, "build_model", counting(models.build_model, "model"))
    given = {"layers": 1, "heads": 2, "d_model": 16, "steps": 4, "batch_size": 16}
    p = recipe_plan("add", None, given, {"task": {"n_digits": 2}}, {})
    runs.train_run(tmp_path / "a", p, progress=False)
    assert counts == {"task": 1, "model": 1}
    assert store.run_state(tmp_path / "a")[0] == "finished"
    runs.train_run(tmp_path / "b", p.config, progress=False)
    assert counts == {"task": 2, "model": 2}


def test_config_helpers_keep_typed_signatures() -> None:
    """``new_config`` and ``recipe_config`` name their parameters (a user's mypy checks calls to
    them), the same as the plans they wrap."""
    import inspect

    from algolens.plan import new_config, plan, recipe_config, recipe_plan

    for short, whole in ((new_config, plan), (recipe_config, recipe_plan)):
        got = inspect.signature(short).parameters
        assert not any(p.kind is p.VAR_POSITIONAL for p in got.values())
        assert list(got)[:4] == list(inspect.signature(whole).parameters)[:4]
