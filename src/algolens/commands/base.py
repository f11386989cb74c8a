"""The typer app and what every command shares: one-line errors, KEY=VALUE options.

Kept light: typer only. Each command module imports what it needs inside the command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer

from algolens.errors import AlgolensError


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


def fail(message: str) -> typer.Exit:
    """Print one line on stderr and return the exit-2 exception to raise."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else "bad input"
    typer.echo(f"error: {first}", err=True)
    return typer.Exit(code=2)


def friendly(fn: F) -> F:
    """Bad input becomes one stderr line and exit code 2, never a traceback; a closed pipe
    (``algolens sample ... | head``) ends quietly."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AlgolensError as e:
            raise fail(str(e)) from None
        except BrokenPipeError:
            _quiet_pipe()
            raise typer.Exit(0) from None
        except OSError as e:  # a read-only --out, a file where a folder should be, a full disk
            where = f": {e.filename}" if e.filename else ""
            raise fail(f"{e.strerror or e}{where}") from None

    return wrapper  # type: ignore[return-value]


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
    return out


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))
