"""``algolens zoo``: list, show, copy out and retrain the shipped models."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from algolens.commands.base import app, friendly
from algolens.errors import AlgolensError

zoo_app = typer.Typer(
    help="The zoo of trained, verified models shipped with algolens.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(zoo_app, name="zoo")


@zoo_app.command("list")
@friendly
def zoo_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Name, task, layers/heads/d_model, parameters and verified failures per million."""
    from algolens.zoo import zoo_entries

    rows = zoo_entries()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    header = f"{'name':<18} {'task':<10} {'arch':<14} {'params':>10}  check"
    typer.echo(header)
    typer.echo("-" * len(header))
    for r in rows:
        typer.echo(f"{r.name:<18} {r.task:<10} {r.architecture:<14} {r.parameters:>10,}  {r.check}")


@zoo_app.command("show")
@friendly
def zoo_show(name: Annotated[str, typer.Argument(help="Zoo model name.")]) -> None:
    """Print a model's card: training record, verification record and findings."""
    from algolens.zoo import read_card

    typer.echo(json.dumps(read_card(name), indent=2))


@zoo_app.command("get")
@friendly
def zoo_get(
    name: Annotated[str, typer.Argument(help="Zoo model name.")],
    out: Annotated[Path, typer.Option(help="Folder to copy the run directory into.")],
) -> None:
    """Copy a zoo model out as an ordinary run directory."""
    from algolens.runs import zoo_path

    src = zoo_path(name)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AlgolensError(f"{out} exists and is not an empty folder")
    shutil.copytree(src, out, dirs_exist_ok=True)
    typer.echo(f"copied zoo:{name} to {out}")


@zoo_app.command("check")
@friendly
def zoo_check(
    name: Annotated[str, typer.Argument(help="Zoo model name.")],
    quick: Annotated[
        bool,
        typer.Option(
            help="Only each distribution's first 4,096 questions, the suites "
            "and the papers' lists (seconds instead of minutes)."
        ),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Re-run NAME's recorded verification and compare every number with its card.

    Exits 1 if any number differs.
    """
    from algolens.zoo.build import recheck

    rows = recheck(name, quick=quick, progress=progress)
    for row in rows:
        mark = "same" if row["same"] else "DIFFERS"
        typer.echo(f"{mark:<8} {row['check']}: card {row['recorded']}, now {row['measured']}")
    if not all(row["same"] for row in rows):
        raise typer.Exit(1)


@zoo_app.command("build")
@friendly
def zoo_build(
    name: Annotated[str, typer.Argument(help="Zoo recipe (a preset of the same name).")],
    work: Annotated[Path, typer.Option(help="Folder for the run (NAME_sSEED inside).")] = Path(
        "runs/zoo"
    ),
    seed: Annotated[int, typer.Option(help="Seed for weights and data.")] = 0,
    questions: Annotated[
        int, typer.Option(help="Questions per distribution for the card.")
    ] = 1_000_000,
    package: Annotated[bool, typer.Option(help="Copy the run and its card into the zoo.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train a zoo recipe from scratch, measure its card (both distributions, the complete suites,
    the papers' lists) and, with --package, ship it in the zoo."""
    from algolens.runs import ZOO_DIR
    from algolens.zoo.build import build

    card = build(
        name,
        work,
        seed=seed,
        questions=questions,
        package_into=ZOO_DIR if package else None,
        progress=progress,
    )
    record = card.get("verification") or card.get("evaluation")
    typer.echo(json.dumps(record, indent=2)[:4000])


@zoo_app.command("retrain")
@friendly
def zoo_retrain(
    name: Annotated[str, typer.Argument(help="Zoo model name.")],
    out: Annotated[
        Path | None, typer.Option(help="Run directory; default runs/retrain_<name>.")
    ] = None,
    questions: Annotated[
        int, typer.Option(help="Questions for the closing verification.")
    ] = 100_000,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train NAME again from its recorded recipe (config.json) and check it like the original."""
    from algolens.zoo.build import retrain

    out = out or Path("runs") / f"retrain_{name}"
    card = retrain(name, out, questions=questions, progress=progress, argv=sys.argv)
    typer.echo(json.dumps(card.get("verification") or card.get("evaluation"), indent=2))
    typer.echo(f"retrained zoo:{name} into {out}")
