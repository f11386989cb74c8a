"""LEGO (Zhang et al. 2022): follow a chain of equalities over Z2 through a shuffled sentence.

The task (:mod:`.task`), its recipe (:mod:`.presets`), the encoder variants and their
initialisations (:mod:`.variants`, :mod:`.mimic`), the analysis with its claims
(:mod:`.analysis`), the report's sections (:mod:`.report`), the card (:mod:`.card`) and the
``algolens lego`` commands (:mod:`.commands`).
"""

from __future__ import annotations

from typing import Any

from algolens.errors import AlgolensError
from algolens.families.base import CliOption, Family, folder_hooks, folder_presets, lazy
from algolens.options import unknown_key


def _task(**options: Any) -> Any:
    from algolens.families.lego.task import LegoTask
    from algolens.options import from_dict

    return from_dict(LegoTask, options, "task")


def _lazy(module: str, name: str) -> Any:
    return lazy(f"algolens.families.lego.{module}", name)


VARIANTS = ("random", "mimic", "tied", "conv", "parent")  # the encoders: see .variants


def check_variant(variant: str) -> None:
    """One line for a variant that is not one of :data:`VARIANTS` (no torch needed)."""
    if variant not in VARIANTS:
        raise AlgolensError(unknown_key(variant, VARIANTS, "LEGO variant"))


FAMILY = Family(
    name="lego",
    description="LEGO chains of reasoning over Z2, with the paper's encoder variants",
    tasks={"lego": _task},
    **folder_presets(__name__),
    **folder_hooks(__name__),
    initialise=_lazy("variants", "initialise"),
    prepare_model=_lazy("variants", "prepare_model"),
    variants=VARIANTS,
    variant_init=_lazy("variants", "variant_init"),
    commands=_lazy("commands", "register"),
    hypothesis=_lazy("hypothesis", "declare"),
    cli_options=(
        CliOption("--n-vars", "n_vars", int, "clauses (variables) per sentence"),
        CliOption("--train-k", "train_k", int, "loss on the first K chain positions (0: all)"),
    ),
)
