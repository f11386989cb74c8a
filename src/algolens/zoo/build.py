"""Train, check and package zoo models; retrain one from its recorded recipe.

``build(name)`` trains the recipe in :mod:`algolens.zoo.recipes`, verifies the result (random
questions from the enriched training generator and the cascade suite), writes ``card.json`` and
copies the run directory into the package. ``retrain(name, out)`` follows a shipped model's own
``config.json`` and checks the new weights the same way. LEGO models are trained by
:func:`~algolens.models.lego_variants.train_variant` (their config names the variant and its
mimic init) and checked by accuracy per chain position (:func:`lego_card`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from safetensors.torch import load_file

from algolens.store import CARD_FILES, load_run, read_config, read_metrics, write_json
from algolens.train import TrainConfig, train
from algolens.zoo import CARD, ZOO_DIR, read_card, zoo_path
from algolens.zoo.recipes import ZOO_RECIPES

# what REFERENCE.md reports for the seeds' models (layers/heads/d_model, steps, loss, fails/M)
SEED_FIGURES: dict[str, dict[str, Any]] = {
    "add_d5_l1": {
        "config": "1/3/510, d_mlp 2040",
        "batch_x_steps": "64 x 30K",
        "loss": 9.4e-2,
        "failures_per_million": 12_621,
    },
    "add_d5_l2": {
        "config": "2/3/510",
        "batch_x_steps": "64 x 15K",
        "loss": 1.6e-8,
        "failures_per_million": 0,
    },
    "add_d6_l2": {
        "config": "2/3/510",
        "batch_x_steps": "64 x 15K",
        "loss": 1.7e-8,
        "failures_per_million": 2,
    },
    "sub_d6_l2": {
        "config": "2/3/510",
        "batch_x_steps": "64 x 30K",
        "loss": 5.8e-6,
        "failures_per_million": 2,
    },
    "mix_d6_l3": {
        "config": "3/4/510",
        "batch_x_steps": "64 x 40K",
        "loss": 5e-9,
        "failures_per_million": "1 add / 0 sub",
    },
    "ins1_mix_d6_l3": {
        "config": "3/4/510 from add d6",
        "batch_x_steps": "64 x 40K",
        "loss": 8e-9,
        "failures_per_million": "0 / 0",
    },
}


def check(run_dir: Path, questions: int, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """The verification record of a card: random training-distribution questions + cascades."""
    from algolens.verify import verify, verify_suite

    run = load_run(run_dir)
    result = verify(
        run.model,
        run.task,
        questions=questions,
        distribution="training",
        seed=seed,
        progress=progress,
    )
    record = result.to_dict()
    record.pop("examples", None)
    cascade = verify_suite(run.model, run.task, "cascade")
    record["cascade_suite"] = {
        "questions": cascade.questions,
        "failures": cascade.failures,
        "by_class": cascade.to_dict()["by_class"],
    }
    record["examples"] = result.examples[:5] + cascade.examples[:5]
    return record


def final_loss(run_dir: Path, last: int = 5) -> float:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    tail = [r["loss"] for r in rows[-last:]]
    return sum(tail) / len(tail)


def make_card(
    name: str, run_dir: Path, wall_seconds: float, verification: dict[str, Any], command: str
) -> dict[str, Any]:
    config = json.loads((run_dir / "config.json").read_text())
    n_params = sum(t.numel() for t in load_file(run_dir / "model.safetensors").values())
    recipe = ZOO_RECIPES.get(name)
    return {
        "name": name,
        "task": config["task"],
        "description": recipe.description if recipe else "",
        "parameters": n_params,
        "architecture": {
            k: config["model"][k] for k in ("n_layers", "n_heads", "d_model", "d_head", "d_mlp")
        },
        "training": {
            "steps": config["train"]["steps"],
            "batch_size": config["train"]["batch_size"],
            "lr": config["train"]["lr"],
            "wall_seconds": round(wall_seconds, 1),
            "final_loss": final_loss(run_dir),
            "init_from": config["train"]["init_from"],
            "command": command,
        },
        "verification": verification,
        "seed_reference": SEED_FIGURES.get(name, {}),
        "notes": (
            "Width reduced from the seeds' d_model 510 to "
            f"{config['model']['d_model']} (d_head {config['model']['d_head']}) for CPU "
            "training; depth, heads and token format as in the seeds."
        ),
    }


LEGO_EVAL = {"sentences": 4096, "seed": 0}  # the fresh sentences a LEGO card is measured on
LEGO_ARCH = ("n_layers", "n_heads", "d_model", "d_head", "d_mlp", "conv_kernel", "tie_layers")


def lego_evaluation(run_dir: Path) -> dict[str, Any]:
    """A LEGO card's evaluation: accuracy by chain position on the ``LEGO_EVAL`` sentences,
    head classes and shortcut probes (the zoo test re-measures the accuracies exactly)."""
    from algolens.models.lego_variants import evaluate_run

    result = evaluate_run(run_dir, n=LEGO_EVAL["sentences"], seed=LEGO_EVAL["seed"])
    untrained = result["acc_untrained"]
    return {
        "acc_trained": round(result["acc_trained"], 4),
        "acc_untrained": None if untrained is None else round(untrained, 4),
        "accuracy_by_position": {
            f"pos{i + 1}": round(a, 4) for i, a in enumerate(result["accuracy"])
        },
        **LEGO_EVAL,
        "head_classes": {f"L{h['layer']}.H{h['head']}": h["kind"] for h in result["heads"]},
        "probes": {p["name"]: round(p["acc_all"], 4) for p in result["probes"]},
    }


def lego_card(
    name: str, run_dir: Path, wall_seconds: float, command: str, description: str, notes: str
) -> dict[str, Any]:
    """The card of a LEGO zoo model: recipe (variant, mimic init, training) and evaluation."""
    config = read_config(run_dir)
    model, train_cfg = config["model"], config["train"]
    return {
        "name": name,
        "task": config["task"],
        "description": description,
        "parameters": sum(t.numel() for t in load_file(run_dir / "model.safetensors").values()),
        "architecture": {k: model[k] for k in LEGO_ARCH},
        "training": {
            "variant": config.get("variant"),
            "mimic_init": {k: v for k, v in config.get("mimic_init", {}).items() if k != "run"},
            "steps": read_metrics(run_dir)[-1]["step"],  # where training stopped
            "schedule_steps": train_cfg["steps"],  # the cosine schedule's length
            "batch_size": train_cfg["batch_size"],
            "lr": train_cfg["lr"],
            "layer_loss": train_cfg.get("layer_loss", 0.0),
            "wall_seconds": round(wall_seconds, 1),
            "command": command,
        },
        "evaluation": lego_evaluation(run_dir),
        "notes": notes,
    }


def package(run_dir: Path, name: str, card: dict[str, Any]) -> Path:
    """Copy a run's shippable files into the zoo with its card."""
    dest = ZOO_DIR / name
    dest.mkdir(parents=True, exist_ok=True)
    for file in CARD_FILES:
        shutil.copy2(run_dir / file, dest / file)
    write_json(dest / CARD, card)
    return dest


def build(name: str, work: Path, questions: int = 1_000_000, progress: bool = True) -> dict:
    """Train zoo model ``name`` from its recipe, verify it, and package it with its card."""
    recipe = ZOO_RECIPES[name]
    out = work / name
    if out.exists():
        shutil.rmtree(out)
    start = time.perf_counter()
    train(
        out,
        recipe.task,
        recipe.model,
        TrainConfig.from_dict(recipe.train),
        argv=["algolens", "zoo", "build", name],
        progress=progress,
    )
    wall = time.perf_counter() - start
    verification = check(out, questions, progress=progress)
    card = make_card(name, out, wall, verification, f"algolens zoo retrain {name}")
    package(out, name, card)
    return card


def retrain(
    name: str,
    out: Path,
    questions: int = 100_000,
    progress: bool = True,
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Train ``name`` again from the zoo copy's own config.json, then check it the same way."""
    config = json.loads((zoo_path(name) / "config.json").read_text())
    start = time.perf_counter()
    train_cfg = TrainConfig.from_dict(config["train"])
    if config.get("variant"):  # LEGO: the variant's own path (its mimic init is redone)
        from algolens.models.lego_mimic import MimicConfig
        from algolens.models.lego_variants import MIMIC_VARIANTS, train_variant

        mimic = MimicConfig.from_dict(config.get("mimic_init", {}))
        if config["variant"] in MIMIC_VARIANTS:  # its init_from is the mimic init, redone here
            train_cfg.init_from = None
        train_variant(out, config["variant"], config["task"], config["model"], train_cfg, mimic,
                      progress=progress, argv=argv)  # fmt: skip
    else:
        train(out, config["task"], config["model"], train_cfg, argv=argv, progress=progress)
    wall = time.perf_counter() - start
    family = config["task"]["name"]
    if family in ("add", "sub", "mix"):
        card = make_card(
            name,
            out,
            wall,
            check(out, questions, progress=progress),
            f"algolens zoo retrain {name}",
        )
    elif family == "lego":
        card = {"name": name, "evaluation": lego_evaluation(out),
                "training": {"wall_seconds": round(wall, 1)}}  # fmt: skip
    else:
        run = load_run(out)
        evaluate = getattr(run.task, "evaluate", None)
        card = {
            "name": name,
            "evaluation": evaluate(run.model) if evaluate else {},
            "training": {"wall_seconds": round(wall, 1)},
        }
    card["original"] = read_card(name).get("verification") or read_card(name).get("evaluation")
    write_json(out / CARD, card)
    return card
