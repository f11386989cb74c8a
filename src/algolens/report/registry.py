"""Which function builds the ``algolens analyse`` report for a run, by task name.

A task family registers its reporter with :func:`register_reporter`; a reporter takes the loaded
:class:`~algolens.store.Run`, the output folder and options, writes ``report.html`` (and
``claims.json``) there, and returns the report's path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from algolens.errors import AlgolensError

Reporter = Callable[..., Path]
REPORTERS: dict[str, Reporter] = {}


def register_reporter(task_names: tuple[str, ...], reporter: Reporter) -> None:
    for name in task_names:
        REPORTERS[name] = reporter


def reporter_for(task_name: str) -> Reporter:
    _load_reporters()
    if task_name not in REPORTERS:
        raise AlgolensError(f"no analysis report for task {task_name!r} yet")
    return REPORTERS[task_name]


def _load_reporters() -> None:
    """Import every ``algolens.report`` module so that each registers its reporter."""
    import importlib
    import pkgutil

    import algolens.report

    for info in pkgutil.iter_modules(algolens.report.__path__):
        importlib.import_module(f"algolens.report.{info.name}")


def run_reporter(run: Any, out: Path, **options: Any) -> Path:
    return reporter_for(run.config["task"]["name"])(run, out, **options)
