"""The zoo: trained models shipped inside the package, each a run directory under ``models/``.

Every zoo model is an ordinary run directory (``config.json``, ``model.safetensors``,
``metrics.jsonl``) plus ``card.json``: what it is, how it was trained (wall time, steps, command)
and how it was checked (verification or evaluation record, findings). ``load("zoo:NAME")`` loads
one; ``config.json`` is also the recipe ``algolens zoo retrain`` follows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algolens.errors import AlgolensError

ZOO_DIR = Path(__file__).parent / "models"
CARD = "card.json"


def zoo_names() -> list[str]:
    """Names of the shipped models."""
    if not ZOO_DIR.is_dir():
        return []
    return sorted(p.name for p in ZOO_DIR.iterdir() if (p / "config.json").exists())


def zoo_path(name: str) -> Path:
    """The run directory of zoo model ``name``."""
    path = ZOO_DIR / name
    if not (path / "config.json").exists():
        have = ", ".join(zoo_names()) or "none yet"
        raise AlgolensError(f"no zoo model {name!r} (the zoo has: {have})")
    return path


def read_card(name: str) -> dict[str, Any]:
    """The model card of zoo model ``name`` (an empty card if it has none)."""
    path = zoo_path(name) / CARD
    if not path.exists():
        return {"name": name}
    return dict(json.loads(path.read_text()))


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


def zoo_entries() -> list[ZooEntry]:
    """Every zoo model with its headline numbers, read from config and card (no weights loaded)."""
    rows = []
    for name in zoo_names():
        config = json.loads((zoo_path(name) / "config.json").read_text())
        card = read_card(name)
        task, model = config["task"], config["model"]
        task_text = task["name"] + (f" d{task['n_digits']}" if "n_digits" in task else "")
        if model.get("kind", "transformer") == "transformer":
            arch = f"{model['n_layers']}L/{model['n_heads']}H/{model['d_model']}"
        else:
            arch = f"{model.get('kind')} {model.get('d_mlp', '')}".strip()
        record = card.get("verification", {})
        fpm = {d: record[d]["failures_per_million"] for d in ("uniform", "training") if d in record}
        if fpm:
            check = " / ".join(f"{d} {v:,.4g}" for d, v in fpm.items()) + " failures/M"
        else:
            evaluation = card.get("evaluation", {})
            key = next((k for k in evaluation if "acc" in k), None)
            check = f"{key} {evaluation[key]}" if key else "-"
        rows.append(
            ZooEntry(name, task_text, arch, int(card.get("parameters", 0)), check, fpm or None)
        )
    return rows
