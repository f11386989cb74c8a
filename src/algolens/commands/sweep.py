"""``algolens sweep SPEC``: train and verify a grid of configurations, one Ray task per run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from algolens.commands.base import app, friendly
from algolens.errors import AlgolensError

Opt = typer.Option


@app.command()
@friendly
def sweep(
    spec: Annotated[Path, typer.Argument(help="The sweep's TOML grid (see examples/sweeps/).")],
    out: Annotated[
        Path | None, Opt(help="Sweeps folder; the sweep writes OUT/NAME (default: sweeps).")
    ] = None,
    workers: Annotated[
        int | None,
        Opt(
            help="Runs at once on the local Ray (default: every CPU); each trains on the "
            "cores shared among them (--workers 1 on 2 cores: 2 threads)."
        ),
    ] = None,
    address: Annotated[
        str | None, Opt(help="Join this Ray cluster (e.g. ray://host:10001) instead.")
    ] = None,
    gpus_per_run: Annotated[float, Opt(help="GPUs Ray gives each run (with --device).")] = 0,
    device: Annotated[
        str | None, Opt(help="Where each run trains: cpu, cuda, cuda:N or auto.")
    ] = None,
    dry_run: Annotated[bool, Opt(help="List the runs, and where each stands, and exit.")] = False,
    progress: Annotated[bool, Opt(help="Show a progress bar over runs.")] = True,
) -> None:
    """Train every configuration of SPEC's grid, then verify it (both distributions and the
    complete suites), each as one Ray task writing an ordinary run directory under
    OUT/NAME/runs. Results go to results.csv, results.json and sweep.html, rewritten as each
    run finishes. Run the same command again to continue: finished runs are skipped,
    interrupted ones resume from their checkpoint. Ctrl-C stops every run with its checkpoint
    saved.
    """
    from algolens.sweep.runner import plan, publish, run_status, run_sweep
    from algolens.sweep.spec import read_spec

    if workers is not None and workers < 1:
        raise AlgolensError(f"--workers must be at least 1, got {workers}")
    if gpus_per_run < 0:
        raise AlgolensError(f"--gpus-per-run must be 0 or more, got {gpus_per_run}")
    parsed = read_spec(spec)
    folder = (out or Path("sweeps")) / parsed.name
    if dry_run:
        for item in plan(parsed, folder, device):
            typer.echo(f"{item.out}: {run_status(item, parsed.questions)}")
        return
    total = len(parsed.points())

    def write(rows: list[dict[str, Any]]) -> list[Path]:  # after every run, and at the end
        return publish(folder, parsed.name, rows, total)

    outcome = run_sweep(parsed, folder, workers=workers, address=address, on_rows=write,
                        gpus_per_run=gpus_per_run, device=device, progress=progress)  # fmt: skip
    paths = write(outcome.rows)
    typer.echo(f"{len(outcome.rows)} of {total} runs finished ({outcome.skipped} already were)")
    typer.echo("results: " + ", ".join(str(p) for p in paths))
    for line in outcome.failed:
        typer.echo(f"failed: {line}", err=True)
    if outcome.interrupted:
        again = f"algolens sweep {spec}" + (f" --out {out}" if out is not None else "")
        typer.echo(f"interrupted; continue with: {again}", err=True)
        raise typer.Exit(130)
    if outcome.failed:
        raise typer.Exit(1)
