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
    check: str  # verified failures per million (uniform / training), or the headline evaluation
    failures_per_million: dict[str, float] | None  # distribution -> failures per million

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _headline(card: dict[str, Any]) -> tuple[str, dict[str, float] | None]:
    record = card.get("verification", {})
    fpm = {d: record[d]["failures_per_million"] for d in ("uniform", "training") if d in record}
    if fpm:
        return " / ".join(f"{d} {v:,.4g}" for d, v in fpm.items()) + " failures/M", fpm
    evaluation = card.get("evaluation", {})
    key = next((k for k in evaluation if "acc" in k), None)
    return (f"{key} {evaluation[key]}" if key else "-"), None


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
        check, fpm = _headline(card)
        rows.append(ZooEntry(name, task_text, arch, int(card.get("parameters", 0)), check, fpm))
    return rows


__all__ = ["CARD", "ZooEntry", "json", "read_card", "zoo_entries", "zoo_names", "zoo_path"]
