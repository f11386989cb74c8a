"""Named training recipes: a task, a model and training settings that go together.

``TASK_DEFAULTS`` gives each task family its defaults (the seeds' configuration where there is
one); ``PRESETS`` holds named recipes such as the seeds' published models. Modules that add a
task family register theirs with :func:`register`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from algolens.errors import AlgolensError


@dataclass
class Preset:
    """Config sections for :func:`algolens.train.train` plus a one-line description."""

    task: dict[str, Any]
    model: dict[str, Any]
    train: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def copy(self) -> Preset:
        return copy.deepcopy(self)


SEED_MODEL = {"kind": "transformer", "n_layers": 2, "n_heads": 3, "d_model": 510}
SEED_TRAIN = {"steps": 15_000, "batch_size": 64, "lr": 8e-5, "weight_decay": 0.1}

TASK_DEFAULTS: dict[str, Preset] = {
    "add": Preset(
        {"name": "add", "n_digits": 5},
        SEED_MODEL,
        SEED_TRAIN,
        "the seeds' accurate addition model: 2 layers, 3 heads, d_model 510",
    ),
    "sub": Preset(
        {"name": "sub", "n_digits": 6},
        SEED_MODEL,
        {**SEED_TRAIN, "steps": 30_000},
        "the seeds' subtraction model",
    ),
    "mix": Preset(
        {"name": "mix", "n_digits": 6},
        {"kind": "transformer", "n_layers": 3, "n_heads": 4, "d_model": 512},
        {**SEED_TRAIN, "steps": 40_000},
        "the seeds' mixed add/sub model",
    ),
}
PRESETS: dict[str, Preset] = {}


def register(name: str, preset: Preset, *, task_default: bool = False) -> None:
    """Add a named preset (or, with ``task_default``, the defaults of task family ``name``)."""
    (TASK_DEFAULTS if task_default else PRESETS)[name] = preset


def resolve(task: str, preset: str | None) -> Preset:
    """The starting point for ``algolens train TASK [--preset NAME]``."""
    _load_families()
    if preset is not None:
        if preset not in PRESETS:
            raise AlgolensError(
                f"unknown preset {preset!r}: choose from {', '.join(sorted(PRESETS)) or 'none'}"
            )
        chosen = PRESETS[preset].copy()
        if task != chosen.task["name"]:
            raise AlgolensError(
                f"preset {preset!r} is for task {chosen.task['name']!r}, not {task!r}"
            )
        return chosen
    if task not in TASK_DEFAULTS:
        raise AlgolensError(
            f"unknown task {task!r}: choose from {', '.join(sorted(TASK_DEFAULTS))}"
        )
    return TASK_DEFAULTS[task].copy()


def _load_families() -> None:
    """Import the task modules so that their presets are registered."""
    import algolens.tasks
    import algolens.zoo.recipes  # noqa: F401  (the CPU recipes of the zoo models)
