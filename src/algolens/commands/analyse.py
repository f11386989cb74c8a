"""``algolens analyse RUN``: the interactive HTML report of what the model learned."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from algolens.commands.base import app, friendly
from algolens.errors import AlgolensError


@app.command()
@friendly
def analyse(
    run: Annotated[str, typer.Argument(help="Run directory, zoo:NAME or hf:OWNER/NAME.")],
    out: Annotated[
        Path | None, typer.Option(help="Report folder; default reports/<run name>.")
    ] = None,
    questions: Annotated[
        int, typer.Option(help="Questions (or sentences) for the analyses.")
    ] = 1000,
    format: Annotated[
        str | None, typer.Option(help="Also export static figures: png, svg or pdf.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the sampled questions.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Analyse RUN and write a self-contained HTML report (and claims.json) into OUT."""
    from algolens.report import report_run
    from algolens.runs import load

    if format not in (None, "png", "svg", "pdf"):
        raise AlgolensError(f"--format must be png, svg or pdf, got {format!r}")
    if questions < 1:
        raise AlgolensError(f"--questions must be at least 1, got {questions}")
    loaded = load(run)
    out = out or Path("reports") / loaded.name
    path = report_run(loaded, out, questions=questions, seed=seed, fmt=format, progress=progress)
    typer.echo(f"report written to {path}")
