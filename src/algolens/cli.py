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


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``['p=97', 'tie_layers=true']`` -> ``{'p': 97, 'tie_layers': True}`` (JSON, else text)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AlgolensError(f"expected KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


@app.command()
@friendly
def train(
    task: Annotated[str, typer.Argument(help="Task: add, sub, mix (and any registered family).")],
    preset: Annotated[
        str | None, typer.Option(help="Start from a named recipe (see the README).")
    ] = None,
    digits: Annotated[int | None, typer.Option(help="Digits per operand (1-20).")] = None,
    layers: Annotated[int | None, typer.Option(help="Transformer layers.")] = None,
    heads: Annotated[int | None, typer.Option(help="Attention heads per layer.")] = None,
    d_model: Annotated[int | None, typer.Option(help="Residual width.")] = None,
    d_head: Annotated[int | None, typer.Option(help="Head width (default d_model/heads).")] = None,
    d_mlp: Annotated[int | None, typer.Option(help="MLP width (default 4 d_model).")] = None,
    act: Annotated[str | None, typer.Option(help="MLP activation: relu, gelu, gelu_new.")] = None,
    layer_norm: Annotated[bool | None, typer.Option(help="Use LayerNorm.")] = None,
    steps: Annotated[int | None, typer.Option(help="Training steps.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Examples per step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak AdamW learning rate.")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay.")] = None,
    warmup: Annotated[float | None, typer.Option(help="Share of steps for warm-up.")] = None,
    enrich: Annotated[
        float | None, typer.Option(help="Share of batches with sum-9 / equal-digit enrichment.")
    ] = None,
    sub_share: Annotated[
        float | None, typer.Option(help="Share of subtraction questions (mix).")
    ] = None,
    task_opt: Annotated[
        list[str] | None, typer.Option(help="Extra task setting KEY=VALUE (repeatable).")
    ] = None,
    model_opt: Annotated[
        list[str] | None, typer.Option(help="Extra model setting KEY=VALUE (repeatable).")
    ] = None,
    train_opt: Annotated[
        list[str] | None, typer.Option(help="Extra training setting KEY=VALUE (repeatable).")
    ] = None,
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
    log_every: Annotated[int | None, typer.Option(help="Steps between metrics rows.")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="Steps between checkpoints.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train a model on TASK and write a run directory.

    Flags you give override the preset (or the task's defaults, the seeds' configuration:
    2 layers, 3 heads, d_model 510, batch 64, AdamW 8e-5, 15,000 steps for addition).
    """
    from algolens.presets import resolve
    from algolens.train import TrainConfig, run_name
    from algolens.train import train as run_training

    if resume:
        if out is None:
            raise AlgolensError("--resume needs --out, the run directory to continue")
        extend = TrainConfig(steps=steps) if steps is not None else None
        path = run_training(out, None, None, extend, resume=True, progress=progress)
        typer.echo(f"run saved in {path}")
        return
    recipe = resolve(task, preset)
    given: dict[str, dict[str, Any]] = {
        "task": {"n_digits": digits, "enrich_batch_share": enrich, "sub_share": sub_share},
        "model": {
            "n_layers": layers,
            "n_heads": heads,
            "d_model": d_model,
            "d_head": d_head,
            "d_mlp": d_mlp,
            "act_fn": act,
        },
        "train": {
            "steps": steps,
            "batch_size": batch_size,
            "lr": lr,
            "weight_decay": weight_decay,
            "warmup_frac": warmup,
            "log_every": log_every,
            "checkpoint_every": checkpoint_every,
            "init_from": init_from,
        },
    }
    if layer_norm is not None:
        recipe.model["normalization_type"] = "LN" if layer_norm else None
    for section, opts in (("task", task_opt), ("model", model_opt), ("train", train_opt)):
        given[section].update(parse_options(opts))
        getattr(recipe, section).update({k: v for k, v in given[section].items() if v is not None})
    recipe.train.update(seed=seed, freeze_heads=freeze_heads)
    unknown = set(recipe.train) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise AlgolensError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
    cfg = TrainConfig.from_dict(recipe.train)
    out = out or Path("runs") / run_name(recipe.task, recipe.model, seed)
    path = run_training(out, recipe.task, recipe.model, cfg, argv=sys.argv, progress=progress)
    typer.echo(f"run saved in {path}")


@app.command()
@friendly
def predict(
    run: Annotated[str, typer.Argument(help="Run directory or zoo:NAME.")],
    questions: Annotated[
        list[str],
        typer.Argument(help="Questions such as 12+34, or LEGO sentences 'b = -a ; a = +1'."),
    ],
) -> None:
    """Answer QUESTIONS with the model in RUN (greedy decoding): prints 12+34=046, or for LEGO
    'b = -a ; a = +1  ->  b = -1 ; a = +1'."""
    from algolens.store import load

    loaded = load(run)
    answers = loaded.predict(questions)
    sep = getattr(loaded.task, "predict_separator", "=")
    for q, a in zip(questions, answers, strict=True):
        typer.echo(f"{q.strip()}{sep}{a}")


@app.command()
@friendly
def sample(
    task: Annotated[str, typer.Argument(help="Task: add, sub, mix (and any registered family).")],
    digits: Annotated[int | None, typer.Option(help="Digits per operand (arithmetic).")] = None,
    n_vars: Annotated[int | None, typer.Option(help="Variables per sentence (lego).")] = None,
    n: Annotated[int, typer.Option(help="How many examples.")] = 5,
    seed: Annotated[int, typer.Option(help="Sampler seed.")] = 0,
    enrich: Annotated[float | None, typer.Option(help="Share of enriched batches.")] = None,
    task_opt: Annotated[
        list[str] | None, typer.Option(help="Extra task setting KEY=VALUE (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines output.")] = False,
) -> None:
    """Print generated examples with their answers and labels (classes, sub-tasks)."""
    import torch

    from algolens.tasks import make_task

    if n < 1:
        raise AlgolensError(f"--n must be at least 1, got {n}")
    opts = {"n_digits": digits, "n_vars": n_vars, "enrich_batch_share": enrich}
    opts = {k: v for k, v in opts.items() if v is not None} | parse_options(task_opt)
    t = make_task(task, **opts)
    batch = t.sample(n, torch.Generator().manual_seed(seed))
    for record in t.records(batch):
        if as_json:
            typer.echo(json.dumps(record))
        else:
            typer.echo(" ".join(f"{k}={v}" for k, v in record.items() if not isinstance(v, list)))


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


@app.command()
@friendly
def demo(
    model: Annotated[str, typer.Option(help="Zoo model to take apart.")] = "add_d5_l2",
    train_model: Annotated[
        bool, typer.Option("--train", help="Train the CPU recipe (about 5 min) instead.")
    ] = False,
    questions: Annotated[int, typer.Option(help="Random questions to verify on.")] = 100_000,
    out: Annotated[Path, typer.Option(help="Folder for the report.")] = Path("reports/demo"),
) -> None:
    """The main job end to end: a model (zoo, or --train), verified, analysed, reported."""
    import time

    from algolens.report.registry import run_reporter
    from algolens.store import load
    from algolens.verify import verify, verify_suite

    t0 = time.perf_counter()
    if train_model:
        from algolens.presets import resolve
        from algolens.train import TrainConfig
        from algolens.train import train as run_training

        recipe = resolve("add", "cpu")
        path = Path("runs") / "demo_add_d5_cpu"
        typer.echo(f"[1/3] training 5-digit addition with the CPU recipe into {path}")
        if (path / "config.json").exists():
            import shutil

            shutil.rmtree(path)
        run_training(
            path, recipe.task, recipe.model, TrainConfig.from_dict(recipe.train), argv=sys.argv
        )
        run = load(path)
    else:
        typer.echo(f"[1/3] loading zoo:{model}")
        run = load(f"zoo:{model}")
    typer.echo(f"      {run.name}: {sum(p.numel() for p in run.model.parameters()):,} parameters")
    typer.echo(f"[2/3] verifying on {questions:,} questions and the cascade suite")
    result = verify(
        run.model, run.task, questions=questions, distribution="training", progress=True
    )
    cascade = verify_suite(run.model, run.task, "cascade")
    typer.echo(result.summary())
    typer.echo(cascade.summary())
    typer.echo("[3/3] analysing: ablations, attention, PCA, interventions, algorithm map")
    report = run_reporter(run, out, questions=1000, fmt=None, seed=0)
    typer.echo(f"done in {time.perf_counter() - t0:.0f} s. Open the report: {report}")


def _register_command_modules() -> None:
    """Import every module of ``algolens.commands``: each adds its commands to :data:`app`."""
    import importlib
    import pkgutil

    import algolens.commands

    for info_ in pkgutil.iter_modules(algolens.commands.__path__):
        importlib.import_module(f"algolens.commands.{info_.name}")


def main() -> None:
    app()


_register_command_modules()
