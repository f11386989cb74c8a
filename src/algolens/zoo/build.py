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

from algolens.errors import AlgolensError
from algolens.store import CARD_FILES, load_run, read_config, read_metrics, write_json
from algolens.train import TrainConfig, train
from algolens.zoo import CARD, ZOO_DIR, read_card, zoo_path
from algolens.zoo.recipes import ZOO_RECIPES

# the papers' figures (Quirke & Barez 2024; Quirke, Neo & Barez 2024): layers/heads/d_model,
# batch x steps, final training loss, failures per million. The papers draw their million
# questions from their enriched training generator, so they compare with our "training" rate.
PAPER = "Quirke & Barez 2024; Quirke, Neo & Barez 2024"
PAPER_FIGURES: dict[str, dict[str, Any]] = {
    "add_d5_l1": {"config": "1/3/510, d_mlp 2040", "batch_x_steps": "64 x 30K", "loss": 9.4e-2,
                  "failures_per_million": 12_621},
    "add_d5_l2": {"config": "2/3/510", "batch_x_steps": "64 x 15K", "loss": 1.6e-8,
                  "failures_per_million": 0},
    "add_d6_l2": {"config": "2/3/510", "batch_x_steps": "64 x 15K", "loss": 1.7e-8,
                  "failures_per_million": 2},
    "add_d10_l2": {"config": "2/3/510", "batch_x_steps": "64 x 40K", "loss": 7e-9,
                   "failures_per_million": 0},
    "add_d15_l2": {"config": "2/3/510", "batch_x_steps": "64 x 80K", "loss": 8.6e-8,
                   "failures_per_million": 10},
    "sub_d6_l2": {"config": "2/3/510", "batch_x_steps": "64 x 30K", "loss": 5.8e-6,
                  "failures_per_million": 2},
    "mix_d6_l3": {"config": "3/4/510", "batch_x_steps": "64 x 40K", "loss": 5e-9,
                  "failures_per_million": {"add": 1, "sub": 0}},
    "ins1_mix_d6_l3": {"config": "3/4/510 from add d6", "batch_x_steps": "64 x 40K",
                       "loss": 8e-9, "failures_per_million": {"add": 0, "sub": 0}},
    "ins2_mix_d6_l4": {"config": "4/4/510 from add d6", "batch_x_steps": "64 x 40K",
                       "loss": 1.7e-8, "failures_per_million": {"add": 3, "sub": 8}},
    "ins3_mix_d6_l4": {"config": "4/3/510 from add d6", "batch_x_steps": "64 x 40K",
                       "loss": 3.0e-4, "failures_per_million": {"add": 17, "sub": 3120}},
}  # fmt: skip


def paper_reference(name: str) -> dict[str, Any]:
    """The paper's figures for a zoo model, and which of our two rates they compare with."""
    key = name.removesuffix("_paper")
    if key not in PAPER_FIGURES:
        return {}
    return {
        **PAPER_FIGURES[key],
        "source": PAPER,
        "compare_with": "training",
        "why": "the papers draw their questions from their enriched training generator",
    }


DISTRIBUTIONS = ("uniform", "training")
PAPER_LISTS = ("ba", "uc1", "simple_us9", "cascade_us9", "step")  # the notebook's Part 8


def check(run_dir: Path, questions: int, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """The verification record of a card: both distributions, the complete suites, the papers'
    question lists. Every part can be re-run from the record alone (:func:`recheck`)."""
    from algolens.verify import verify

    run = load_run(run_dir)
    record: dict[str, Any] = {}
    for dist in DISTRIBUTIONS:
        res = verify(run.model, run.task, questions, dist, seed, progress=progress)  # type: ignore[arg-type]
        record[dist] = {"distribution": dist, "seed": seed, **res.to_dict()}
        record[dist]["examples"] = res.examples[:5]
        record[dist].pop("source")
    record["suites"] = suite_record(run)
    record["paper_lists"] = paper_list_record(run)
    return record


def suite_record(run: Any) -> dict[str, Any]:
    """The complete suites that fit the task: ``carry`` (add), ``borrow`` (sub), both for mix."""
    from algolens.verify import verify_suite

    names = {"add": ["carry"], "sub": ["borrow"], "mix": ["carry", "borrow"]}[run.task.op]
    out = {}
    for name in names:
        res = verify_suite(run.model, run.task, name)
        out[name] = {
            "questions": res.questions,
            "failures": res.failures,
            "by_class": {c: v for c, v in res.by_class.items()},
            "examples": res.examples[:5],
        }
    return out


def paper_list_record(run: Any) -> dict[str, list[int]] | None:
    """Per list of the notebook's Part 8, [wrong, total]; None where they do not apply (the
    lists are addition questions of 5 or more digits)."""
    from algolens.verify import verify_suite

    if run.task.op == "sub" or run.task.n_digits < 5:
        return None
    out = {}
    for name in PAPER_LISTS:
        res = verify_suite(run.model, run.task, name)
        out[name] = [res.failures, res.questions]
    return out


def recheck(name: str, quick: bool = False, progress: bool = False) -> list[dict[str, Any]]:
    """Re-run a card's verification and compare: one row per recorded number.

    ``quick`` re-verifies only each distribution's first questions (the recorded ``prefix``),
    the suites and the lists; the full check re-draws every recorded question.
    """
    from algolens.verify import PREFIX_QUESTIONS, verify

    card = read_card(name)
    record = card.get("verification")
    if not record:
        raise AlgolensError(f"zoo model {name!r} has no verification record to check")
    run = load_run(zoo_path(name))
    rows = []
    for dist in DISTRIBUTIONS:
        rec = record[dist]
        short = quick and rec.get("prefix") is not None
        n = PREFIX_QUESTIONS if short else rec["questions"]
        res = verify(run.model, run.task, n, dist, rec["seed"], progress=progress)  # type: ignore[arg-type]
        want = rec["prefix"][1] if short else rec["failures"]
        rows.append(_row(f"{dist}: failures in {n:,}", want, res.failures))
        if not short:
            got = {c: [v[0], v[1]] for c, v in res.by_class.items()}
            want_classes = {c: [v["questions"], v["failures"]] for c, v in rec["by_class"].items()}
            rows.append(_row(f"{dist}: by class", want_classes, got))
    for suite, rec in suite_record(run).items():
        rows.append(_row(f"suite {suite}", record["suites"][suite]["failures"], rec["failures"]))
    lists = paper_list_record(run)
    rows.append(_row("paper lists [wrong, total]", record.get("paper_lists"), lists))
    return rows


def refresh_verification(name: str, questions: int, progress: bool = False) -> dict[str, Any]:
    """Measure a shipped model's verification record again (the current question streams and
    record format) and write it into its card; everything else on the card is kept."""
    card = read_card(name)
    card["verification"] = check(zoo_path(name), questions, progress=progress)
    card.pop("seed_reference", None)
    card["paper_reference"] = paper_reference(name)
    write_json(zoo_path(name) / CARD, card)
    return card


def _row(what: str, recorded: Any, measured: Any) -> dict[str, Any]:
    return {"check": what, "recorded": recorded, "measured": measured, "same": recorded == measured}


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
        "paper_reference": paper_reference(name),
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
