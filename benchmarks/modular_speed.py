"""Modular addition speed: the seeds' two recipes to their targets, and Grokfast on versus off.

Measurements (one JSON line each):

- ``bussmann_mlp``: ``--preset bussmann`` until validation accuracy is 100% (target <= 60 s);
- ``nanda_transformer``: ``--preset nanda`` with Grokfast (our speed trick) until validation loss
  < 1e-3 (target <= 300 s);
- ``grokfast_mlp`` / ``grokfast_transformer``: steps and seconds to the same target with Grokfast
  (alpha 0.98, lamb 2) and without, and their ratios (off / on). A run that misses its target
  within the budget reports ``reached: false`` and its ratio is a lower bound.

Each run trains in chunks of ``--chunk`` steps (resuming the run directory) so a wall-clock
budget can end it. Wall and process-CPU seconds are both printed: the machine is shared, and
wall time inflates under contention while CPU time much less so.

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

from algolens.presets import resolve
from algolens.store import read_metrics
from algolens.train import TrainConfig, parse_stop_when, train

GROKFAST = {"grokfast_alpha": 0.98, "grokfast_lamb": 2.0}


def time_to_target(
    preset: str, stop_when: str, budget: float, chunk: int, extra: dict[str, Any]
) -> dict[str, Any]:
    """Train ``preset`` (plus ``extra`` settings) until ``stop_when`` holds or time is up."""
    recipe = resolve("modadd", preset)
    cfg = TrainConfig(**{**recipe.train, **extra, "stop_when": stop_when})
    out = Path(tempfile.mkdtemp()) / preset
    met = parse_stop_when(stop_when)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    train(out, recipe.task, recipe.model, cfg, progress=False, stop_after=chunk)
    rows = read_metrics(out)
    while not (rows and met(rows[-1])) and rows[-1]["step"] < cfg.steps:
        if time.perf_counter() - wall0 > budget:
            break
        train(out, resume=True, progress=False, stop_after=chunk)
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
    ap.add_argument("--only", default="mlp,tf,grokfast_mlp", help="comma-separated measurements")
    ap.add_argument("--budget", type=float, default=900.0, help="wall seconds per run")
    ap.add_argument("--chunk", type=int, default=250, help="steps between budget checks")
    args = ap.parse_args()
    only = set(args.only.split(","))

    if "mlp" in only:
        res = time_to_target("bussmann", "val_acc>=1", args.budget, args.chunk, {})
        emit({"benchmark": "bussmann_mlp", "target": "val_acc == 1", "target_s": 60, **res,
              "ratio_to_target": round(res["wall_s"] / 60, 2)})  # fmt: skip
    if "tf" in only:
        res = time_to_target("nanda", "val_loss<1e-3", args.budget, args.chunk, GROKFAST)
        emit({"benchmark": "nanda_transformer", "target": "val_loss < 1e-3", "target_s": 300,
              "grokfast": True, **res,
              "ratio_to_target": round(res["wall_s"] / 300, 2)})  # fmt: skip
    for name, preset, target in (
        ("grokfast_mlp", "bussmann", "val_acc>=0.99"),
        ("grokfast_tf", "nanda", "val_loss<1e-3"),
    ):
        if name not in only:
            continue
        on = time_to_target(preset, target, args.budget, args.chunk, GROKFAST)
        off = time_to_target(preset, target, args.budget, args.chunk, {})
        emit({
            "benchmark": name, "target": target, "grokfast_on": on, "grokfast_off": off,
            "steps_ratio_off_on": round(off["steps"] / on["steps"], 2),
            "cpu_ratio_off_on": round(off["cpu_s"] / max(on["cpu_s"], 1e-9), 2),
            "ratio_is_lower_bound": not off["reached"],
        })  # fmt: skip


if __name__ == "__main__":
    main()
