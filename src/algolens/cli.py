"""The ``algolens`` command: a thin typer layer over the library.

Start-up stays light: torch, transformer_lens and huggingface_hub are imported only inside the
commands that need them, so ``algolens --help`` answers at once. Every command turns bad input
(:class:`~algolens.errors.AlgolensError`) into one line on stderr and exit code 2; tests call
:data:`app` in-process with typer's ``CliRunner``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Any

import typer

import algolens.commands
from algolens import __version__
from algolens.commands.base import app, friendly, parse_options


def _register_command_modules() -> None:
    """Import every module of :mod:`algolens.commands`: each adds its commands to :data:`app`
    (``families`` lets each task family add its own)."""
    for info in pkgutil.iter_modules(algolens.commands.__path__):
        importlib.import_module(f"algolens.commands.{info.name}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a usage error (a missing argument, an unknown option) is one
    ``error:`` line on stderr and exit code 2, like every other bad input."""
    import typer

    errors = _click_exceptions()
    try:
        code = app(args=argv, prog_name="algolens", standalone_mode=False)
    except errors.NoArgsIsHelpError as e:
        typer.echo(e.ctx.get_help() if e.ctx else str(e))
        return 0
    except errors.ClickException as e:
        ctx = getattr(e, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"error: {_usage_text(e, errors)}{hint}", err=True)
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    return code if isinstance(code, int) else 0


def _usage_text(e: Any, errors: Any) -> str:
    """The first line of a usage error; a mistyped option names the closest real one."""
    if isinstance(e, errors.NoSuchOption) and e.possibilities:
        from algolens.options import did_you_mean

        hint = did_you_mean(e.option_name, e.possibilities, quote=False)
        if hint:
            return f"No such option: {e.option_name}{hint}"
    first = e.format_message().strip().splitlines()
    return first[0] if first else "bad usage"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"algolens {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Train small networks on algorithmic tasks, see the algorithm they learned, verify it."""


def _click_exceptions() -> Any:
    """The exceptions module of the click that typer runs on (typer 0.2x carries its own)."""
    try:
        import typer._click.exceptions as vendored

        return vendored
    except ImportError:  # typer on the click package
        import click.exceptions as upstream

        return upstream


_register_command_modules()


def __getattr__(name: str) -> Any:
    """``click_command``: the click command typer builds from :data:`app`, for the docs site's
    CLI reference (mkdocs-click), built on first use so that start-up stays light."""
    if name == "click_command":
        import typer

        return typer.main.get_command(app)
    raise AttributeError(f"module 'algolens.cli' has no attribute {name!r}")


__all__ = ["app", "friendly", "main", "parse_options"]
