"""A sweep's results row: one flat record per run, from its card."""

from __future__ import annotations

from typing import Any

DISTRIBUTIONS = ("uniform", "training")
LATE = 1 / 6  # the share of training at its end that late_loss_max looks at


def result_row(
    name: str, point: dict[str, Any], card: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """The run's grid point, its training, both failure rates with their 95% intervals and
    the complete suites (arithmetic), or the family's evaluation numbers (modular, LEGO)."""
    training = card["training"]
    row: dict[str, Any] = {"run": name, **point, "parameters": card.get("parameters")}
    row.update(
        steps_done=training["steps"],
        train_seconds=training["wall_seconds"],
        total_seconds=round(seconds, 1),
        final_loss=training["final_loss"],
    )
    verification = card.get("verification", {})
    for dist in DISTRIBUTIONS:
        if dist in verification:
            rec = verification[dist]
            low, high = rec["interval"]
            row[f"{dist}_questions"] = rec["questions"]
            row[f"{dist}_failures"] = rec["failures"]
            row[f"{dist}_per_million"] = rec["failures_per_million"]
            row[f"{dist}_per_million_low"], row[f"{dist}_per_million_high"] = low, high
    for suite, rec in (verification.get("suites") or {}).items():
        row[f"suite_{suite}_questions"] = rec["questions"]
        row[f"suite_{suite}_failures"] = rec["failures"]
    for key, value in card.get("evaluation", {}).items():
        if _scalar(value):
            row[f"eval_{key}"] = value
        elif isinstance(value, dict):  # LEGO's accuracy by chain position, its probes
            row.update({f"eval_{key}_{k}": v for k, v in value.items() if _number(v)})
    return row


def _scalar(value: Any) -> bool:
    return _number(value) or isinstance(value, str)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def late_loss_max(metrics: list[dict[str, Any]], steps: int) -> float | None:
    """The highest training loss logged in the last sixth of ``steps`` (None if none was).

    In the papers' sweep here it told the runs that missed from those that did not: the four
    that did not reach 0 failures logged 2.0e-3 to 6.5e-3 there, the twenty that did 2.6e-4 at
    most. A loss that still jumps at the end of a decayed schedule is worth a look."""
    start = steps * (1 - LATE)
    late = [m["loss"] for m in metrics if "loss" in m and m.get("step", 0) > start]
    return max(late) if late else None
