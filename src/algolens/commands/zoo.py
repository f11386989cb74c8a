"""``algolens zoo``: list, show, copy out and retrain the shipped models."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from algolens.commands.base import Group, app, friendly
from algolens.errors import AlgolensError

zoo_app = typer.Typer(
    cls=Group,
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
    """Name, task, layers/heads/d_model, parameters and verified failures: how many of how many
    questions, with the 95% interval of failures per million."""
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
def zoo_show(
    name: Annotated[str, typer.Argument(help="Zoo model name.")],
    as_json: Annotated[bool, typer.Option("--json", help="The whole card as JSON.")] = False,
) -> None:
    """Print a model's card: what it is, how it was trained, how it was checked."""
    from algolens.zoo import read_card

    card = read_card(name)
    typer.echo(json.dumps(card, indent=2) if as_json else "\n".join(card_lines(card)))


def _words(d: dict[str, Any]) -> str:
    """``{'n_digits': 5, 'x': 1}`` -> ``n digits 5, x 1``, as the report's header facts
    (nested tables left out: ``--json`` has them)."""
    from algolens.report.html import fact_text

    return fact_text({k: v for k, v in d.items() if not isinstance(v, dict | list)})


def _rate(rec: dict[str, Any]) -> str:
    low, high = rec.get("interval") or (None, None)
    ci = f", 95% interval {low:,.0f}-{high:,.0f}" if low is not None else ""
    return (
        f"{rec['failures']:,} wrong of {rec['questions']:,} "
        f"({rec['failures_per_million']:,.0f} per million{ci})"
    )


def _verification_lines(ver: dict[str, Any]) -> list[str]:
    out = ["verification (seeded random questions):"]
    for dist in ("uniform", "training"):
        if isinstance(ver.get(dist), dict):
            out.append(f"  {dist:<9} {_rate(ver[dist])}")
    for suite, rec in (ver.get("suites") or {}).items():
        out.append(f"  suite {suite}: {rec['failures']} wrong of {rec['questions']}")
    lists = ver.get("paper_lists")
    if lists:
        shown = ", ".join(f"{k} {w}/{n}" for k, (w, n) in lists.items())
        out.append(f"  the papers' question lists (wrong/total): {shown}")
    return out


def _seed_lines(spread: dict[str, Any]) -> list[str]:
    """The recipe trained with other seeds: one line per seed."""
    out = [f"the recipe across seeds: {spread.get('verified', '')} ({spread.get('command', '')})"]
    for row in spread.get("seeds", []):
        line = f"  seed {row['seed']}: training {row['failures_per_million']:,.0f} per million"
        if row.get("uniform_failures_per_million") is not None:
            line += f", uniform {row['uniform_failures_per_million']:,.0f}"
        line += f", suites {row['suite_failures']} wrong"
        seconds = row.get("train_seconds")
        out.append(line + (f", {seconds:,.0f} s of training" if seconds is not None else ""))
    return out


def card_lines(card: dict[str, Any]) -> list[str]:
    """A card as readable lines; ``--json`` gives everything, examples and breakdowns too."""
    out = [f"{card['name']}: {card.get('description', '')}", f"task: {_words(card['task'])}"]
    if card.get("architecture"):
        out.append(f"architecture: {_words(card['architecture'])}")
    out.append(f"parameters: {card.get('parameters', 0):,}")
    out.append(f"training: {_words(card.get('training', {}))}")
    if isinstance(card.get("verification"), dict):
        out += _verification_lines(card["verification"])
    if isinstance(card.get("evaluation"), dict):
        out.append(f"evaluation: {_words(card['evaluation'])}")
    if isinstance(card.get("seed_spread"), dict):
        out += _seed_lines(card["seed_spread"])
    if isinstance(card.get("paper_reference"), dict):
        out.append(f"the papers' model: {_words(card['paper_reference'])}")
    if card.get("notes"):
        out.append(f"notes: {card['notes']}")
    out.append("(algolens zoo show NAME --json for the whole card)")
    return out


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
    record: Annotated[
        bool,
        typer.Option(
            help="Write into the card the checks it does not hold yet (a suite added after "
            "it was written); recorded numbers are never rewritten."
        ),
    ] = False,
) -> None:
    """Re-run NAME's recorded verification and compare every number with its card.

    Exits 1 if any number differs, or if the card lacks a check (unless --record adds it).
    """
    from algolens.zoo.build import recheck

    rows = recheck(name, quick=quick, progress=progress, record=record)
    for row in rows:
        if row.get("recorded_now"):
            typer.echo(f"{'RECORDED':<8} {row['check']}: {row['measured']} (new on the card)")
            continue
        mark = "same" if row["same"] else "DIFFERS"
        typer.echo(f"{mark:<8} {row['check']}: card {row['recorded']}, now {row['measured']}")
    if not all(row["same"] or row.get("recorded_now") for row in rows):
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
    resume: Annotated[
        bool,
        typer.Option(help="Continue an interrupted build of NAME_sSEED from its checkpoint."),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    package_only: Annotated[
        bool,
        typer.Option(help="Ship the finished build NAME_sSEED in WORK into the zoo; no training."),
    ] = False,
) -> None:
    """Train a zoo recipe from scratch, measure its card (both distributions, the complete suites,
    the papers' lists) and, with --package, ship it in the zoo (its card gains the spread over
    every seed of the recipe built in WORK or recorded by the zoo copy). An interrupted build
    (Ctrl-C, SIGTERM) continues with --resume; the card then says it was resumed.
    --package-only ships a build already finished."""
    from algolens.store import ZOO_DIR
    from algolens.zoo.build import build, package_build

    if package_only:
        card = package_build(name, work, seed, ZOO_DIR)
        spread = card["seed_spread"]["verified"]
        typer.echo(f"{name} (seed {seed}) shipped; the recipe across seeds: {spread}")
        return
    card = build(
        name,
        work,
        seed=seed,
        questions=questions,
        package_into=ZOO_DIR if package else None,
        progress=progress,
        resume=resume,
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
