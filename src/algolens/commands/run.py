"""``algolens predict``, ``sample`` and ``info``: use a run, and look at a task's questions.

``predict`` and ``sample`` stream: questions are read and answered in batches, examples are
written as they are drawn, so memory stays flat for any number and ``| head`` returns at once.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from algolens.commands.base import RunArg, app, echo_json, friendly, task_help, task_options
from algolens.errors import AlgolensError

BATCH = 4096
MAX_LINE = 10_000  # characters in a line of questions; a longer one is refused
LINE_BYTES = 4 * MAX_LINE + 2  # the most a line may take in UTF-8, with its \r\n


def _questions(given: list[str], file: Path | None) -> Iterator[str]:
    """The questions from the command line, or one per line from a file or stdin (``-``)."""
    if given and file is not None:
        raise AlgolensError("give questions on the command line or --file, not both")
    if file is None:
        yield from given
        return
    handle = sys.stdin.buffer if str(file) == "-" else _open(file)
    name = "stdin" if str(file) == "-" else str(file)
    number = 0
    while (line := _read_line(handle, name)) is not None:
        number += 1
        text = _decode(line, number, name)
        if text.strip():
            yield text.strip()


def _open(path: Path) -> Any:
    try:
        return path.open("rb")
    except (OSError, UnicodeError) as e:
        raise AlgolensError(f"cannot read questions from {path}: {type(e).__name__}") from None


def _read_line(handle: Any, name: str) -> bytes | None:
    """One line, read with a bound (``/dev/zero`` is one endless line); None at the end."""
    try:
        line: bytes = handle.readline(LINE_BYTES)
    except OSError as e:
        raise AlgolensError(f"cannot read questions from {name}: {e.strerror or e}") from None
    return line or None


def _decode(line: bytes, number: int, name: str) -> str:
    """The line as text: strict UTF-8 of at most :data:`MAX_LINE` characters, else one line."""
    cut = len(line) == LINE_BYTES and not line.endswith(b"\n")  # the bound stopped the read
    try:
        text = "" if cut else line.decode("utf-8")
    except UnicodeDecodeError:
        raise AlgolensError(f"line {number:,} of {name} is not UTF-8 text") from None
    if cut or len(text.rstrip("\r\n")) > MAX_LINE:
        raise AlgolensError(
            f"line {number:,} of {name} is longer than {MAX_LINE:,} characters: "
            "one question per line"
        )
    return text


@app.command()
@friendly
def predict(
    run: RunArg,
    questions: Annotated[
        list[str] | None,
        typer.Argument(help="Questions such as 12+34, or LEGO sentences 'b = -a ; a = +1'."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Read questions from this file, one per line ('-': stdin)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON Lines: question and answer.")
    ] = False,
) -> None:
    """Answer questions with the model in RUN (greedy decoding): prints 12+34=046, or for LEGO
    'b = -a ; a = +1  ->  b = -1 ; a = +1'. Answers stream out in batches."""
    from algolens.runs import load

    loaded = load(run)
    sep = getattr(loaded.task, "predict_separator", "=")
    stream = _questions(questions or [], file)
    for batch in iter(lambda: list(itertools.islice(stream, BATCH)), []):  # lazily, BATCH at a time
        for q, a in zip(batch, loaded.predict(batch), strict=True):
            typer.echo(
                json.dumps({"question": q, "answer": a}) if as_json else f"{q.strip()}{sep}{a}"
            )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@friendly
def sample(
    ctx: typer.Context,
    task: Annotated[
        str,
        typer.Argument(help=f"{task_help()} (task flags such as --digits 5 as in train)."),
    ],
    n: Annotated[int, typer.Option(help="How many examples.")] = 5,
    seed: Annotated[int, typer.Option(help="Sampler seed.")] = 0,
    task_opt: Annotated[
        list[str] | None, typer.Option(help="Task setting KEY=VALUE (repeatable), e.g. n_digits=5.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines output.")] = False,
) -> None:
    """Print generated training examples with their answers and labels, as they are drawn."""
    from algolens.commands.train import family_flags
    from algolens.families import family_of, make_task

    if n < 1:
        raise AlgolensError(f"--n must be at least 1, got {n}")
    flags = family_flags(family_of(task), ctx.args)  # an unknown task: one line before torch
    import torch

    t = make_task({"name": task, **flags, **task_options(task, task_opt)})
    gen = torch.Generator().manual_seed(seed)
    for start in range(0, n, BATCH):
        for record in t.records(t.sample(min(BATCH, n - start), gen)):
            if as_json:
                typer.echo(json.dumps(record))
            else:
                typer.echo(
                    " ".join(
                        f"{k}={v}" for k, v in record.items() if not isinstance(v, list | dict)
                    )
                )


@app.command()
@friendly
def info(
    run: RunArg,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Print a run's config, parameter count and final metrics."""
    from algolens.runs import load

    loaded = load(run)
    data: dict[str, Any] = {
        "run": str(loaded.path),
        "config": loaded.config.to_dict(),
        "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "final": loaded.metrics[-1] if loaded.metrics else {},
    }
    if as_json:
        echo_json(data)
        return
    cfg = data["config"]
    for key in ("task", "model", "train", "init"):
        typer.echo(f"{key}: {json.dumps(cfg[key])}")
    typer.echo(f"parameters: {data['parameters']:,}")
    if data["final"]:
        losses = {
            k: v for k, v in data["final"].items() if k.startswith(("loss", "val_", "train_"))
        }
        text = ", ".join(f"{k}={v:.3g}" for k, v in losses.items() if isinstance(v, int | float))
        typer.echo(f"final step {data['final'].get('step')}: {text}")
