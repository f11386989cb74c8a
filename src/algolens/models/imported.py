"""Checks on a state dict from elsewhere (``algolens import``) before anything reads its shapes.

A HookedTransformer state dict names its weights ``embed.W_E``, ``blocks.0.attn.W_Q``, ... with
fixed ranks (``W_Q: [n_heads, d_model, d_head]``). A file from elsewhere may hold anything, so
each weight is checked for its rank, its layer index and its dtype: integer, boolean and complex
weights, and NaN or infinite values, are refused in one line; float16, bfloat16 and float64
weights are converted to float32, the dtype the models compute in, and said so in a note.

>>> import torch
>>> weights, notes = checked_state_dict({"embed.W_E": torch.ones(3, 2, dtype=torch.float16)})
>>> weights["embed.W_E"].dtype, notes
(torch.float32, ['converted 1 float16 weight to float32'])
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import Tensor

from algolens.errors import AlgolensError

# the rank of each HookedTransformer weight, by the last part of its name
RANKS = {"W_E": 2, "W_pos": 2, "W_U": 2, "b_U": 1, "W_Q": 3, "W_K": 3, "W_V": 3, "W_O": 3,
         "b_Q": 2, "b_K": 2, "b_V": 2, "b_O": 1, "W_in": 2, "W_out": 2, "b_in": 1, "b_out": 1,
         "w": 1, "b": 1}  # fmt: skip
BUFFERS = (".attn.mask", ".attn.IGNORE")  # HookedTransformer's buffers; ours derive from config
MAX_LAYERS = 256  # as TransformerConfig allows


def checked_state_dict(state_dict: dict[Any, Any]) -> tuple[dict[str, Tensor], list[str]]:
    """The weights as float32 tensors, after checking names, ranks, dtypes and values; and the
    notes to show (what was converted). HookedTransformer's own buffers pass unchecked."""
    out: dict[str, Tensor] = {}
    converted: Counter[str] = Counter()
    for key, value in state_dict.items():
        _check_name(key)
        if not isinstance(value, Tensor) or value.layout != torch.strided:
            raise AlgolensError(f"weight {key!r} is not a dense tensor")
        if key.endswith(BUFFERS):
            out[key] = value
            continue
        _check_rank(key, value)
        out[key] = _float32(key, value, converted)
    notes = [
        f"converted {n} {dtype} weight{'s' if n > 1 else ''} to float32"
        for dtype, n in sorted(converted.items())
    ]
    return out, notes


def _check_name(key: Any) -> None:
    """Names are text; a block's name carries its layer as ASCII digits (``blocks.0.``)."""
    if not isinstance(key, str):
        raise AlgolensError(f"weight names must be text, got {key!r}"[:200])
    parts = key.split(".")
    if parts[0] != "blocks":
        return
    layer = parts[1] if len(parts) > 2 else ""
    if not (layer.isascii() and layer.isdigit() and int(layer) < MAX_LAYERS):
        raise AlgolensError(
            f"weight {key[:80]!r} is not a HookedTransformer name: blocks.N. needs a layer "
            f"number N below {MAX_LAYERS}"
        )


def _check_rank(key: str, value: Tensor) -> None:
    rank = RANKS.get(key.rsplit(".", 1)[-1])
    if rank is not None and value.dim() != rank:
        raise AlgolensError(
            f"weight {key!r} has shape {tuple(value.shape)}: a HookedTransformer's has "
            f"{rank} dimension{'s' if rank > 1 else ''}"
        )


def _float32(key: str, value: Tensor, converted: Counter[str]) -> Tensor:
    """``value`` as float32; integer, boolean or complex weights and non-finite values refused."""
    if not value.is_floating_point():
        raise AlgolensError(
            f"weight {key!r} is {str(value.dtype).removeprefix('torch.')}: weights must be "
            "floating point (float32, or float16/bfloat16/float64 to convert)"
        )
    if value.dtype != torch.float32:
        converted[str(value.dtype).removeprefix("torch.")] += 1
        value = value.to(torch.float32)
    if not bool(torch.isfinite(value).all()):
        raise AlgolensError(f"weight {key!r} holds NaN or infinite values (or overflows float32)")
    return value
