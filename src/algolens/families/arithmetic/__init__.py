"""Integer addition, subtraction and both (Quirke & Barez 2024; Quirke, Neo & Barez 2024).

Tasks ``add``, ``sub`` and ``mix`` (:mod:`.task`), the papers' and our CPU recipes
(:mod:`.presets`), the papers' question lists and the complete carry and borrow suites
(:mod:`.suites`), the analysis with its claims (:mod:`.analysis`), the report's sections
(:mod:`.report`) and the zoo card's verification record (:mod:`.card`).
"""

from __future__ import annotations

from typing import Any

from algolens.families.base import CliOption, Family, folder_hooks, folder_presets, lazy


def _task(op: str) -> Any:
    def make(**options: Any) -> Any:
        from algolens.families.arithmetic.task import ArithmeticTask
        from algolens.options import from_dict

        return from_dict(ArithmeticTask, {"op": op, **options}, "task")

    return make


FAMILY = Family(
    name="arithmetic",
    description="n-digit addition, subtraction and both, most-significant digit first",
    tasks={"add": _task("add"), "sub": _task("sub"), "mix": _task("mix")},
    **folder_presets(__name__),
    **folder_hooks(__name__),
    zoo_commands=lazy("algolens.families.arithmetic.commands", "register_zoo"),
    zoo_sections=lazy("algolens.families.arithmetic.reuse", "zoo_sections"),
    hypothesis=lazy("algolens.families.arithmetic.hypothesis", "declare"),
    submission=lazy("algolens.families.arithmetic.submission", "check_file"),
    suite=lazy("algolens.families.arithmetic.suites", "verify_suite"),
    suite_names=(
        "carry",
        "borrow",
        "complete",
        "cascade",
        "ba",
        "uc1",
        "simple_us9",
        "cascade_us9",
        "step",
        "papers",
        "all",
        "structured",
    ),
    cli_options=(
        CliOption("--digits", "n_digits", int, "digits per operand (1-20)"),
        CliOption(
            "--enrich",
            "enrich_batch_share",
            float,
            "share of batches with sum-9 / equal-digit enrichment",
        ),
        CliOption("--sub-share", "sub_share", float, "share of subtraction questions (mix)"),
        CliOption("--hard-share", "hard_share", float, "share of near-equal subtraction questions"),
    ),
)
