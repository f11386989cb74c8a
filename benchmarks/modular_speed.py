"""Modular addition speed: our CPU recipes to the issue's targets, the seeds' recipes, Grokfast.

Measurements (one JSON line each):

- ``bussmann_mlp``: ``--preset bussmann-fast`` (the seeds' MLP recipe plus Grokfast) until
  validation accuracy is 100% (target <= 60 s), and the seeds' ``--preset bussmann`` to the
  same target within the budget;
- ``nanda_transformer``: ``--preset nanda-fast`` (AdamW 3e-3, wd 3) until validation loss
  < 1e-3 (target <= 300 s), and the seeds' ``--preset nanda`` within the budget;
- ``grokfast_mlp`` / ``grokfast_tf``: the fast preset with Grokfast (alpha 0.98, lamb 2) and
  without it, steps and seconds to the same target, and their ratios (off / on).

A run that misses its target within the budget or its schedule reports ``reached: false``, and
a ratio against it is a lower bound. Each run trains in chunks of ``--chunk`` steps (resuming
the run directory) so a wall-clock budget can end it. Wall and process-CPU seconds are both
printed, with the load average: wall time inflates when the machine is shared.

    .venv/bin/python benchmarks/modular_speed.py [--only mlp,tf,grokfast_mlp,grokfast_tf]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from algolens.families import resolve_preset
from algolens.runs import resume_run, train
from algolens.store import read_metrics
from algolens.train import TrainConfig
from algolens.train.stopping import stop_rule

GROKFAST = {"grokfast_alpha": 0.98, "grokfast_lamb": 2.0}


def time_to_target(
    preset: str, stop_when: str, budget: float, chunk: int, extra: dict[str, Any]
) -> dict[str, Any]:
    """Train ``preset`` (plus ``extra`` settings) until ``stop_when`` holds or time is up."""
    recipe = resolve_preset("modadd", preset)
    cfg = TrainConfig(**{**recipe.train, **extra, "stop_when": stop_when})
    out = Path(tempfile.mkdtemp()) / preset
    met = stop_rule(stop_when)
    assert met is not None
    wall0, cpu0 = time.perf_counter(), time.process_time()
    train(out, recipe.task, recipe.model, cfg, progress=False, stop_after=chunk)
    rows = read_metrics(out)
    while not (rows and met(rows[-1])) and rows[-1]["step"] < cfg.steps:
        if time.perf_counter() - wall0 > budget:
            break
        resume_run(out, progress=False, stop_after=chunk)
        rows = read_metrics(out)
    last = rows[-1]
    return {
        "reached": bool(met(last)),
        "steps": int(last["step"]),
        "wall_s": round(time.perf_counter() - wall0, 1),
        "cpu_s": round(time.process_time() - cpu0, 1),
        **{k: round(last[k], 6) for k in ("train_acc", "val_acc", "val_loss") if k in last},
    }


def emit(row: dict[str, Any]) -> None:
    row["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="mlp,tf,grokfast_mlp,grokfast_tf")
    ap.add_argument("--budget", type=float, default=600.0, help="wall seconds per run")
    ap.add_argument("--chunk", type=int, default=250, help="steps between budget checks")
    args = ap.parse_args()
    only = set(args.only.split(","))
    rows = (
        ("mlp", "bussmann_mlp", "bussmann", "val_acc>=1", 60),
        ("tf", "nanda_transformer", "nanda", "val_loss<1e-3", 300),
    )
    for key, name, seed_preset, target, target_s in rows:
        if key not in only:
            continue
        ours = time_to_target(f"{seed_preset}-fast", target, args.budget, args.chunk, {})
        seeds = time_to_target(seed_preset, target, args.budget, args.chunk, {})
        emit({"benchmark": name, "target": target, "target_s": target_s,
              "ours": ours, "seed_recipe": seeds,
              "within_target": ours["reached"] and ours["wall_s"] <= target_s,
              "wall_ratio_seed_ours": round(seeds["wall_s"] / ours["wall_s"], 2),
              "ratio_is_lower_bound": not seeds["reached"]})  # fmt: skip
    for key, preset, target in (
        ("grokfast_mlp", "bussmann-fast", "val_acc>=1"),
        ("grokfast_tf", "nanda-fast", "val_loss<1e-3"),
    ):
        if key not in only:
            continue
        on = time_to_target(preset, target, args.budget, args.chunk, GROKFAST)
        off = time_to_target(preset, target, args.budget, args.chunk, {"grokfast_lamb": 0.0})
        emit({
            "benchmark": key, "target": target, "grokfast_on": on, "grokfast_off": off,
            "steps_ratio_off_on": round(off["steps"] / on["steps"], 2),
            "cpu_ratio_off_on": round(off["cpu_s"] / max(on["cpu_s"], 1e-9), 2),
            "ratio_is_lower_bound": not off["reached"],
        })  # fmt: skip


if __name__ == "__main__":
    main()
