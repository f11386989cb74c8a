"""Integer addition, subtraction and both (Quirke & Barez 2024; Quirke, Neo & Barez 2024).

Tasks ``add``, ``sub`` and ``mix`` (:mod:`.task`), the papers' and our CPU recipes
(:mod:`.presets`), the papers' question lists and the complete carry and borrow suites
(:mod:`.suites`), the analysis with its claims (:mod:`.analysis`), the report's sections
(:mod:`.report`) and the zoo card's verification record (:mod:`.card`).
"""

from __future__ import annotations

from typing import Any

from algolens.families.base import CliOption, Family, lazy


def _task(op: str) -> Any:
    def make(**options: Any) -> Any:
        from algolens.families.arithmetic.task import ArithmeticTask
        from algolens.options import from_dict

        return from_dict(ArithmeticTask, {"op": op, **options}, "task")

    return make


def _presets() -> Any:
    from algolens.families.arithmetic.presets import DEFAULTS, presets

    return DEFAULTS, presets()


_defaults, _named = _presets()

FAMILY = Family(
    name="arithmetic",
    description="n-digit addition, subtraction and both, most-significant digit first",
    tasks={"add": _task("add"), "sub": _task("sub"), "mix": _task("mix")},
    defaults=_defaults,
    presets=_named,
    analyse=lazy("algolens.families.arithmetic.analysis", "analyse"),
    sections=lazy("algolens.families.arithmetic.report", "sections"),
    card=lazy("algolens.families.arithmetic.card", "card_record"),
    recheck=lazy("algolens.families.arithmetic.card", "recheck"),
    zoo_commands=lazy("algolens.families.arithmetic.commands", "register_zoo"),
    zoo_sections=lazy("algolens.families.arithmetic.reuse", "zoo_sections"),
    hypothesis=lazy("algolens.families.arithmetic.hypothesis", "iia_report"),
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
