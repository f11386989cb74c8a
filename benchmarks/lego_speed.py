"""LEGO speed: time for a small encoder to reach 99% on the trained chain positions (n=12, k=6).

Trains one variant (default: random init, 6 layers, d_model 128) in chunks of ``--log-every``
steps and stops when the validation accuracy on chain positions 1..6 reaches ``--target`` or
the wall-clock budget (default 600 s, the issue's 10 minutes) runs out. Prints one JSON line
with wall and process-CPU seconds, their ratio to the budget, the steps, and the final
accuracy at every chain position (the extrapolation to positions 7..12 included). CPU seconds
are printed too because the machine is shared: wall time inflates under contention.

    .venv/bin/python benchmarks/lego_speed.py [--variant tied] [--budget 600] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from algolens.analysis.lego import position_accuracies
from algolens.models.lego_mimic import MimicConfig
from algolens.models.lego_variants import train_variant
from algolens.store import load_run, read_metrics
from algolens.train import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="random", help="random, mimic, tied or conv")
    ap.add_argument("--conv-kernel", type=int, default=0, help="conv q/k/v kernel (any variant)")
    ap.add_argument("--mimic-window", type=int, default=2, help="manipulation window (mimic)")
    ap.add_argument("--mimic-steps", type=int, default=300, help="mimic pre-training steps")
    ap.add_argument("--mimic-lr", type=float, default=1e-3, help="mimic pre-training lr")
    ap.add_argument(
        "--parent-heads",
        type=int,
        default=0,
        help="heads per layer mimicking the parent template (mimic)",
    )
    ap.add_argument("--max-vars", type=int, default=14, help="sets n_ctx = 5 * max_vars")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--d-mlp", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--steps", type=int, default=3000, help="schedule length (cosine decay)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--budget", type=float, default=600.0, help="wall seconds")
    ap.add_argument("--out", type=Path, default=None, help="keep the run here")
    args = ap.parse_args()

    task = {"name": "lego", "n_vars": 12, "train_k": 6, "max_vars": args.max_vars}
    model = {"n_layers": args.layers, "n_heads": args.heads, "d_model": args.d_model,
             "d_mlp": args.d_mlp}  # fmt: skip
    if args.conv_kernel:
        model["conv_kernel"] = args.conv_kernel
    out = args.out or Path(tempfile.mkdtemp()) / "lego_speed"
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      warmup_frac=0.05, log_every=args.log_every, weight_decay=0.01,
                      checkpoint_every=args.steps)  # fmt: skip
    wall0, cpu0 = time.perf_counter(), time.process_time()
    # the first chunk creates the run (and the mimic init); later chunks resume it
    mimic = MimicConfig(window=args.mimic_window, steps=args.mimic_steps, lr=args.mimic_lr,
                        n_parent=args.parent_heads)  # fmt: skip
    train_variant(out, args.variant, task, model, cfg, mimic, progress=False,
                  stop_after=args.log_every)  # fmt: skip
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
        train(out, resume=True, progress=False, stop_after=args.log_every)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    run = load_run(out)
    acc = position_accuracies(run.model, run.task, 2048, seed=99)
    print(json.dumps({
        "benchmark": "lego_speed", "variant": args.variant, "layers": args.layers,
        "d_model": args.d_model, "lr": args.lr, "conv_kernel": args.conv_kernel,
        "mimic": {"window": args.mimic_window, "steps": args.mimic_steps,
                  "parent_heads": args.parent_heads} if args.variant == "mimic" else None,
        "n_vars": 12, "train_k": 6, "target": args.target,
        "reached_target": reached is not None, "steps": rows[-1]["step"],
        "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
        "wall_over_budget": round(wall / args.budget, 3),
        "acc_trained": round(sum(acc[:6]) / 6, 4), "acc_untrained": round(sum(acc[6:]) / 6, 4),
        "accuracy_by_position": [round(a, 4) for a in acc], "run": str(out),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
