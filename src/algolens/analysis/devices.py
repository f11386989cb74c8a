"""Analysis on a device: run a family's analysis where the model lives, bring the results home.

The analysis runs under ``torch.device(device)``, so the tensors it makes land beside the model;
tasks make their questions on the CPU (``tasks.base.on_cpu``) and the analysis moves each batch
once. The results come back to the CPU in one pass at the end, for the report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor

from algolens.tasks.base import Batch

T = TypeVar("T")


def run_on(device: torch.device, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` with ``device`` as the default device, its result on the CPU.

    On the default device already (the CPU, usually) ``fn`` runs as it is: the device context
    intercepts every torch call, which costs time for nothing there."""
    if device == torch.get_default_device():
        return fn(*args, **kwargs)
    with torch.device(device):
        result = fn(*args, **kwargs)
    return to_cpu(result) if device.type != "cpu" else result


def to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor in it on the CPU: tensors, and tensors inside dataclasses (updated
    in place), dicts, lists and tuples; anything else as it is."""
    if isinstance(obj, Tensor):
        return obj.cpu()
    if isinstance(obj, Batch):
        return obj.to("cpu")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            object.__setattr__(obj, f.name, to_cpu(getattr(obj, f.name)))
        return obj
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_cpu(v) for v in obj]
    if isinstance(obj, tuple):
        items = [to_cpu(v) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    return obj
