"""Modular addition ``(a + b) mod p``: the cosine MLP (Bussmann 2023) and the grokking
transformer (Nanda et al. 2023), with their analyses (cosine fits, Fourier spectra, progress
measures) and claims."""

from __future__ import annotations

from typing import Any

from algolens.families.base import CliOption, Family, folder_hooks, folder_presets, lazy


def _task(**options: Any) -> Any:
    from algolens.families.modular.task import ModAddTask
    from algolens.options import from_dict

    return from_dict(ModAddTask, options, "task")


def _card(run: Any, questions: int = 0, progress: bool = False) -> dict[str, Any]:
    """The whole table, exactly: a modular card needs no sampling."""
    ev = run.task.evaluate(run.model)
    return {
        "evaluation": {
            "train_accuracy": round(ev["train_acc"], 6),
            "val_accuracy": round(ev["val_acc"], 6),
            "train_loss": ev["train_loss"],
            "val_loss": ev["val_loss"],
        }
    }


def _recheck(
    run: Any, card: dict[str, Any], quick: bool = False, progress: bool = False
) -> list[dict[str, Any]]:
    now, rec = _card(run)["evaluation"], card["evaluation"]
    rows = []
    for key in ("train_accuracy", "val_accuracy"):
        rows.append(
            {
                "check": key,
                "recorded": rec[key],
                "measured": now[key],
                "same": abs(rec[key] - now[key]) < 1e-6,
            }
        )
    same = abs(rec["val_loss"] - now["val_loss"]) <= 1e-3 * abs(rec["val_loss"]) + 1e-6
    rows.append(
        {
            "check": "val_loss",
            "recorded": rec["val_loss"],
            "measured": now["val_loss"],
            "same": same,
        }
    )
    return rows


FAMILY = Family(
    name="modular",
    description="(a + b) mod p: the cosine MLP and the grokking transformer",
    tasks={"modadd": _task},
    **folder_presets(__name__),
    **folder_hooks(__name__, "analyse", "sections"),
    card=_card,
    recheck=_recheck,
    hypothesis=lazy("algolens.families.modular.hypothesis", "declare"),
    cli_options=(
        CliOption("--p", "p", int, "the modulus (2-1000)"),
        CliOption("--train-frac", "train_frac", float, "share of the p x p pairs that train"),
    ),
)
