"""``algolens verify RUN``: exact-match verification on random, exhaustive or named questions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from algolens.cli import app, friendly
from algolens.errors import AlgolensError


def _state_path(run_path: Path | None, name: str, state: Path | None) -> Path:
    """Where an exhaustive run saves progress: --state, else the run directory, else cwd."""
    if state is not None:
        return state
    if run_path is not None and os.access(run_path, os.W_OK) and "zoo" not in run_path.parts:
        return run_path / "verify_exhaustive.json"
    return Path(f".algolens-verify-{name}.json")


@app.command()
@friendly
def verify(
    run: Annotated[str, typer.Argument(help="Run directory or zoo:NAME.")],
    questions: Annotated[
        int, typer.Option("--questions", "-n", help="Random questions per distribution.")
    ] = 100_000,
    distribution: Annotated[
        str,
        typer.Option(
            help="both (default), uniform (every digit uniform), or training (the training "
            "generator's mixture, enrichment included, drawn one question at a time; the "
            "papers drew their million questions this way)."
        ),
    ] = "both",
    seed: Annotated[int, typer.Option(help="Seed of the random questions.")] = 0,
    exhaustive: Annotated[
        bool, typer.Option(help="Check every question (spaces up to 10^8); resumable.")
    ] = False,
    suite: Annotated[
        str | None,
        typer.Option(
            help="Named suite: ba, uc1, simple_us9, cascade_us9, step, seeds (all five), "
            "cascade (generated carry/borrow chains), all."
        ),
    ] = None,
    examples: Annotated[int, typer.Option(help="How many failing questions to list.")] = 10,
    batch_size: Annotated[
        int | None, typer.Option(help="Questions per forward pass (default: by model size).")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(help="Progress file for --exhaustive (default: in the run directory)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Check that RUN gives every answer digit right (float32 argmax vs the oracle)."""
    from algolens import verify as v
    from algolens.store import load

    if questions <= 0:
        raise AlgolensError(f"--questions must be at least 1, got {questions}")
    if examples < 0:
        raise AlgolensError(f"--examples must be 0 or more, got {examples}")
    if batch_size is not None and batch_size <= 0:
        raise AlgolensError(f"--batch-size must be at least 1, got {batch_size}")
    if exhaustive and suite:
        raise AlgolensError("choose one of --exhaustive and --suite")
    if distribution not in ("uniform", "training", "both"):
        raise AlgolensError(
            f"--distribution must be both, uniform or training, got {distribution!r}"
        )
    if suite is not None:
        from algolens.suites import SUITE_NAMES

        if suite not in SUITE_NAMES:
            raise AlgolensError(f"unknown suite {suite!r}: choose from {', '.join(SUITE_NAMES)}")
    loaded = load(run)
    task = v._require_arithmetic(loaded.task)
    if suite is not None:
        result = v.verify_suite(loaded.model, task, suite, examples=examples)
    elif exhaustive:
        path = _state_path(loaded.path, loaded.name, state)
        try:
            result = v.verify_exhaustive(loaded.model, task, path, batch_size, examples, progress)
        except KeyboardInterrupt:
            typer.echo(f"interrupted; progress saved in {path}: run again to resume", err=True)
            raise typer.Exit(130) from None
    else:
        dists = ("uniform", "training") if distribution == "both" else (distribution,)
        results = {
            d: v.verify(loaded.model, task, questions, d, seed, batch_size, examples, progress)  # type: ignore[arg-type]
            for d in dists
        }
        if as_json:
            body = {d: r.to_dict() for d, r in results.items()}
            typer.echo(json.dumps({"run": loaded.name, **body}, indent=2))
        else:
            for r in results.values():
                typer.echo(f"{loaded.name}: " + r.summary())
        return
    if as_json:
        typer.echo(json.dumps({"run": loaded.name, **result.to_dict()}, indent=2))
    else:
        typer.echo(f"{loaded.name}: " + result.summary())
