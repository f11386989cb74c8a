"""``algolens verify RUN``: exact-match verification on random, exhaustive or named questions."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from algolens.commands.base import app, friendly
from algolens.errors import AlgolensError
from algolens.options import Precision

if TYPE_CHECKING:
    from algolens.runs import Run
    from algolens.verify import Distribution, VerifyResult

RunArg = Annotated[
    str,
    typer.Argument(
        help="Run directory, zoo:NAME or hf:OWNER/NAME (with --submission: a Python file)."
    ),
]
QuestionsOpt = Annotated[
    int, typer.Option("--questions", "-n", help="Random questions per distribution.")
]
DistributionOpt = Annotated[
    str,
    typer.Option(
        help="both (default), uniform (every digit uniform), or training (the training "
        "generator's mixture, enrichment included, drawn one question at a time; the "
        "papers drew their million questions this way)."
    ),
]
SuiteOpt = Annotated[
    str | None,
    typer.Option(
        help="Named suite (arithmetic): carry, borrow, complete (both that fit), the papers' "
        "lists ba, uc1, simple_us9, cascade_us9, step, papers (all five), all; structured "
        "(sums of exactly 10^k, carry and borrow runs at every offset, one digit apart)."
    ),
]
HELP = {  # the options' help texts, one entry an option
    "exhaustive": "Check every question (spaces up to 10^8); resumable.",
    "batch": "Questions per forward pass (default: by model size).",
    "shards": "With --exhaustive: split the questions into this many shards, each a Ray task "
    "(0: no sharding); finished shards are kept and skipped on a rerun.",
    "workers": "Random and --exhaustive questions: one-thread CPU processes answering batches "
    "(default: one per core for 64 batches or more; the result is the same for any number). "
    "With --shards: the CPUs of the local Ray instance (default: all).",
    "address": "Join this Ray cluster (e.g. ray://host:10001) for --shards.",
    "precision": "auto: answer with a bfloat16 copy of the model first where the hardware has "
    "native bfloat16, re-checking in float32 every answer it is unsure of or gets wrong (same "
    "verdicts; 1.3x to 2x faster here); float32: float32 alone; bfloat16: force the screen.",
}
ExhaustiveOpt = Annotated[bool, typer.Option(help=HELP["exhaustive"])]
BatchOpt = Annotated[int | None, typer.Option(help=HELP["batch"])]
ShardsOpt = Annotated[int, typer.Option(help=HELP["shards"])]
WorkersOpt = Annotated[int | None, typer.Option(help=HELP["workers"])]
AddressOpt = Annotated[str | None, typer.Option(help=HELP["address"])]
PrecisionOpt = Annotated[str, typer.Option(help=HELP["precision"])]
SubmissionOpt = Annotated[
    bool,
    typer.Option(
        "--submission",
        help="RUN is an adder algolens did not train: a Python file in the AdderBoard format "
        "(build_model() returning (model, metadata), add(model, a, b) -> int, optionally "
        "add_batch(model, a_list, b_list)). It gets the checks of a zoo adder at its digit "
        "count: uniform questions, the complete carry suite, the papers' lists (Quirke & Barez "
        "2024) and the AdderBoard's 10 edge cases and 10,000 pairs (seed 2025).",
    ),
]
DigitsOpt = Annotated[
    int | None,
    typer.Option(help="With --submission: digits per operand (default: metadata n_digits, or 10)."),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(help="With --submission: seconds one add call (or one add_batch call) may take."),
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        help="Progress file for --exhaustive (default: in the run directory). Only this "
        "model's and task's progress is resumed (under another --batch-size when it divides "
        "the questions done); any other file is refused and left as it is."
    ),
]


def _state_path(run_path: Path | None, name: str, state: Path | None) -> Path:
    """Where an exhaustive run saves progress: --state, else the run directory, else cwd."""
    if state is not None:
        return state
    if run_path is not None and os.access(run_path, os.W_OK) and "zoo" not in run_path.parts:
        return run_path / "verify_exhaustive.json"
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "_-.") else "_" for c in name)
    return Path(f".algolens-verify-{safe.lstrip('.')[:100]}.json")  # one file, here


@dataclass(frozen=True)
class Request:
    """What one ``algolens verify`` asks for, checked: the options every mode reads."""

    questions: int
    distributions: tuple[Distribution, ...]  # of the random questions
    seed: int
    examples: int
    batch_size: int | None
    workers: int | None
    precision: Precision
    progress: bool


def _distributions(distribution: str, submission: bool) -> tuple[Distribution, ...]:
    """The random questions' distributions: ``both`` is uniform and training for a run, and
    uniform alone for a submission (its training distribution is unknown)."""
    if distribution == "both":
        return ("uniform",) if submission else ("uniform", "training")
    return (cast("Distribution", distribution),)  # checked by _check_args


def _check_args(questions: int, examples: int, batch_size: int | None, distribution: str) -> None:
    if questions <= 0:
        raise AlgolensError(f"--questions must be at least 1, got {questions}")
    if examples < 0:
        raise AlgolensError(f"--examples must be 0 or more, got {examples}")
    if batch_size is not None and batch_size <= 0:
        raise AlgolensError(f"--batch-size must be at least 1, got {batch_size}")
    if distribution not in ("uniform", "training", "both"):
        raise AlgolensError(
            f"--distribution must be both, uniform or training, got {distribution!r}"
        )


def _check_modes(
    run: str,
    *,
    exhaustive: bool,
    suite: str | None,
    shards: int,
    workers: int | None,
    submission: bool,
    precision: str,
) -> Precision:
    """The options that go together, and the precision (one line if they do not)."""
    from algolens.options import check_precision

    if submission and exhaustive:
        raise AlgolensError("--exhaustive checks algolens runs; a submission gets --questions")
    if not submission and run.endswith(".py") and Path(run).is_file():
        raise AlgolensError(
            f"{run} is a Python file: for an AdderBoard-format adder add --submission"
        )
    if exhaustive and suite:
        raise AlgolensError("choose one of --exhaustive and --suite")
    if shards and not exhaustive:
        raise AlgolensError("--shards splits an exhaustive check: add --exhaustive")
    if workers is not None and workers < 1:
        raise AlgolensError(f"--workers must be at least 1, got {workers}")
    return check_precision(precision)


@app.command()
@friendly
def verify(
    run: RunArg,
    questions: QuestionsOpt = 100_000,
    distribution: DistributionOpt = "both",
    seed: Annotated[int, typer.Option(help="Seed of the random questions.")] = 0,
    exhaustive: ExhaustiveOpt = False,
    suite: SuiteOpt = None,
    examples: Annotated[int, typer.Option(help="How many failing questions to list.")] = 10,
    batch_size: BatchOpt = None,
    state: StateOpt = None,
    shards: ShardsOpt = 0,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    precision: PrecisionOpt = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    device: Annotated[
        str, typer.Option(help="Where the model runs: cpu, cuda, cuda:N or auto.")
    ] = "cpu",
    submission: SubmissionOpt = False,
    digits: DigitsOpt = None,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Check that RUN gives every answer token right (float32 argmax against the oracle)."""
    _check_args(questions, examples, batch_size, distribution)
    prec = _check_modes(run, exhaustive=exhaustive, suite=suite, shards=shards, workers=workers,
                        submission=submission, precision=precision)  # fmt: skip
    dists = _distributions(distribution, submission)
    req = Request(questions, dists, seed, examples, batch_size, workers, prec, progress)
    if submission:
        _submission(run, req, suite=suite, digits=digits, timeout=timeout, as_json=as_json)
        return
    if digits is not None:  # a run's digit count is its task's: --digits would be ignored
        raise AlgolensError("--digits is for --submission; a run verifies at its own digits")
    from algolens import verify as v  # after the checks: bad options are answered at once
    from algolens.runs import load
    from algolens.tasks.base import resolve_device

    loaded = load(run)
    loaded.model.to(resolve_device(device))
    v.require_sequence(loaded.task)
    if suite is not None:
        results = {"suite": _suite(loaded, suite, req)}
    elif exhaustive and shards:
        path = _state_path(loaded.path, loaded.name, state)
        results = {"all": v.verify_sharded(
            run, load=load, shards=shards, state_dir=path.with_name(path.stem + "_shards"),
            workers=workers, address=address, examples=examples, progress=progress,
            precision=prec,
        )}  # fmt: skip
    elif exhaustive:
        results = {"all": _exhaustive(loaded, _state_path(loaded.path, loaded.name, state), req)}
    else:
        results = {d: v.verify(loaded.model, loaded.task, distribution=d, questions=questions,
                               seed=seed, batch_size=batch_size, examples=examples,
                               progress=progress, precision=prec, workers=workers)
                   for d in req.distributions}  # fmt: skip
    _print(loaded.name, results, as_json, random=not (suite or exhaustive))


def _submission(
    path: str, req: Request, *, suite: str | None, digits: int | None, timeout: float,
    as_json: bool,
) -> None:  # fmt: skip
    """``verify --submission FILE``: an AdderBoard-format adder through the same engine."""
    import contextlib
    import sys

    from algolens.families import family_of

    if timeout <= 0:
        raise AlgolensError(f"--timeout must be above 0 seconds, got {timeout:g}")
    check_file = family_of("add").submission  # submissions are adders (the AdderBoard format)
    assert check_file is not None
    with contextlib.redirect_stdout(sys.stderr):  # what the submission prints stays off stdout
        check = check_file(
            path, timeout=timeout, n_digits=digits, questions=req.questions, seed=req.seed,
            distributions=req.distributions, suite=suite or "all", examples=req.examples,
            progress=req.progress,
        )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(check.to_dict(), indent=2))
        return
    typer.echo("\n".join(check.lines()))


def _suite(loaded: Run, suite: str, req: Request) -> VerifyResult:
    from algolens.families import family_of
    from algolens.options import did_you_mean

    family = family_of(loaded.task.name)
    if suite not in family.suite_names or family.suite is None:
        have = ", ".join(family.suite_names) or "none"
        hint = did_you_mean(suite, family.suite_names)
        raise AlgolensError(
            f"unknown suite {suite!r} for {loaded.task.name}{hint}: choose from {have}"
        )
    return family.suite(  # type: ignore[no-any-return]
        loaded.model, loaded.task, suite, examples=req.examples, precision=req.precision
    )


def _exhaustive(loaded: Run, path: Path, req: Request) -> VerifyResult:
    from algolens.verify import verify_exhaustive

    try:
        return verify_exhaustive(
            loaded.model, loaded.task, state_path=path, batch_size=req.batch_size,
            examples=req.examples, progress=req.progress, precision=req.precision,
            workers=req.workers,
        )  # fmt: skip
    except KeyboardInterrupt:
        typer.echo(f"interrupted; progress saved in {path}: run again to resume", err=True)
        raise typer.Exit(130) from None


def _print(name: str, results: dict[str, VerifyResult], as_json: bool, random: bool) -> None:
    """Random questions are reported per distribution (each named); the others alone."""
    if as_json:
        body = (
            {d: r.to_dict() for d, r in results.items()}
            if random
            else next(iter(results.values())).to_dict()
        )
        typer.echo(json.dumps({"run": name, **body}, indent=2))
        return
    for r in results.values():
        typer.echo(f"{name}: " + r.summary())
