"""Time to verified accuracy: the CPU recipe for 5-digit addition vs the seeds' recipe.

Trains the CPU recipe (``algolens train add --preset cpu``: 2 layers, 3 heads, d_model 96, batch
256, AdamW 3e-3) and verifies the result on a million questions from the enriched training
generator and on the whole cascade suite. In the same run it times steps of the seeds' recipe
(2 layers, 3 heads, d_model 510, batch 64, AdamW 8e-5, 15,000 steps to their reported accuracy)
and reports the ratio of time-to-accuracy. One JSON line per measurement.

    .venv/bin/python benchmarks/time_to_accuracy.py [--questions 1000000] [--seed-steps 20]
        [--steps N (shorter training, for a smoke test only)]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from algolens.families import make_task, resolve_preset
from algolens.families.arithmetic.suites import verify_suite
from algolens.models import Transformer, TransformerConfig
from algolens.runs import load_run, train
from algolens.tasks import Batch, answer_logprobs
from algolens.train import TrainConfig, lr_at
from algolens.verify import default_batch_size, verify_batches

SEED_STEPS = 15_000


def enriched_batches(
    task: Any, questions: int, seed: int, batch_size: int, sample_batch_size: int = 64
) -> Iterator[Batch]:
    """``questions`` seeded questions from the enriched training generator (``task.sample``),
    drawn in training-sized chunks of ``sample_batch_size`` (enrichment is decided per chunk)."""
    gen = torch.Generator().manual_seed(seed)
    done = 0
    while done < questions:
        size = min(batch_size, questions - done)
        yield Batch.cat(
            [
                task.sample(min(sample_batch_size, size - start), gen)
                for start in range(0, size, sample_batch_size)
            ]
        )
        done += size


def check(run_dir: Path, questions: int, seed: int = 0) -> dict[str, Any]:
    """Failures on ``questions`` enriched training questions and on the cascade suite: the
    record this benchmark read from ``algolens.zoo.build.check`` when it was written (that
    function now records other things, and ``verify``'s ``training`` distribution now draws
    the mixture one question at a time)."""
    run = load_run(run_dir)
    batches = enriched_batches(run.task, questions, seed, default_batch_size(run.model))
    result = verify_batches(run.model, run.task, batches, f"{questions:,} enriched questions")
    cascade = verify_suite(run.model, run.task, "cascade")
    return {
        "questions": result.questions,
        "failures": result.failures,
        "cascade_suite": {"questions": cascade.questions, "failures": cascade.failures},
    }


def seed_step_seconds(n_steps: int) -> float:
    """Median-free mean step time of the seeds' recipe with our trainer's step."""
    task = make_task("add", n_digits=5)
    model = Transformer(
        TransformerConfig(
            n_layers=2, n_heads=3, d_model=510, n_ctx=task.n_ctx, d_vocab=task.d_vocab
        )
    )
    cfg = TrainConfig(steps=SEED_STEPS, batch_size=64, lr=8e-5)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=0.1, betas=(0.9, 0.98), fused=True
    )
    gen = torch.Generator().manual_seed(0)

    def step(i: int) -> None:
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, i)
        batch = task.sample(cfg.batch_size, gen)
        loss = -answer_logprobs(task, model, batch.inputs, batch.targets).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(0)
    start = time.perf_counter()
    for i in range(n_steps):
        step(i + 1)
    return (time.perf_counter() - start) / n_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=1_000_000)
    parser.add_argument("--seed-steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train the CPU recipe for this many steps instead (smoke test; default: the recipe's)",
    )
    args = parser.parse_args()

    recipe = resolve_preset("add", "cpu")
    if args.steps is not None:
        recipe.train["steps"] = args.steps
    work = args.out or Path(tempfile.mkdtemp(prefix="tta_"))
    out = work / "add_d5_cpu"
    start = time.perf_counter()
    train(out, recipe.task, recipe.model, recipe.train, progress=False)
    wall = time.perf_counter() - start
    record = check(out, args.questions)
    steps, batch = recipe.train["steps"], recipe.train["batch_size"]
    ours = {
        "benchmark": "time_to_accuracy",
        "recipe": "cpu (2L 3H d_model 96, batch 256, lr 3e-3)",
        "train_seconds": round(wall, 1),
        "steps": steps,
        "examples": steps * batch,
        "questions": record["questions"],
        "failures": record["failures"],
        "cascade_suite_failures": record["cascade_suite"]["failures"],
        "cascade_suite_questions": record["cascade_suite"]["questions"],
        "verified": record["failures"] == 0 and record["cascade_suite"]["failures"] == 0,
    }
    print(json.dumps(ours), flush=True)
    step_s = seed_step_seconds(args.seed_steps)
    seed_wall = step_s * SEED_STEPS
    print(
        json.dumps(
            {
                "benchmark": "seed_recipe",
                "recipe": "seeds (2L 3H d_model 510, batch 64, lr 8e-5)",
                "step_seconds": round(step_s, 3),
                "steps": SEED_STEPS,
                "examples": SEED_STEPS * 64,
                "train_seconds_estimated": round(seed_wall, 1),
            }
        ),
        flush=True,
    )
    print(
        json.dumps(
            {"benchmark": "time_to_accuracy_ratio", "seed_over_ours": round(seed_wall / wall, 2)}
        )
    )


if __name__ == "__main__":
    main()
