"""The ``algolens`` command: a thin typer layer over the library.

Start-up stays light: torch, transformer_lens and huggingface_hub are imported only inside the
commands that need them, so ``algolens --help`` answers at once. Every command turns bad input
(:class:`~algolens.errors.AlgolensError`) into one line on stderr and exit code 2; tests call
:data:`app` in-process with typer's ``CliRunner``.
"""

from __future__ import annotations

import importlib
import pkgutil

import algolens.commands
from algolens.commands.base import app, friendly, parse_options


def _register_command_modules() -> None:
    """Import every module of :mod:`algolens.commands`: each adds its commands to :data:`app`
    (``families`` lets each task family add its own)."""
    for info in pkgutil.iter_modules(algolens.commands.__path__):
        importlib.import_module(f"algolens.commands.{info.name}")


def main() -> None:
    app()


_register_command_modules()

__all__ = ["app", "friendly", "main", "parse_options"]
