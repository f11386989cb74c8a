"""``algolens analyse RUN``: the interactive HTML report of what the model learned."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from algolens.cli import app, friendly
from algolens.errors import AlgolensError


@app.command()
@friendly
def analyse(
    run: Annotated[str, typer.Argument(help="Run directory or zoo:NAME.")],
    out: Annotated[
        Path | None, typer.Option(help="Report folder; default reports/<run name>.")
    ] = None,
    questions: Annotated[int, typer.Option(help="Questions for the sweeps.")] = 1000,
    format: Annotated[
        str | None, typer.Option(help="Also export static figures: png, svg or pdf.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the sampled questions.")] = 0,
) -> None:
    """Analyse RUN and write a self-contained HTML report (and claims.json)."""
    from algolens.report.registry import run_reporter
    from algolens.store import load

    if format not in (None, "png", "svg", "pdf"):
        raise AlgolensError(f"--format must be png, svg or pdf, got {format!r}")
    if questions < 1:
        raise AlgolensError(f"--questions must be at least 1, got {questions}")
    loaded = load(run)
    out = out or Path("reports") / loaded.name
    path = run_reporter(loaded, out, questions=questions, fmt=format, seed=seed)
    typer.echo(f"report written to {path}")
