"""Task families. ``make_task`` rebuilds a task from the ``task`` section of a run config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from algolens.errors import AlgolensError
from algolens.tasks.arithmetic import ArithmeticTask
from algolens.tasks.base import Batch, Task, answer_logprobs
from algolens.tasks.lego import LegoTask
from algolens.tasks.modular import ModAddTask

# name -> factory taking the config's other fields as keyword arguments
TASKS: dict[str, Callable[..., Any]] = {
    "add": lambda **kw: ArithmeticTask(op="add", **kw),
    "sub": lambda **kw: ArithmeticTask(op="sub", **kw),
    "mix": lambda **kw: ArithmeticTask(op="mix", **kw),
    "modadd": ModAddTask,
    "lego": LegoTask,
}


def make_task(spec: dict[str, Any] | str, **kwargs: Any) -> Any:
    """``make_task('add', n_digits=5)`` or ``make_task({'name': 'add', 'n_digits': 5})``."""
    if isinstance(spec, str):
        spec = {"name": spec}
    fields = {**spec, **kwargs}
    name = fields.pop("name", None)
    if name not in TASKS:
        raise AlgolensError(f"unknown task {name!r}: choose from {', '.join(sorted(TASKS))}")
    try:
        return TASKS[name](**fields)
    except TypeError as e:
        raise AlgolensError(f"bad options for task {name!r}: {e}") from None


__all__ = ["TASKS", "ArithmeticTask", "Batch", "Task", "answer_logprobs", "make_task"]
