"""``algolens demo``: the main job end to end, on a zoo model or on a fresh CPU-recipe run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from algolens.commands.base import app, friendly
from algolens.errors import AlgolensError


@app.command()
@friendly
def demo(
    model: Annotated[str, typer.Option(help="Zoo model to take apart.")] = "add_d5_l2",
    train_model: Annotated[
        bool, typer.Option("--train", help="Train the 5-digit CPU recipe (about 5 min) instead.")
    ] = False,
    questions: Annotated[
        int, typer.Option(help="Random questions per distribution to verify on.")
    ] = 100_000,
    out: Annotated[Path, typer.Option(help="Folder for the report.")] = Path("reports/demo"),
    run_dir: Annotated[
        Path, typer.Option(help="Run directory for --train (must not hold a run).")
    ] = Path("runs/demo_add_d5_cpu"),
) -> None:
    """A model (zoo, or --train), verified on both distributions and the complete suite,
    analysed, reported."""
    from algolens.families import family_of
    from algolens.report import report_run
    from algolens.runs import load, load_run, train_run
    from algolens.verify import verify

    t0 = time.perf_counter()
    if train_model:
        from algolens.commands.train import build_plan

        if (run_dir / "model.safetensors").exists():
            raise AlgolensError(
                f"{run_dir} already holds a run: give --run-dir, or delete it yourself"
            )
        typer.echo(f"[1/3] training 5-digit addition with the CPU recipe into {run_dir}")
        config = build_plan("add", "cpu", {}, {"task": {}, "model": {}, "train": {}}, [], {})
        result = train_run(run_dir, config)
        if result.interrupted:  # stopped by a signal: no verdict on a half-trained model
            typer.echo(
                f"interrupted at step {result.steps:,}: not verified or analysed; continue "
                f"with: algolens train --resume --out {run_dir}",
                err=True,
            )
            raise typer.Exit(result.exit_code)
        run = load_run(run_dir)
    else:
        typer.echo(f"[1/3] loading zoo:{model}")
        run = load(f"zoo:{model}")
    typer.echo(f"      {run.name}: {sum(p.numel() for p in run.model.parameters()):,} parameters")
    family = family_of(run.task.name)
    typer.echo(
        f"[2/3] verifying on {questions:,} uniform and {questions:,} training questions, "
        "and the complete suite"
    )
    for dist in ("uniform", "training"):
        res = verify(run.model, run.task, questions=questions, distribution=dist, progress=True)  # type: ignore[arg-type]
        typer.echo(res.summary())
    if family.suite is not None:
        typer.echo(family.suite(run.model, run.task, "complete").summary())
    typer.echo("[3/3] analysing: ablations, attention, PCA, interventions, algorithm map")
    report = report_run(run, out, questions=1000, seed=0, progress=True)
    typer.echo(f"done in {time.perf_counter() - t0:.0f} s. Open the report: {report}")
