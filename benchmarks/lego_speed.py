"""LEGO speed: time for a small encoder to reach 99% on the trained chain positions (n=12, k=6).

Trains each variant (default: ``parent``, the mimic init with the parent template and conv
q/k/v, then ``random``, the paper's random-init encoder, as the reference; both with deep
supervision, 6 layers, d_model 128) in chunks of ``--log-every`` steps and
stops when the validation accuracy on chain positions 1..6 reaches ``--target`` or the wall-clock
budget (default 600 s, the issue's 10 minutes) runs out. Prints one JSON line per variant with
wall and process-CPU seconds (mimic init included), their ratio to the budget, the steps, and the
final accuracy at every chain position on 2,048 fresh sentences, the extrapolation to positions
7..12 included. CPU seconds are printed too because wall time inflates on a shared machine.

    .venv/bin/python benchmarks/lego_speed.py [--variant parent] [--budget 600] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from algolens.config import InitConfig
from algolens.families.lego.analysis import position_accuracies
from algolens.families.lego.mimic import MimicConfig
from algolens.families.lego.variants import MIMIC_VARIANTS, VARIANTS, variant_mimic
from algolens.runs import load_run, resume_run, train
from algolens.store import read_metrics
from algolens.train import TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="parent,random",
                    help="comma-separated, from " + ",".join(VARIANTS))  # fmt: skip
    ap.add_argument("--conv-kernel", type=int, default=0, help="conv q/k/v kernel (any variant)")
    ap.add_argument("--layer-loss", type=float, default=1.0, help="deep supervision weight")
    ap.add_argument("--mimic-window", type=int, default=3, help="manipulation window (mimic)")
    ap.add_argument("--mimic-steps", type=int, default=150, help="mimic pre-training steps")
    ap.add_argument("--mimic-lr", type=float, default=3e-3, help="mimic pre-training lr")
    ap.add_argument("--parent-heads", type=int, default=0,
                    help="parent-template heads per layer (mimic; parent has 1)")  # fmt: skip
    ap.add_argument("--max-vars", type=int, default=14, help="sets n_ctx = 5 * max_vars")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--d-mlp", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=3000, help="schedule length (cosine decay)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--budget", type=float, default=600.0, help="wall seconds")
    ap.add_argument("--out", type=Path, default=None, help="keep the run here")
    args = ap.parse_args()

    # the stopping test reads 2,048 validation sentences (512 flicker by about 1 point)
    task = {"name": "lego", "n_vars": 12, "train_k": 6, "max_vars": args.max_vars,
            "eval_size": 2048}  # fmt: skip
    model = {"n_layers": args.layers, "n_heads": args.heads, "d_model": args.d_model,
             "d_mlp": args.d_mlp}  # fmt: skip
    if args.conv_kernel:
        model["conv_kernel"] = args.conv_kernel
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      warmup_frac=0.05, log_every=args.log_every, weight_decay=0.01,
                      checkpoint_every=args.steps, layer_loss=args.layer_loss)  # fmt: skip
    mimic = MimicConfig(window=args.mimic_window, steps=args.mimic_steps, lr=args.mimic_lr,
                        n_parent=args.parent_heads)  # fmt: skip
    root = args.out or Path(tempfile.mkdtemp())
    for variant in args.variant.split(","):
        print(json.dumps(measure(variant, root / variant, task, model, cfg, mimic, args)))


def measure(
    variant: str, out: Path, task: dict, model: dict, cfg: TrainConfig, mimic: MimicConfig,
    args: argparse.Namespace,
) -> dict:  # fmt: skip
    """Train ``variant`` until the target or the budget; its JSON record."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    # the first chunk creates the run (and the mimic init); later chunks resume it
    family = {"mimic": asdict(mimic)} if variant in MIMIC_VARIANTS else {}
    init = InitConfig(variant=variant, family=family)
    train(out, task, model, cfg, init=init, progress=False, stop_after=args.log_every)
    reached = None
    while True:
        rows = read_metrics(out)
        last = rows[-1]
        wall = time.perf_counter() - wall0
        if last["val_acc_trained"] >= args.target:
            reached = last["step"]
            break
        if wall >= args.budget or last["step"] >= args.steps:
            break
        resume_run(out, progress=False, stop_after=args.log_every)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    run = load_run(out)
    acc = position_accuracies(run.model, run.task, 2048, seed=99)
    used = run.config.init.family.get("mimic")  # the mimic init as run (parent: >= 1 parent head)
    used = used and asdict(variant_mimic(variant, MimicConfig.from_dict(used)))
    return {
        "benchmark": "lego_speed", "variant": variant, "layers": args.layers,
        "d_model": args.d_model, "lr": args.lr, "layer_loss": args.layer_loss,
        "conv_kernel": run.config.model["conv_kernel"], "max_vars": args.max_vars,
        "mimic": used and {k: used[k] for k in ("window", "steps", "lr", "n_parent")},
        "n_vars": 12, "train_k": 6, "target": args.target,
        "reached_target": reached is not None, "steps": rows[-1]["step"],
        "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
        "wall_over_budget": round(wall / args.budget, 3),
        "acc_trained": round(sum(acc[:6]) / 6, 4), "acc_untrained": round(sum(acc[6:]) / 6, 4),
        "accuracy_by_position": [round(a, 4) for a in acc], "run": str(out),
    }  # fmt: skip


if __name__ == "__main__":
    main()
