"""``algolens analyse RUN``: the interactive HTML report of what the model learned."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from algolens.commands.base import RunArg, app, friendly
from algolens.errors import AlgolensError

if TYPE_CHECKING:
    from algolens.report.render import CausalOptions


OpOption = Annotated[
    str | None, typer.Option(help="With --causal: the hypothesis: add, sub or sub_direct.")
]
CompareOption = Annotated[
    str | None,
    typer.Option(
        help="With --causal: a run or zoo:NAME whose circuit the reuse unit sets beside this "
        "one's (default: the model RUN was initialised from, if any)."
    ),
]


@app.command()
@friendly
def analyse(
    run: RunArg,
    out: Annotated[
        str | None, typer.Option(help="Report folder; default reports/<run name>.")
    ] = None,
    questions: Annotated[
        int, typer.Option(help="Questions (or sentences) for the analyses.", max=1_000_000)
    ] = 1000,
    format: Annotated[
        str | None, typer.Option(help="Also export static figures: png, svg or pdf.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the sampled questions.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    device: Annotated[
        str, typer.Option(help="Where the analysis runs: cpu, cuda, cuda:N or auto.")
    ] = "cpu",
    causal: Annotated[
        bool,
        typer.Option(
            "--causal",
            help="Also test the family's hypothesis: IIA per variable, DAS, the circuit's "
            "sufficiency and minimality, its edges (causal.json; minutes to an hour).",
        ),
    ] = False,
    units: Annotated[
        str, typer.Option(help="With --causal: the units to run, comma-separated.")
    ] = "iia,sets,das,circuit,edges,reuse",
    pairs: Annotated[
        int, typer.Option(help="With --causal: random pairs per variable for IIA.")
    ] = 10_000,
    circuit_questions: Annotated[
        int, typer.Option(help="With --causal: questions of each distribution for the circuit.")
    ] = 100_000,
    op: OpOption = None,
    compare: CompareOption = None,
) -> None:
    """Analyse RUN and write a self-contained HTML report (and claims.json) into OUT; with
    --causal, also the hypothesis's interchange accuracy and circuit (causal.json)."""
    if out is not None and not out.strip():
        raise AlgolensError("--out is empty: name the report folder")
    if format not in (None, "png", "svg", "pdf"):
        raise AlgolensError(f"--format must be png, svg or pdf, got {format!r}")
    if questions < 1:
        raise AlgolensError(f"--questions must be at least 1, got {questions}")
    options = causal_options(units, pairs, circuit_questions, op)  # checked with or without
    options["compare"] = compare
    from algolens.report import report_run  # after the checks: bad options are answered at once
    from algolens.runs import load
    from algolens.tasks.base import resolve_device

    resolve_device(device)  # an absent GPU is one line, before anything is loaded
    loaded = load(run)
    folder = Path(out) if out is not None else report_folder(loaded.name)
    path = report_run(loaded, folder, questions=questions, seed=seed, fmt=format, progress=progress,
                      extra=zoo_sections(loaded), device=device,
                      causal=options if causal else None)  # fmt: skip
    typer.echo(f"report written to {path}")


def causal_options(units: str, pairs: int, questions: int, op: str | None) -> CausalOptions:
    """``report_run``'s ``causal`` keywords from the command's options, each checked."""
    from algolens.analysis.causal import Budget
    from algolens.analysis.units import UNITS

    names = tuple(u.strip() for u in units.split(",") if u.strip())
    known = tuple(UNITS)
    bad = [u for u in names if u not in known]
    if bad or not names:
        raise AlgolensError(f"--units must name some of {', '.join(known)}, got {units!r}")
    if not 1 <= pairs <= 10_000_000:
        raise AlgolensError(f"--pairs must be between 1 and 10,000,000, got {pairs}")
    if not 1 <= questions <= 100_000_000:
        raise AlgolensError(
            f"--circuit-questions must be between 1 and 100,000,000, got {questions}"
        )
    if op not in (None, "add", "sub", "sub_direct"):
        raise AlgolensError(f"--op must be add, sub or sub_direct, got {op!r}")
    budget = Budget(  # a smaller --pairs bounds every pair count (a quick look on a laptop)
        pairs=pairs, questions=questions, targeted_pairs=min(2_000, pairs),
        search_pairs=min(1_000, pairs), control_pairs=min(2_000, pairs),
        das_pairs=min(4_000, pairs), edge_pairs=min(300, pairs), minimality=min(2_000, questions),
        find_questions=min(1_000, questions),
    )  # fmt: skip
    return {"units": names, "op": op, "budget": budget}


def report_folder(name: str, reports: Path = Path("reports")) -> Path:
    """``reports/<name>``, the name made one plain path component (a run's name comes from its
    config.json, which anyone can edit: ``/etc``, ``../x`` or ``a/b`` must not leave
    ``reports``): characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``,
    leading dots go. The folder must not be a symbolic link."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:100] or "run"
    folder = reports / safe
    if folder.is_symlink():
        raise AlgolensError(f"{folder} is a symbolic link: reports are never written through one")
    return folder


def zoo_sections(run: Any) -> list[Any]:
    """Sections a report gets from the zoo's cards, as the run's family draws them (a mixed
    add/sub model: the reuse comparison over the zoo's mixed models)."""
    from algolens.families import family_of

    family = family_of(run.task.name)
    if family.zoo_sections is None:
        return []
    from algolens.runs import zoo_names
    from algolens.zoo import read_card

    return family.zoo_sections(run, lambda: [read_card(n) for n in zoo_names()])
