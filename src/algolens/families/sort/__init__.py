"""Sorting a short list: a fourth task family, written the way a user adds one.

This folder is the whole family: the task (:mod:`.task`), a recipe, and the generic analysis.
Nothing outside it names it; algolens finds it because it is a folder of ``algolens/families``
with a ``FAMILY`` (a family in another package registers through the entry-point group
``algolens.families`` instead). This file stays light (no torch): the command line reads every
family's record when it starts.
"""

from __future__ import annotations

from typing import Any

from algolens.families.base import CliOption, Family, Preset, lazy


def make(**options: Any) -> Any:
    from algolens.families.sort.task import SortTask
    from algolens.options import from_dict

    return from_dict(SortTask, options, "task")


RECIPE = Preset(
    {"name": "sort", "n_items": 5, "n_values": 10},
    {"kind": "transformer", "n_layers": 2, "n_heads": 2, "d_model": 64},
    {"steps": 1500, "batch_size": 256, "lr": 3e-3, "warmup_frac": 0.05, "log_every": 50},
    "sort 5 numbers from 0-9: 2 layers, 2 heads, d_model 64",
    "about 1 min on 2 CPU cores",
)

FAMILY = Family(
    name="sort",
    description="sorting a short list of numbers",
    tasks={"sort": make},
    defaults={"sort": "cpu"},
    presets={"sort": {"cpu": RECIPE}},
    analyse=lazy("algolens.families.generic", "analyse"),
    sections=lazy("algolens.families.generic", "sections"),
    hypothesis=lazy("algolens.families.sort.hypothesis", "declare"),
    cli_options=(
        CliOption("--items", "n_items", int, "numbers per list"),
        CliOption("--values", "n_values", int, "numbers are below this"),
    ),
)
