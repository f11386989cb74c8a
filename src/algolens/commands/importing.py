"""``algolens import``: a run directory from a HookedTransformer state dict (the papers' models)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from algolens.commands.base import app, friendly, parse_options, task_help, task_options
from algolens.errors import AlgolensError


@app.command("import", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@friendly
def import_(
    ctx: typer.Context,
    source: Annotated[
        Path, typer.Argument(help="A HookedTransformer state dict: .pth, .pt or .safetensors.")
    ],
    task: Annotated[str, typer.Argument(help=f"{task_help('Its task')}.")],
    out: Annotated[str, typer.Option(help="The new run directory.")] = "runs/imported",
    model_opt: Annotated[
        list[str] | None,
        typer.Option(help="Model setting KEY=VALUE the weights cannot show, e.g. act_fn=gelu."),
    ] = None,
    task_opt: Annotated[
        list[str] | None, typer.Option(help="Task setting KEY=VALUE, e.g. n_digits=6.")
    ] = None,
) -> None:
    """Import a HookedTransformer state dict, such as the addition papers' published models
    (Quirke & Barez 2024; Quirke, Neo & Barez 2024), as a run directory that every command
    takes. The architecture is read from the weights' shapes; task flags (--digits 6) as in
    train. Example: algolens import add_d6_l2.pth add --digits 6 --out runs/paper_add_d6."""
    from algolens import runs
    from algolens.commands.train import family_flags
    from algolens.families import family_of

    if not out.strip():  # Path('') is the current folder
        raise AlgolensError("--out is empty: name the new run directory")
    flags = family_flags(family_of(task), ctx.args)
    spec = {"name": task, **flags, **task_options(task, task_opt)}
    model = parse_options(model_opt, "model option") or None
    run = runs.import_state_dict(
        source, Path(out), spec, model, note=lambda text: typer.echo(f"note: {text}", err=True)
    )
    typer.echo(
        f"imported {source} into {out}: {run.config.model['n_layers']} layers, "
        f"{run.config.model['n_heads']} heads, d_model {run.config.model['d_model']}"
    )
