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
    training = card["training"]  # point: the grid point as trained (see trained_settings)
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


SETTINGS = {
    "layers": ("model", "n_layers"), "heads": ("model", "n_heads"), "d_model": ("model", "d_model"),
    "d_head": ("model", "d_head"), "d_mlp": ("model", "d_mlp"), "steps": ("train", "steps"),
    "batch_size": ("train", "batch_size"), "lr": ("train", "lr"),
    "weight_decay": ("train", "weight_decay"), "seed": ("train", "seed"),
    "task": ("task", "name"), "variant": ("init", "variant"), "init_from": ("init", "source"),
}  # fmt: skip  # grid key -> where the run's config.json holds it


def trained_settings(
    point: dict[str, Any], config: dict[str, Any], own: dict[str, str]
) -> dict[str, Any]:
    """The run's settings as it trained, read from its ``config.json`` (``config``), named as
    grid keys: the point's keys in the grid's order, then the common settings (layers, heads,
    widths, steps, batch size, learning rate, weight decay, seed) that the grid left to the
    recipe. ``own``: the family's grid keys -> task options (arithmetic: digits -> n_digits).
    A key the config does not record (a preset's name, reuse ``none``) keeps the point's value."""
    where = {**SETTINGS, **{k: ("task", option) for k, option in own.items()}}
    settings: dict[str, Any] = {}
    for key in [*point, *(k for k in SETTINGS if k not in point and SETTINGS[k][0] != "init")]:
        part, option = where.get(key, ("", ""))
        section = config.get(part)
        if isinstance(section, dict) and option in section:
            settings[key] = section[option]
        elif key in point:
            settings[key] = point[key]
    return settings


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
