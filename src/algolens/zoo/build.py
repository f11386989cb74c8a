"""Train, check and package zoo models; retrain one from its own config; re-check a card.

``build(name, preset)`` trains a recipe, measures the family's card record and copies the run
into the package. ``retrain(name, out)`` trains again from the shipped ``config.json`` (the
mimic init of a LEGO variant included) and measures the new run the same way. ``recheck(name)``
measures a card's numbers again (``algolens zoo check``).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from algolens import store
from algolens.config import RunConfig
from algolens.errors import AlgolensError
from algolens.families import family_of
from algolens.runs import Run, load_run, train_run, zoo_path
from algolens.zoo import CARD, read_card

if TYPE_CHECKING:
    from algolens.families import Family, Preset
    from algolens.plan import RunPlan
    from algolens.train import TrainResult

ARCHITECTURE = (
    "n_layers",
    "n_heads",
    "d_model",
    "d_head",
    "d_mlp",
    "conv_kernel",
    "tie_layers",
    "d_in",
    "d_out",
)


def final_loss(metrics: list[dict[str, Any]], last: int = 5) -> float | None:
    tail = [r["loss"] for r in metrics[-last:] if "loss" in r]
    return sum(tail) / len(tail) if tail else None


def make_card(
    run: Run,
    wall_seconds: float,
    command: str,
    description: str = "",
    notes: str = "",
    questions: int = 1_000_000,
    progress: bool = False,
) -> dict[str, Any]:
    """A zoo card: what the model is, how it was trained, and the family's check of it."""
    config = run.config
    family = family_of(run.task.name)
    card: dict[str, Any] = {
        "name": run.name,
        "task": config.task,
        "description": description,
        "parameters": sum(p.numel() for p in run.model.parameters()),
        "architecture": {k: v for k, v in config.model.items() if k in ARCHITECTURE},
        "training": {
            "steps": run.metrics[-1]["step"] if run.metrics else 0,
            "schedule_steps": config.train.steps,
            "batch_size": config.train.batch_size,
            "lr": config.train.lr,
            "init": {k: v for k, v in vars(config.init).items() if k not in ("copied", "recopy")},
            "wall_seconds": round(wall_seconds, 1),
            "final_loss": final_loss(run.metrics),
            "command": command,
        },
    }
    if family.card is not None:
        card.update(family.card(run, questions, progress=progress))
    if notes:
        card["notes"] = notes
    return card


def package(run_dir: Path, name: str, card: dict[str, Any], zoo_dir: Path) -> Path:
    """Copy a run's shippable files into the zoo with its card."""
    dest = zoo_dir / name
    dest.mkdir(parents=True, exist_ok=True)
    for file in store.SHIPPED_FILES:
        shutil.copy2(run_dir / file, dest / file)
    store.write_json(dest / CARD, card)
    return dest


def retrain(
    name: str,
    out: Path,
    questions: int = 100_000,
    progress: bool = True,
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Train ``name`` again from the zoo copy's own config.json, then check it the same way."""
    config: RunConfig = store.read_config(zoo_path(name))
    if argv is not None:
        config = replace(config, provenance=replace(config.provenance, argv=argv))
    result = train_run(
        out, replace(config, init=replace(config.init, copied=[], recopy=[])), progress=progress
    )
    if result.interrupted:  # a half-trained model gets no card
        raise AlgolensError(f"training stopped at step {result.steps}: no card for it")
    run = load_run(out)
    card = make_card(
        run, result.seconds, f"algolens zoo retrain {name}", questions=questions, progress=progress
    )
    original = read_card(name)
    card["original"] = {k: original.get(k) for k in ("verification", "evaluation") if k in original}
    store.write_json(Path(out) / CARD, card)
    return card


def recheck(
    name: str, quick: bool = False, progress: bool = False, record: bool = False
) -> list[dict[str, Any]]:
    """Measure a shipped model's card again: one row per recorded number. With ``record``, a
    check the card does not hold yet (a suite added after it was written) is measured and
    written into the card; numbers already recorded are never rewritten."""
    path = zoo_path(name)
    run = load_run(path)
    family = family_of(run.task.name)
    card = read_card(name)
    if family.recheck is None or not ({"verification", "evaluation"} & set(card)):
        raise AlgolensError(f"zoo model {name!r} has no record to check")
    rows = family.recheck(run, card, quick=quick, progress=progress, record=record)
    if any(row.get("recorded_now") for row in rows):
        store.write_json(path / CARD, card)
    return rows


def recipe(name: str) -> tuple[Preset, Family]:
    """The zoo recipe called ``name`` (a family preset of that name) and its family."""
    from algolens.families import all_presets

    found = [(task, p) for (task, preset_name), p in all_presets().items() if preset_name == name]
    if not found:
        raise AlgolensError(f"no zoo recipe {name!r}: see algolens presets")
    return found[0][1], family_of(found[0][0])


def _resume_build(out: Path, config: RunConfig, progress: bool) -> TrainResult:
    """Continue the build in ``out``: its stored recipe must be the one asked for."""
    from algolens.runs import resume_run

    if not (out / store.CONFIG).exists():
        raise AlgolensError(f"nothing to resume in {out}: start the build without --resume")
    if store.config_hash(store.read_config(out)) != store.config_hash(config):
        raise AlgolensError(f"{out} was started from another recipe: it cannot be resumed as this")
    return resume_run(out, progress=progress)


def _plan(name: str, preset: Preset, seed: int) -> RunPlan:
    """The recipe's run plan with ``seed``, its argv the ``zoo build`` command's."""
    from algolens.config import InitConfig, TrainConfig
    from algolens.options import from_dict
    from algolens.plan import plan

    train_cfg = from_dict(TrainConfig, {**preset.train, "seed": seed}, "training")
    init = from_dict(InitConfig, preset.init, "initialisation")
    argv = ["algolens", "zoo", "build", name, "--seed", str(seed)]
    return plan(preset.task, preset.model, train_cfg, init, name=name, argv=argv)


def build(
    name: str,
    work: Path,
    *,
    seed: int = 0,
    questions: int = 1_000_000,
    package_into: Path | None = None,
    progress: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """Train zoo recipe ``name`` with ``seed`` into ``work/name_sSEED``, measure its card and,
    with ``package_into``, copy it into the zoo as ``name``; ``resume`` continues an
    interrupted build from its checkpoint (the recipe must be the one it started with)."""
    preset, _ = recipe(name)
    config = _plan(name, preset, seed)
    out = Path(work) / f"{name}_s{seed}"
    if resume:
        result = _resume_build(out, config.config, progress)
    else:
        result = train_run(out, config, progress=progress)
    if result.interrupted:
        raise AlgolensError(f"training stopped at step {result.steps}: no card for it")
    run = load_run(out)
    card = make_card(
        run,
        result.seconds,
        f"algolens zoo build {name} --seed {seed}",
        preset.description,
        questions=questions,
        progress=progress,
    )
    card["training"]["cpu_seconds"] = round(result.cpu_seconds, 1)
    if resume:
        card["training"]["resumed"] = (
            "interrupted and resumed from its checkpoint: wall seconds add up every leg, CPU "
            "seconds count the last one; the metrics log holds every step"
        )
    card["training"]["recipe"] = {
        "task": preset.task,
        "model": preset.model,
        "train": preset.train,
        "init": preset.init,
        "cost": preset.cost,
    }
    store.write_json(out / CARD, card)
    if package_into is not None:
        return package_build(name, Path(work), seed, package_into)
    return card


def _spread_row(card: dict[str, Any], seed: int) -> dict[str, Any]:
    """One seed's row of the spread, from its card's verification and training time."""
    v = card["verification"]
    suites = v.get("suites", {})
    return {
        "seed": seed,
        "failures_per_million": v["training"]["failures_per_million"],
        "uniform_failures_per_million": v.get("uniform", {}).get("failures_per_million"),
        "suite_failures": sum(r["failures"] for r in suites.values()),
        "suites": {k: [r["failures"], r["questions"]] for k, r in suites.items()},
        "train_seconds": card["training"].get("wall_seconds"),
        "questions": v["training"]["questions"],
    }


def _shipped_rows(shipped: Path | None, recipe: dict[str, Any]) -> list[dict[str, Any]]:
    """The seeds a zoo copy already records for ``recipe``: its spread's rows and its own
    (seed from its config.json), so a seed built on another machine stays in the spread."""
    if shipped is None or not (shipped / CARD).exists():
        return []
    card = store.read_json(shipped / CARD, "zoo card")
    if card.get("training", {}).get("recipe") != recipe:
        return []
    rows = list(card.get("seed_spread", {}).get("seeds", []))
    if "training" in card.get("verification", {}) and (shipped / store.CONFIG).exists():
        seed = store.read_json(shipped / store.CONFIG, "run config")["train"]["seed"]
        rows.append(_spread_row(card, int(seed)))
    return rows


def seed_spread(
    name: str, work: Path, recipe: dict[str, Any], shipped: Path | None = None
) -> dict[str, Any]:
    """The card's ``seed_spread``: one row per finished build of ``name`` in ``work``
    (``NAME_sSEED/card.json``) with this recipe, and per seed the zoo copy ``shipped`` records
    with it (a build in ``work`` replaces its seed's row); each row holds the seed's
    training-distribution and uniform failures per million, its suites' failures and its
    training time; ``verified`` counts the seeds with no training-distribution failure."""
    by_seed = {r["seed"]: r for r in _shipped_rows(shipped, recipe)}
    for path in sorted(Path(work).glob(f"{name}_s*/{CARD}")):
        card = store.read_json(path, "zoo card")
        if card.get("training", {}).get("recipe") != recipe:
            continue
        if "training" in card.get("verification", {}):
            seed = int(path.parent.name.rsplit("_s", 1)[1])
            by_seed[seed] = _spread_row(card, seed)
    rows = [by_seed[seed] for seed in sorted(by_seed)]
    clean = sum(r["failures_per_million"] == 0 for r in rows)
    return {
        "command": f"algolens zoo build {name} --seed SEED (each seed), then --package-only",
        "questions": " or ".join(sorted({f"{r['questions']:,}" for r in rows}))
        + " questions of each distribution and every suite, per seed",
        "seeds": rows,
        "verified": f"{clean} of {len(rows)} seeds",
    }


def package_build(name: str, work: Path, seed: int, zoo_dir: Path) -> dict[str, Any]:
    """Ship the finished build ``work/NAME_sSEED`` (trained and carded by :func:`build`) into
    the zoo as ``name``; its card gains the spread over every seed built with this recipe, in
    ``work`` or recorded by the zoo copy it replaces."""
    out = Path(work) / f"{name}_s{seed}"
    if not (out / CARD).exists():
        raise AlgolensError(f"{out} holds no finished build (no {CARD}): run zoo build first")
    card = store.read_json(out / CARD, "zoo card")
    recipe = card["training"].get("recipe")
    card["seed_spread"] = seed_spread(name, work, recipe, shipped=Path(zoo_dir) / name)
    store.write_json(out / CARD, card)
    package(out, name, card, zoo_dir)
    return card
