"""The typer app and what every command shares: one-line errors, KEY=VALUE options.

Kept light: typer only. Each command module imports what it needs inside the command.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer

from algolens import store
from algolens.errors import AlgolensError
from algolens.options import SEED_MAX


class Group(typer.core.TyperGroup):
    """The top-level group, its help flag defaulting to False: typer coerces an unset (None)
    flag through pydantic, whose import alone costs 0.15 s of every ``CMD --help``."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.default = False
        return option


app = typer.Typer(
    cls=Group,
    help="Train small networks on algorithmic tasks, see the algorithm they learned, verify it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)

F = TypeVar("F", bound=Callable[..., Any])

RunArg = Annotated[str, typer.Argument(help="Run directory, zoo:NAME or hf:OWNER/NAME.")]
"""The RUN argument of every command that reads a run (one definition of its help)."""


def fail(message: str) -> typer.Exit:
    """Print one line on stderr and return the exit-2 exception to raise."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else "bad input"
    typer.echo(f"error: {first}", err=True)
    return typer.Exit(code=2)


OUT_OF_MEMORY = "out of memory: ask for fewer questions, a smaller batch or a smaller model"


def friendly(fn: F) -> F:
    """Bad input becomes one stderr line and exit code 2, never a traceback; a closed pipe
    (``algolens sample ... | head``) ends quietly."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            check_numbers(kwargs)
            if isinstance(kwargs.get("run"), str) and not kwargs.get("submission"):
                store.check_ref(kwargs["run"])  # a missing run is answered before torch loads
            return fn(*args, **kwargs)
        except AlgolensError as e:
            raise fail(str(e)) from None
        except BrokenPipeError:
            _quiet_pipe()
            raise typer.Exit(0) from None
        except OSError as e:  # a read-only --out, a file where a folder should be, a full disk
            where = f": {e.filename}" if e.filename else ""
            raise fail(f"{e.strerror or e}{where}") from None
        except MemoryError:
            raise fail(OUT_OF_MEMORY) from None
        except RuntimeError as e:  # torch's allocator refusing a size is no bug of ours
            if "can't allocate memory" not in str(e):
                raise
            raise fail(OUT_OF_MEMORY) from None

    return wrapper  # type: ignore[return-value]


INT64 = 2**63 - 1
# Ranges the options of these names share in every command, checked before a command runs (a
# number out of range would otherwise overflow deep inside torch or the OS: ``--seed 2**64``,
# ``--workers 10**20``). Any other whole number must fit in 64 bits, any other number be finite.
LIMITS: dict[str, tuple[int, int]] = {
    "seed": (0, SEED_MAX),  # torch's CPU generator keeps a seed's low 32 bits
    "workers": (1, 512),
    "shards": (0, 100_000),
    "gpus_per_run": (0, 1024),
    "questions": (1, 10**15),
    "n": (1, 10**15),
    "n_eval": (1, 10**6),
    "examples": (0, 10**6),
    "batch_size": (1, 2**20),
    "steps": (1, 10**9),
}


def check_numbers(values: Mapping[str, Any]) -> None:
    """Refuse, in one line naming the flag, a parsed option that is out of its range
    (:data:`LIMITS`), a whole number beyond 64 bits, or a number that is not finite (``nan``,
    ``inf``). Typer's own ``min``/``max`` on an option still apply first."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, float) and not math.isfinite(value):
            raise AlgolensError(f"{flag} must be a finite number, got {value}")
        low, high = LIMITS.get(name, (-INT64, INT64))
        if not low <= value <= high:
            raise AlgolensError(f"{flag} must be {low:,} to {high:,}, got {show_number(value)}")


def show_number(value: int | float) -> str:
    """A number for a message: a huge whole number by its size (``str`` refuses beyond 4,300
    digits, and a line of thousands of digits says nothing)."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"a number of about {int(value.bit_length() * math.log10(2)):,} digits"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _quiet_pipe() -> None:
    """After a broken pipe, point stdout at /dev/null so Python's exit flush stays silent."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def parse_options(pairs: list[str] | None, what: str = "option") -> dict[str, Any]:
    """``['p=97', 'tie_layers=true']`` -> ``{'p': 97, 'tie_layers': True}`` (JSON, else text)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AlgolensError(f"expected KEY=VALUE for a {what}, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
        except (ValueError, RecursionError):  # over 4,300 digits, or nested thousands deep
            raise AlgolensError(f"the {what} {key.strip()!r} is too long or too deep") from None
    return out


def task_options(task: str, pairs: list[str] | None) -> dict[str, Any]:
    """``--task-opt`` pairs for TASK; ``name`` is refused (the TASK argument names the task, and
    ``--task-opt name=sub`` would silently train another)."""
    opts = parse_options(pairs, "task option")
    if "name" in opts:
        raise AlgolensError(
            f"--task-opt name={opts['name']} would change the task: give it as TASK "
            f"instead of {task!r}"
        )
    return opts


def json_safe(data: Any) -> Any:
    """``data`` with every NaN or infinity as None: JSON has no such numbers (Python's json
    writes a bare ``NaN`` that other parsers refuse)."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, Mapping):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [json_safe(v) for v in data]
    return data


def echo_json(data: Any) -> None:
    """``data`` as strict JSON (NaN and infinities as null), indented."""
    typer.echo(json.dumps(json_safe(data), indent=2, allow_nan=False))


def task_help(what: str = "Task") -> str:
    """``Task: add, lego, mix, modadd, sort, sub``: the tasks of every registered family (plug-ins
    included), for a command's help; the family records import nothing heavy."""
    from algolens.families import task_names

    return f"{what}: {', '.join(task_names())}"
