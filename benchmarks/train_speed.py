"""Training step time: algolens's Transformer vs TransformerLens's own model, same config.

For each configuration both models run the same step (a fresh enriched 5-digit addition batch,
forward, float64 answer loss, backward, AdamW). Rounds alternate between the two so that load on
the machine hits both alike; the median step time of each is reported with the ratio
(TransformerLens / ours: above 1 means ours is faster). One JSON line per measurement.

Each line also says how close a step comes to the machine's roof: the step's matmul FLOPs
(forward and backward, counted by torch's FlopCounterMode) over its time, against the FLOP
rate of the fastest large float32 (and bfloat16) matrix product measured in the same run. And
our step again under bfloat16 autocast (``precision = "bfloat16"`` in the training config),
with its ratio to float32; and our step on one thread against all of them (a sweep run on a
local Ray gets the cores shared among the runs at once, where Ray alone gives it one).

    .venv/bin/python benchmarks/train_speed.py [--rounds 5] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import torch

from algolens.families import make_task
from algolens.models import Transformer, TransformerConfig
from algolens.tasks import answer_logprobs

CONFIGS = {
    "seed (2 layers, 3 heads, d_model 510, batch 64)": (
        {"n_layers": 2, "n_heads": 3, "d_model": 510},
        64,
    ),
    "small (2 layers, 4 heads, d_model 96, batch 256)": (
        {"n_layers": 2, "n_heads": 4, "d_model": 96},
        256,
    ),
}


def transformer_lens_model(spec: dict, n_ctx: int, d_vocab: int) -> torch.nn.Module:
    from transformer_lens import TransformerBridge

    d_head = spec["d_model"] // spec["n_heads"]
    cfg = {
        **spec,
        "d_head": d_head,
        "d_mlp": 4 * spec["d_model"],
        "n_ctx": n_ctx,
        "d_vocab": d_vocab,
        "act_fn": "relu",
        "normalization_type": "LN",
        "seed": 0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TransformerBridge.boot_native(cfg)


def make_step(
    model: torch.nn.Module, opt: torch.optim.Optimizer, task, batch_size: int, half: bool = False
):
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        batch = task.sample(batch_size, gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=half):
            loss = -answer_logprobs(task, model, batch.inputs, batch.targets).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def step_flops(step) -> float:
    """Matmul FLOPs of one training step (forward and backward), counted by torch's
    FlopCounterMode on the step itself: our model's answer-only readout skips work a formula
    would count."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def roof(
    dtype: torch.dtype, sizes: tuple[int, ...] = (512, 1024, 2048), repeats: int = 10
) -> float:
    """FLOP/s of the fastest of a few large square matrix products in ``dtype`` here."""
    best = 0.0
    for size in sizes:
        a = torch.randn(size, size).to(dtype)
        b = torch.randn(size, size).to(dtype)
        for _ in range(3):
            a @ b
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2.0 * size**3 * repeats / (time.perf_counter() - start))
    return best


def time_steps(step, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def one_thread_ratio(step, rounds: int, n: int) -> float:
    """Our step's time on one thread over its time on all of them: what a sweep run gains from
    the cores ``--workers 1`` gives it, where Ray alone books each run one CPU."""
    cores = torch.get_num_threads()
    one, every = [], []
    try:
        for _ in range(rounds):
            torch.set_num_threads(1)
            one.append(time_steps(step, n))
            torch.set_num_threads(cores)
            every.append(time_steps(step, n))
    finally:
        torch.set_num_threads(cores)
    return statistics.median(one) / statistics.median(every)


def make_steps(spec: dict, batch_size: int, task) -> dict:
    """One step each of ours, TransformerLens's and ours under bfloat16 autocast."""
    ours = Transformer(TransformerConfig(**spec, n_ctx=task.n_ctx, d_vocab=task.d_vocab))
    ours_half = Transformer(ours.cfg)
    theirs = transformer_lens_model(spec, task.n_ctx, task.d_vocab)
    return {
        # our trainer's optimizer (fused AdamW) vs TransformerLens's default AdamW
        "algolens": make_step(
            ours, torch.optim.AdamW(ours.parameters(), lr=1e-4, fused=True), task, batch_size
        ),
        "transformer_lens": make_step(
            theirs, torch.optim.AdamW(theirs.parameters(), lr=1e-4), task, batch_size
        ),
        "algolens_bf16": make_step(
            ours_half,
            torch.optim.AdamW(ours_half.parameters(), lr=1e-4, fused=True),
            task,
            batch_size,
            half=True,
        ),
    }


def measure(name: str, spec: dict, batch_size: int, task, roofs: dict, args) -> dict:
    """One configuration's JSON line: medians of alternating rounds, ratios and roof fractions."""
    steps = make_steps(spec, batch_size, task)
    for step in steps.values():  # warm up
        step()
        step()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.rounds):
        for key, step in steps.items():
            times[key].append(time_steps(step, args.steps))
    ours_s = statistics.median(times["algolens"])
    theirs_s = statistics.median(times["transformer_lens"])
    half_s = statistics.median(times["algolens_bf16"])
    flops = step_flops(steps["algolens"])
    return {
        "benchmark": "train_step",
        "config": name,
        "batch_size": batch_size,
        "algolens_ms": round(ours_s * 1e3, 1),
        "transformer_lens_ms": round(theirs_s * 1e3, 1),
        "ratio_tl_over_ours": round(theirs_s / ours_s, 2),
        "algolens_bf16_autocast_ms": round(half_s * 1e3, 1),
        "ratio_fp32_over_bf16_autocast": round(ours_s / half_s, 2),
        "step_gflop": round(flops / 1e9, 3),
        "roof_gflops": {k: round(v / 1e9, 1) for k, v in roofs.items()},
        "fraction_of_fp32_roof": round(flops / ours_s / roofs["float32"], 3),
        "bf16_fraction_of_bf16_roof": round(flops / half_s / roofs["bfloat16"], 3),
        "threads": torch.get_num_threads(),
        "ratio_one_thread_over_all": round(
            one_thread_ratio(steps["algolens"], args.rounds, args.steps), 2
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    task = make_task("add", n_digits=5)
    roofs = {"float32": roof(torch.float32), "bfloat16": roof(torch.bfloat16)}
    for name, (spec, batch_size) in CONFIGS.items():
        print(json.dumps(measure(name, spec, batch_size, task, roofs, args)), flush=True)


if __name__ == "__main__":
    main()
