"""The zoo: trained, verified models shipped inside the package, each a run directory.

Every zoo model is an ordinary run directory under ``models/`` (``config.json``,
``model.safetensors``, ``metrics.jsonl``) plus ``card.json``: what it is, how it was trained
(recipe, wall time, steps) and how it was checked (the family's record: verification for
arithmetic, evaluation for the others). ``algolens.load("zoo:NAME")`` loads one; its
``config.json`` is the recipe ``algolens zoo retrain`` follows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from algolens import store
from algolens.runs import zoo_names, zoo_path

CARD = "card.json"


def read_card(name: str) -> dict[str, Any]:
    """The card of zoo model ``name`` (a card with only the name if it has none)."""
    path = zoo_path(name) / CARD
    if not path.exists():
        return {"name": name}
    return dict(store.read_json(path, "model card"))


@dataclass
class ZooEntry:
    """One row of ``algolens zoo list``."""

    name: str
    task: str
    architecture: str
    parameters: int
    check: str  # verified failures of questions with their interval, or the headline evaluation
    failures_per_million: dict[str, float] | None  # distribution -> failures per million
    failures: dict[str, int] | None = None  # distribution -> failing questions
    questions: dict[str, int] | None = None  # distribution -> questions checked
    interval: dict[str, list[float]] | None = None  # distribution -> 95% interval, per million

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def per_million(value: float) -> str:
    """A rate per million as the zoo list prints it: ``18``, ``2,021``, ``0.025``, ``0``."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def verified_text(rec: dict[str, Any]) -> str:
    """``0 of 200,000 (0–18 per M, 95%)``: failures, questions and the 95% Clopper-Pearson
    interval, so that 0 failures in 200,000 questions does not read as 0 per million."""
    low, high = rec["interval"]
    return (
        f"{rec['failures']:,} of {rec['questions']:,} "
        f"({per_million(low)}–{per_million(high)} per M, 95%)"
    )


def _headline(card: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    record = card.get("verification", {})
    recs = {d: record[d] for d in ("uniform", "training") if isinstance(record.get(d), dict)}
    if recs:
        return "; ".join(f"{d} {verified_text(r)}" for d, r in recs.items()), recs
    evaluation = card.get("evaluation", {})
    key = next((k for k in evaluation if "acc" in k), None)
    return (f"{key} {evaluation[key]}" if key else "-"), {}


def zoo_entries() -> list[ZooEntry]:
    """Every zoo model with its headline numbers, read from config and card (no weights loaded)."""
    rows = []
    for name in zoo_names():
        config = store.read_config(zoo_path(name))
        card = read_card(name)
        task, model = config.task, config.model
        task_text = task["name"] + (f" d{task['n_digits']}" if "n_digits" in task else "")
        if model.get("kind", "transformer") == "transformer":
            arch = f"{model['n_layers']}L/{model['n_heads']}H/{model['d_model']}"
        else:
            arch = f"{model.get('kind')} {model.get('d_mlp', '')}".strip()
        check, recs = _headline(card)
        rows.append(
            ZooEntry(
                name, task_text, arch, int(card.get("parameters", 0)), check,
                {d: r["failures_per_million"] for d, r in recs.items()} or None,
                {d: r["failures"] for d, r in recs.items()} or None,
                {d: r["questions"] for d, r in recs.items()} or None,
                {d: list(r["interval"]) for d, r in recs.items()} or None,
            )
        )  # fmt: skip
    return rows


__all__ = ["CARD", "ZooEntry", "json", "read_card", "zoo_entries", "zoo_names", "zoo_path"]
