"""Task families, registered in one place: this package finds them.

A family is a folder here (``algolens/families/NAME/``) whose ``__init__.py`` defines
``FAMILY``, a :class:`~algolens.families.base.Family`; adding a folder adds the family, with no
edit anywhere else. Families in other installed packages register through the entry-point group
``algolens.families`` (``name = "package.module:FAMILY"``).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from algolens.errors import AlgolensError
from algolens.families.base import Family, Preset
from algolens.options import unknown_key

if TYPE_CHECKING:
    from algolens.tasks.base import Task

ENTRY_POINTS = "algolens.families"


@cache
def families() -> dict[str, Family]:
    """Every family, by family name: this package's folders, then installed plug-ins."""
    found: dict[str, Family] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg:
            module = importlib.import_module(f"{__name__}.{info.name}")
            family = getattr(module, "FAMILY", None)
            if isinstance(family, Family):
                found[family.name] = family
    for ep in entry_points(group=ENTRY_POINTS):
        family = ep.load()
        if isinstance(family, Family):
            found.setdefault(family.name, family)
    return found


@cache
def _by_task() -> dict[str, Family]:
    out: dict[str, Family] = {}
    for family in families().values():
        for task_name in family.tasks:
            out[task_name] = family
    return out


def task_names() -> list[str]:
    return sorted(_by_task())


def family_of(task_name: str) -> Family:
    """The family that owns task ``task_name`` (``add`` -> arithmetic)."""
    by_task = _by_task()
    if task_name not in by_task:
        raise AlgolensError(unknown_key(task_name, list(by_task), "task"))
    return by_task[task_name]


def make_task(spec: dict[str, Any] | str, **options: Any) -> Task:
    """``make_task('add', n_digits=5)`` or ``make_task({'name': 'add', 'n_digits': 5})``."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise AlgolensError(f"a task must be a table with a name, got {spec!r}")
    fields = {**spec, **options}
    name = fields.pop("name", None)
    if not isinstance(name, str):
        raise AlgolensError(f"a task needs a name: choose from {', '.join(task_names())}")
    return family_of(name).tasks[name](**fields)


def all_presets() -> dict[tuple[str, str], Preset]:
    """Every family's named presets, by (task name, preset name)."""
    return {
        (task, name): preset
        for family in families().values()
        for task, named in family.presets.items()
        for name, preset in named.items()
    }


def resolve_preset(task_name: str, preset: str | None) -> Preset:
    """The recipe ``algolens train TASK [--preset NAME]`` starts from."""
    family = family_of(task_name)
    named = family.presets.get(task_name, {})
    name = preset or family.defaults[task_name]
    if name not in named:
        raise AlgolensError(unknown_key(name, list(named), f"preset for {task_name}"))
    return named[name].copy()


__all__ = [
    "Family",
    "Preset",
    "all_presets",
    "families",
    "family_of",
    "make_task",
    "resolve_preset",
    "task_names",
]
