"""Does a checkpoint's optimiser and scheduler state fit this run's? Checked before loading.

``torch.optim`` loads a state dict without looking inside it: a tampered or foreign checkpoint
(a learning rate that is text, a moment tensor of another shape) loads silently and fails
steps later, deep in the optimiser, with a traceback. Here the saved state is compared, part by
part, with the state this run's fresh optimiser and scheduler have: the same kinds of values,
lists of the same length, tensors of the same dtype and shape, numbers finite. Keys that only
one side has are left to torch (another torch version may add or drop one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor

from algolens.errors import AlgolensError


def check_layout(fresh: Any, saved: Any, where: str) -> None:
    """Raise a one-line error at the first part of ``saved`` that is not like ``fresh``."""
    if isinstance(fresh, dict):
        if not isinstance(saved, dict):
            _refuse(where, saved)
        for key in fresh.keys() & saved.keys():
            check_layout(fresh[key], saved[key], f"{where}.{key}")
    elif isinstance(fresh, list | tuple):
        if not isinstance(saved, list | tuple) or len(saved) != len(fresh):
            _refuse(where, saved)
        for i, (a, b) in enumerate(zip(fresh, saved, strict=True)):
            check_layout(a, b, f"{where}[{i}]")
    elif isinstance(fresh, Tensor):
        if not isinstance(saved, Tensor) or (saved.dtype, saved.shape) != (
            fresh.dtype,
            fresh.shape,
        ):
            _refuse(where, saved)
    elif not _same_scalar(fresh, saved):
        _refuse(where, saved)


def check_optimizer_state(fresh: dict[str, Any], saved: Any, params: Sequence[Tensor]) -> None:
    """An optimiser state: its groups like the fresh optimiser's, and each parameter's state
    (Adam's ``step``, ``exp_avg``, ``exp_avg_sq``) tensors of that parameter's shape."""
    if not isinstance(saved, dict) or not isinstance(saved.get("state", {}), dict):
        _refuse("optimizer", saved)
    check_layout(fresh.get("param_groups"), saved.get("param_groups"), "optimizer.param_groups")
    for index, entry in saved.get("state", {}).items():
        where = f"optimizer.state[{index!r}]"
        if type(index) is not int or not 0 <= index < len(params) or not isinstance(entry, dict):
            _refuse(where, entry)
        for key, value in entry.items():
            scalar = isinstance(value, Tensor) and value.numel() == 1 and key == "step"
            if not isinstance(value, Tensor) or not (scalar or value.shape == params[index].shape):
                _refuse(f"{where}.{key}", value)
            if value.is_floating_point() and not bool(value.isfinite().all()):
                _refuse(f"{where}.{key}", value)


def _same_scalar(fresh: Any, saved: Any) -> bool:
    """The same kind of scalar: bool, text and None exactly; a whole number stays whole; a
    float may be saved as a whole number; numbers finite."""
    if fresh is None or isinstance(fresh, bool | str):
        return type(saved) is type(fresh)
    if isinstance(fresh, int | float):
        if isinstance(saved, bool) or not isinstance(saved, int | float):
            return False
        if isinstance(fresh, int) and not isinstance(saved, int):
            return False
        return abs(saved) < 2**63 if isinstance(saved, int) else math.isfinite(saved)
    return True  # anything else (a callable's state): torch checks it


def _refuse(where: str, value: Any) -> None:
    shown = (
        f"a {value.dtype} tensor of shape {tuple(value.shape)}"
        if isinstance(value, Tensor)
        else repr(value)[:60]
    )
    raise AlgolensError(f"the checkpoint does not fit this run: its {where} is {shown}")
