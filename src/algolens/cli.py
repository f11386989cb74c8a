"""The ``algolens`` command: a thin typer layer over the library.

Every command turns bad input (:class:`AlgolensError`) into one line on stderr and exit code 2.
Tests call :data:`app` in-process with typer's ``CliRunner``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from algolens.errors import AlgolensError

app = typer.Typer(
    help="Train small networks on algorithmic tasks, see the algorithm they learned, verify it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print one line on stderr and return the exit-2 exception to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def friendly(fn: F) -> F:
    """Bad input becomes one stderr line and exit code 2, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AlgolensError as e:
            raise fail(str(e)) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@friendly
def train(
    task: Annotated[str, typer.Argument(help="Task: add, sub or mix.")],
    digits: Annotated[int, typer.Option(help="Digits per operand (1-20).")] = 5,
    layers: Annotated[int, typer.Option(help="Transformer layers.")] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads per layer.")] = 3,
    d_model: Annotated[int, typer.Option(help="Residual width (must divide by heads).")] = 510,
    d_head: Annotated[int, typer.Option(help="Head width; 0 = d_model / heads.")] = 0,
    d_mlp: Annotated[int, typer.Option(help="MLP width; 0 = 4 d_model.")] = 0,
    act: Annotated[str, typer.Option(help="MLP activation: relu, gelu, gelu_new.")] = "relu",
    layer_norm: Annotated[bool, typer.Option(help="Use LayerNorm.")] = True,
    steps: Annotated[int, typer.Option(help="Training steps (one fresh batch each).")] = 15_000,
    batch_size: Annotated[int, typer.Option(help="Questions per batch.")] = 64,
    lr: Annotated[float, typer.Option(help="Peak AdamW learning rate.")] = 8e-5,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.1,
    warmup: Annotated[float, typer.Option(help="Share of steps for the linear warm-up.")] = 0.2,
    enrich: Annotated[
        float, typer.Option(help="Share of batches with Make-Sum-9 / equal-digit enrichment.")
    ] = 0.4,
    sub_share: Annotated[float, typer.Option(help="Share of subtraction questions (mix).")] = 0.66,
    seed: Annotated[int, typer.Option(help="Seed for weights and data.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Run directory; default runs/<name>, e.g. add_d5_l2_h3_s0.")
    ] = None,
    init_from: Annotated[
        str | None, typer.Option(help="Seed weights from this run where names and shapes match.")
    ] = None,
    freeze_heads: Annotated[
        bool, typer.Option(help="Keep the copied attention heads fixed.")
    ] = False,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out from its checkpoint.")
    ] = False,
    log_every: Annotated[int, typer.Option(help="Steps between metrics rows.")] = 50,
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints.")] = 1000,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train a transformer on TASK and write a run directory."""
    from algolens.train import TrainConfig, run_name
    from algolens.train import train as run_training

    task_spec = {"name": task, "n_digits": digits, "enrich_batch_share": enrich}
    if task == "mix":
        task_spec["sub_share"] = sub_share
    model_spec = {
        "kind": "transformer",
        "n_layers": layers,
        "n_heads": heads,
        "d_model": d_model,
        "d_head": d_head,
        "d_mlp": d_mlp,
        "act_fn": act,
        "normalization_type": "LN" if layer_norm else None,
    }
    cfg = TrainConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        warmup_frac=warmup,
        seed=seed,
        log_every=log_every,
        checkpoint_every=checkpoint_every,
        init_from=init_from,
        freeze_heads=freeze_heads,
    )
    if resume and out is None:
        raise AlgolensError("--resume needs --out, the run directory to continue")
    out = out or Path("runs") / run_name(task_spec, model_spec, seed)
    path = run_training(
        out, task_spec, model_spec, cfg, resume=resume, argv=sys.argv, progress=progress
    )
    typer.echo(f"run saved in {path}")


@app.command()
@friendly
def predict(
    run: Annotated[str, typer.Argument(help="Run directory or zoo:NAME.")],
    questions: Annotated[list[str], typer.Argument(help="Questions such as 12+34.")],
) -> None:
    """Answer QUESTIONS with the model in RUN (greedy decoding): prints 12+34=046."""
    from algolens.store import load

    loaded = load(run)
    answers = loaded.predict(questions)
    for q, a in zip(questions, answers, strict=True):
        typer.echo(f"{q.strip()}={a}")


@app.command()
@friendly
def sample(
    task: Annotated[str, typer.Argument(help="Task: add, sub or mix.")],
    digits: Annotated[int, typer.Option(help="Digits per operand.")] = 5,
    n: Annotated[int, typer.Option(help="How many questions.")] = 5,
    seed: Annotated[int, typer.Option(help="Sampler seed.")] = 0,
    enrich: Annotated[float, typer.Option(help="Share of enriched batches.")] = 0.4,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines output.")] = False,
) -> None:
    """Print generated questions with their answers, classes and labels."""
    import torch

    from algolens.tasks import make_task

    if n < 1:
        raise AlgolensError(f"--n must be at least 1, got {n}")
    t = make_task(task, n_digits=digits, enrich_batch_share=enrich)
    batch = t.sample(n, torch.Generator().manual_seed(seed))
    for record in t.records(batch):
        if as_json:
            typer.echo(json.dumps(record))
        else:
            typer.echo(f"{record['question']}={record['answer']}  {record['class']}")


@app.command()
@friendly
def info(run: Annotated[str, typer.Argument(help="Run directory or zoo:NAME.")]) -> None:
    """Print a run's config, parameter count and final losses."""
    from algolens.store import load

    loaded = load(run)
    n_params = sum(p.numel() for p in loaded.model.parameters())
    typer.echo(f"run: {loaded.path}")
    typer.echo(f"task: {json.dumps(loaded.config['task'])}")
    typer.echo(f"model: {json.dumps(loaded.config['model'])}")
    typer.echo(f"train: {json.dumps(loaded.config.get('train', {}))}")
    typer.echo(f"parameters: {n_params:,}")
    if loaded.metrics:
        last = loaded.metrics[-1]
        losses = {k: v for k, v in last.items() if k.startswith("loss")}
        typer.echo(
            f"final step {last.get('step')}: "
            + ", ".join(f"{k}={v:.3g}" for k, v in losses.items())
        )


def main() -> None:
    app()


@app.command()
@friendly
def demo(
    out: Annotated[Path, typer.Option(help="Where the demo run goes.")] = Path("runs/demo_add_d3"),
    digits: Annotated[int, typer.Option(help="Digits per operand.")] = 3,
    steps: Annotated[int, typer.Option(help="Training steps.")] = 1500,
) -> None:
    """The main job end to end: train addition on the CPU, verify it on every question."""
    import shutil
    import time

    from algolens.store import load_run
    from algolens.train import TrainConfig
    from algolens.train import train as run_training
    from algolens.verify import count_failures, exhaustive_batches

    if (out / "config.json").exists():
        shutil.rmtree(out)
    typer.echo(f"[1/2] training {digits}-digit addition ({steps} steps) into {out}")
    t0 = time.perf_counter()
    run_training(
        out,
        {"name": "add", "n_digits": digits},
        {"kind": "transformer", "n_layers": 2, "n_heads": 4, "d_model": 64},
        TrainConfig(steps=steps, batch_size=256, lr=3e-3, warmup_frac=0.05, log_every=50),
        argv=sys.argv,
    )
    run = load_run(out)
    typer.echo(f"      trained in {time.perf_counter() - t0:.0f} s")
    typer.echo(f"[2/2] verifying on every one of the {10 ** (2 * digits):,} questions")
    total, failures = count_failures(run.model, run.task, exhaustive_batches(run.task))
    cascades = [f"{10**digits - 1}+1", f"{'5' * digits}+{'4' * (digits - 1)}5"]
    for q, a in zip(cascades, run.predict(cascades), strict=True):
        typer.echo(f"      {q}={a}")
    typer.echo(f"verified: {total - failures:,} of {total:,} right, {failures:,} failures")
