"""The evaluation on a LEGO zoo card: accuracy by chain position on fixed fresh sentences,
head classes and shortcut probes; the re-check measures the accuracies again, exactly."""

from __future__ import annotations

from typing import Any

from algolens.families.lego.analysis import evaluate, position_accuracies

LEGO_EVAL = {"sentences": 4096, "seed": 0}  # the fresh sentences a LEGO card is measured on


def card_record(run: Any, questions: int = 0, progress: bool = False) -> dict[str, Any]:
    result = evaluate(run.model, run.task, LEGO_EVAL["sentences"], LEGO_EVAL["seed"])
    untrained = result["acc_untrained"]
    return {
        "evaluation": {
            "acc_trained": round(result["acc_trained"], 4),
            "acc_untrained": None if untrained is None else round(untrained, 4),
            "accuracy_by_position": {
                f"pos{i + 1}": round(a, 4) for i, a in enumerate(result["accuracy"])
            },
            **LEGO_EVAL,
            "head_classes": {f"L{h['layer']}.H{h['head']}": h["kind"] for h in result["heads"]},
            "probes": {p["name"]: round(p["acc_all"], 4) for p in result["probes"]},
        }
    }


def recheck(run: Any, card: dict[str, Any], **options: bool) -> list[dict[str, Any]]:
    """Accuracy by chain position again, all of it: the hook's ``options`` (``quick``,
    ``progress``, ``record``) change nothing here (the check is quick, and nothing of a LEGO
    card can be missing)."""
    ev = card["evaluation"]
    acc = position_accuracies(run.model, run.task, ev["sentences"], ev["seed"])
    now = [round(a, 4) for a in acc]
    recorded = list(ev["accuracy_by_position"].values())
    return [
        {
            "check": f"accuracy by chain position ({ev['sentences']:,} sentences)",
            "recorded": recorded,
            "measured": now,
            "same": recorded == now,
        }
    ]
