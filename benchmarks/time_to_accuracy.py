"""Time to verified accuracy: our CPU recipes against the papers' recipes, over seeds.

For a task (``add``, ``sub`` or ``mix``), trains our recipe once per seed (``add``: ``--preset
cpu``, 2 layers, 3 heads, d_model 96, batch 256, AdamW 3e-3; ``sub`` and ``mix``: the zoo's
``sub_d6_l2`` and ``mix_d6_l3`` recipes) and verifies each result on a million questions from
the enriched training generator and on the task's complete suites (carry for addition, borrow
for subtraction, both for mixed). It then prints the spread over seeds (failures per million
and wall time: min, median, max; how many seeds verified). In the same run it times steps of the
papers' recipe for the task (Quirke & Barez 2024; Quirke, Neo & Barez 2024: d_model 510-512,
batch 64, AdamW 8e-5, 15K steps for addition, 30K for subtraction, 40K for mixed) and reports
the ratio of their training time to our median. One JSON line per measurement.

    .venv/bin/python benchmarks/time_to_accuracy.py [--task add] [--seeds 0,1,2,3,4]
        [--questions 1000000] [--paper-steps 20]
        [--steps N (shorter training, for a smoke test only)]
    .venv/bin/python benchmarks/time_to_accuracy.py --zoo add_d15_l2 [--paper-steps 20]

``--zoo NAME`` covers the long recipes (10 and 15 digits) without training them again: it times
the zoo recipe's step and the papers' step at the same digit count in one run and reports the
ratio of their step time x steps, beside the card's measured training time.
"""

from __future__ import annotations

import argparse
import json
import statistics
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

DEFAULT_RECIPE = {"add": "cpu", "sub": "sub_d6_l2", "mix": "mix_d6_l3"}


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
    result = verify_batches(
        run.model, run.task, batches, source=f"{questions:,} enriched questions"
    )
    cascade = verify_suite(run.model, run.task, "cascade")
    return {
        "questions": result.questions,
        "failures": result.failures,
        "cascade_suite": {"questions": cascade.questions, "failures": cascade.failures},
    }


def step_seconds(task_cfg: dict, model_cfg: dict, train_cfg: dict, n_steps: int) -> float:
    """Mean time of one training step of a recipe (task, model and training sections), with our
    trainer's step."""
    task = make_task(task_cfg)
    sizes = {k: v for k, v in model_cfg.items() if k != "kind"}
    model = Transformer(TransformerConfig(**sizes, n_ctx=task.n_ctx, d_vocab=task.d_vocab))
    cfg = TrainConfig(**train_cfg)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98), fused=True
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


def paper_step_seconds(task_name: str, n_steps: int) -> tuple[float, int]:
    """Mean step time of the papers' recipe for ``task_name``, and the steps it trains for."""
    paper = resolve_preset(task_name, "paper")
    return step_seconds(paper.task, paper.model, paper.train, n_steps), paper.train["steps"]


# the papers' steps for n-digit addition (Quirke, Neo & Barez 2024, the newest version's table)
PAPER_ADD_STEPS = {5: 15_000, 6: 15_000, 7: 45_000, 8: 45_000, 9: 45_000, 10: 40_000,
                   11: 50_000, 15: 80_000}  # fmt: skip
PAPER_SUB_STEPS = {6: 30_000, 10: 75_000}


def zoo_ratio(name: str, n_steps: int) -> dict:
    """A zoo recipe (``add_d10_l2``, ``add_d15_l2``, ``sub_d10_l2``) against the papers' recipe at
    the same digit count: both step times measured here in this run, each times its steps (the
    zoo card's training time, measured when it was built, is reported beside)."""
    from algolens.zoo import read_card

    card = read_card(name)
    recipe = card["training"]["recipe"]
    task, n = recipe["task"], recipe["task"]["n_digits"]
    paper_steps = (PAPER_SUB_STEPS if task["name"] == "sub" else PAPER_ADD_STEPS)[n]
    paper_model = {"kind": "transformer", "n_layers": 2, "n_heads": 3, "d_model": 510}
    paper_train = {"steps": paper_steps, "batch_size": 64, "lr": 8e-5, "weight_decay": 0.1}
    ours = step_seconds(task, recipe["model"], recipe["train"], n_steps)
    paper = step_seconds({"name": task["name"], "n_digits": n}, paper_model, paper_train, n_steps)
    steps = recipe["train"]["steps"]
    return {
        "benchmark": "time_to_accuracy_zoo", "recipe": name, "n_digits": n,
        "ours_step_seconds": round(ours, 4), "ours_steps": steps,
        "ours_train_seconds_estimated": round(ours * steps, 1),
        "card_train_seconds": card["training"].get("wall_seconds"),
        "paper_step_seconds": round(paper, 4), "paper_steps": paper_steps,
        "paper_train_seconds_estimated": round(paper * paper_steps, 1),
        "paper_over_ours": round(paper * paper_steps / (ours * steps), 2),
    }  # fmt: skip


def one_seed(task_name: str, recipe_name: str, seed: int, work: Path, args: Any) -> dict:
    """Train our recipe with ``seed`` and verify it: one JSON record."""
    recipe = resolve_preset(task_name, recipe_name)
    recipe.train["seed"] = seed
    if args.steps is not None:
        recipe.train["steps"] = args.steps
    out = work / f"{task_name}_{recipe_name}_s{seed}"
    start = time.perf_counter()
    train(out, recipe.task, recipe.model, recipe.train, progress=False)
    wall = time.perf_counter() - start
    record = check(out, args.questions)
    m, t = recipe.model, recipe.train
    return {
        "benchmark": "time_to_accuracy",
        "task": task_name,
        "recipe": f"{recipe_name} ({m['n_layers']}L {m['n_heads']}H d_model {m['d_model']}, "
        f"batch {t['batch_size']}, lr {t['lr']})",
        "seed": seed,
        "train_seconds": round(wall, 1),
        "steps": t["steps"],
        "examples": t["steps"] * t["batch_size"],
        "questions": record["questions"],
        "failures": record["failures"],
        "failures_per_million": round(record["failures"] * 1e6 / record["questions"], 2),
        "cascade_suite_failures": record["cascade_suite"]["failures"],
        "cascade_suite_questions": record["cascade_suite"]["questions"],
        "verified": record["failures"] == 0 and record["cascade_suite"]["failures"] == 0,
    }


def spread(rows: list[dict]) -> dict:
    """Min, median and max over seeds of failures per million and wall time."""

    def mmm(key: str) -> list[float]:
        values = [r[key] for r in rows]
        return [min(values), statistics.median(values), max(values)]

    return {
        "benchmark": "time_to_accuracy_seeds",
        "task": rows[0]["task"],
        "seeds": [r["seed"] for r in rows],
        "verified": f"{sum(r['verified'] for r in rows)} of {len(rows)}",
        "failures_per_million_min_median_max": mmm("failures_per_million"),
        "suite_failures_min_median_max": mmm("cascade_suite_failures"),
        "train_seconds_min_median_max": mmm("train_seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(DEFAULT_RECIPE), default="add")
    parser.add_argument("--recipe", default=None, help="our preset (default: per task)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2,3,4")
    parser.add_argument("--questions", type=int, default=1_000_000)
    parser.add_argument("--paper-steps", type=int, default=20, help="papers' steps to time")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train our recipe for this many steps instead (smoke test; default: the recipe's)",
    )
    parser.add_argument(
        "--zoo",
        default=None,
        help="a zoo recipe (add_d10_l2, add_d15_l2, sub_d10_l2): time its step and the papers' at "
        "the same digit count in this run, and report the ratio of step time x steps; no training",
    )
    args = parser.parse_args()
    if args.zoo:
        print(json.dumps(zoo_ratio(args.zoo, max(args.paper_steps, 5))), flush=True)
        return
    recipe_name = args.recipe or DEFAULT_RECIPE[args.task]
    work = args.out or Path(tempfile.mkdtemp(prefix="tta_"))
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        rows.append(one_seed(args.task, recipe_name, seed, work, args))
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps(spread(rows)), flush=True)
    step_s, paper_steps = paper_step_seconds(args.task, args.paper_steps)
    paper_wall = step_s * paper_steps
    paper = resolve_preset(args.task, "paper")
    print(
        json.dumps(
            {
                "benchmark": "paper_recipe",
                "task": args.task,
                "recipe": paper.description,
                "step_seconds": round(step_s, 3),
                "steps": paper_steps,
                "examples": paper_steps * paper.train["batch_size"],
                "train_seconds_estimated": round(paper_wall, 1),
            }
        ),
        flush=True,
    )
    median_wall = statistics.median(r["train_seconds"] for r in rows)
    ratio = {"benchmark": "time_to_accuracy_ratio", "task": args.task}
    print(json.dumps({**ratio, "paper_over_ours_median": round(paper_wall / median_wall, 2)}))


if __name__ == "__main__":
    main()
