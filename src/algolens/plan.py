"""A new run's plan: its config built and checked in one place, one time, and read back typed.

A :class:`RunPlan` holds the stored config (:class:`~algolens.config.RunConfig`, the JSON edge:
``config.json``) beside its typed parts: the family's task (a frozen, validated dataclass such
as ``ArithmeticTask``) and the model's config (``TransformerConfig`` or ``MLPConfig``). The
task is built once per process and the model once, by the trainer's start
(:func:`algolens.runs.train_run`); nothing is built twice.

Training walks down from here: ``commands/train.py`` -> :func:`recipe_plan` (a family's preset
with the flags over it) -> :func:`plan` (the task and model config, checked against each other)
-> :func:`algolens.runs.train_run` -> the trainer -> the run directory.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from algolens.config import InitConfig, Provenance, RunConfig, TrainConfig, run_name
from algolens.families import family_of, make_task, resolve_preset
from algolens.models import ModelConfig, model_config, model_kind
from algolens.options import from_dict
from algolens.tasks.base import Task, check_model_fits, resolve_device
from algolens.version import __version__

MODEL_FLAGS = {"layers": "n_layers", "heads": "n_heads", "d_model": "d_model", "d_head": "d_head",
               "d_mlp": "d_mlp"}  # fmt: skip


@dataclass(frozen=True)
class RunPlan:
    """A checked config with its typed task and model config: what a new run is."""

    config: RunConfig
    task: Task
    model: ModelConfig

    @classmethod
    def of(cls, config: RunConfig) -> RunPlan:
        """A stored config read back typed (a run directory's, or a sweep item's)."""
        return cls(config, make_task(config.task), model_config(config.model))


class Named(TypedDict, total=False):
    """:func:`plan`'s keyword-only arguments: the run's name and the command that made it."""

    name: str
    argv: list[str] | None


def plan(
    task: dict[str, Any] | Task,
    model: dict[str, Any],
    train: TrainConfig,
    init: InitConfig | None = None,
    *,
    name: str = "",
    argv: list[str] | None = None,
) -> RunPlan:
    """A complete, checked plan: the task built, the model's sizes filled in from the task
    (``n_ctx``, ``d_vocab``, ...) and from the family (LEGO's variants), the model config
    validated. Refuses, before anything is written, an absent GPU or a model that does not fit
    the task."""
    init = init or InitConfig()
    built = task if not isinstance(task, dict) else make_task(task)
    family = family_of(built.name)
    spec = {"kind": "transformer", **model}
    needs = built.model_defaults(spec["kind"])
    resolve_device(train.device)
    check_model_fits(built.name, spec, needs)
    for key, value in needs.items():
        spec.setdefault(key, value)
    if family.prepare_model is not None:
        spec = family.prepare_model(spec, {"variant": init.variant, **init.family})
    spec.setdefault("seed", train.seed)
    cfg = model_config(spec)
    python = sys.version.split()[0]
    versions = {"algolens": __version__, "torch": _torch_version(), "python": python}
    config = RunConfig(
        name=name or "run",
        task=built.to_dict(),
        model={"kind": model_kind(cfg), **cfg.to_dict()},
        train=train,
        init=init,
        provenance=Provenance(argv=list(argv if argv is not None else sys.argv), versions=versions),
    )
    return RunPlan(config, built, cfg)


def new_config(
    task: dict[str, Any] | Task,
    model: dict[str, Any],
    train: TrainConfig,
    init: InitConfig | None = None,
    **named: Unpack[Named],
) -> RunConfig:
    """:func:`plan`'s stored config alone (for code that keeps configs, such as a sweep)."""
    return plan(task, model, train, init, **named).config


def recipe_plan(
    task: str,
    preset: str | None,
    given: dict[str, Any],
    opts: dict[str, dict[str, Any]],
    init: dict[str, Any],
    *,
    argv: list[str] | None = None,
    from_scratch: bool = False,
) -> RunPlan:
    """A checked plan from a named recipe and what is given over it: ``given`` holds the
    common settings (``layers``, ``heads``, ``d_model``, ``d_head``, ``d_mlp`` for the model,
    anything else for the training, None for unset), ``opts`` any ``task``, ``model`` and
    ``train`` options, ``init`` the initialisation (``source``, ``reuse``, ``freeze_heads``);
    ``from_scratch`` drops the recipe's own initialisation (a reuse recipe trained from scratch)."""
    recipe = resolve_preset(task, preset)
    if from_scratch:
        recipe.init = {}
    recipe.task.update(opts.get("task", {}))
    if (given.get("d_model") or given.get("heads")) and not given.get("d_head"):
        recipe.model.pop("d_head", None)  # the preset's head width no longer fits: derive it
    recipe.model.update(
        {MODEL_FLAGS[k]: v for k, v in given.items() if k in MODEL_FLAGS and v is not None}
    )
    recipe.model.update(opts.get("model", {}))
    recipe.train.update({k: v for k, v in given.items() if k not in MODEL_FLAGS and v is not None})
    recipe.train.update(opts.get("train", {}))
    train_cfg = from_dict(TrainConfig, recipe.train, "training")
    init_cfg = from_dict(
        InitConfig, {**recipe.init, **{k: v for k, v in init.items() if v}}, "initialisation"
    )
    name = run_name(recipe.task, recipe.model, train_cfg.seed)
    return plan(recipe.task, recipe.model, train_cfg, init_cfg, name=name, argv=argv)


def recipe_config(
    task: str,
    preset: str | None,
    given: dict[str, Any],
    opts: dict[str, dict[str, Any]],
    init: dict[str, Any],
    *,
    argv: list[str] | None = None,
    from_scratch: bool = False,
) -> RunConfig:
    """:func:`recipe_plan`'s stored config alone."""
    return recipe_plan(task, preset, given, opts, init, argv=argv, from_scratch=from_scratch).config


def _torch_version() -> str:
    import torch

    return str(torch.__version__)
