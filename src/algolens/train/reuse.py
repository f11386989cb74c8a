"""Model reuse (Quirke, Neo & Barez 2024): start from a trained model's weights.

``ins1`` copies every weight whose name and shape fit, once; attention heads are copied head
by head when only the head count differs, so a 3-head model seeds a 4-head one. ``ins2`` also
writes the source's values back into the inserted heads the source needs every
``recopy_every`` steps; ``ins3`` writes back those heads and the inserted MLPs (the papers'
code: "reset useful heads & MLPs every 100 epochs"). ``freeze_heads`` holds the copied
attention weights fixed after every step.
"""

from __future__ import annotations

import torch
from torch import nn

ATTN_PARAMS = ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V")


def copy_matching_weights(model: nn.Module, source: nn.Module) -> list[str]:
    """Copy every parameter whose name and shape match; returns the copied names, with
    ``[:h]`` for attention weights of which only the first h heads were copied."""
    src = dict(source.named_parameters())
    copied = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            s = src.get(name)
            if s is None:
                continue
            if s.shape == p.shape:
                p.copy_(s)
                copied.append(name)
            elif name.split(".")[-1] in ATTN_PARAMS and s.shape[1:] == p.shape[1:]:
                h = min(s.shape[0], p.shape[0])
                p[:h] = s[:h]
                copied.append(f"{name}[:{h}]")
    return copied


def head_entries(copied: list[str], heads: list[tuple[int, int]] | None = None) -> list[str]:
    """The copied attention entries, narrowed to ``heads`` [(layer, head)] when given:
    ``blocks.0.attn.W_Q[1]`` names one head of one weight."""
    out = []
    for entry in copied:
        name, _, count = entry.partition("[:")
        if name.split(".")[-1] not in ATTN_PARAMS:
            continue
        if heads is None:
            out.append(entry)
            continue
        layer = int(name.split(".")[1])
        limit = int(count.rstrip("]")) if count else None
        out += [
            f"{name}[{h}]" for (lay, h) in heads if lay == layer and (limit is None or h < limit)
        ]
    return out


def recopy_entries(reuse: str, copied: list[str], useful: list[tuple[int, int]]) -> list[str]:
    """What the papers' reuse modes re-copy every ``recopy_every`` steps (Quirke, Neo & Barez
    2024): ``ins2`` the inserted heads the source needs (``useful``), ``ins3`` those heads and
    the inserted MLPs. Neither touches the embeddings, layer norms or unembedding, which the
    mixed task must be free to change (the addition source never wrote a ``-`` sign)."""
    if reuse not in ("ins2", "ins3"):
        return []
    heads = head_entries(copied, useful)
    if reuse == "ins2":
        return heads
    return heads + [entry for entry in copied if ".mlp." in entry]


class WriteBack:
    """Writes saved values back into parts of the parameters: frozen heads after every step,
    or the papers' re-copy every ``every`` steps (ins2, ins3)."""

    def __init__(self, model: nn.Module, source: nn.Module, entries: list[str], every: int = 1):
        params, src = dict(model.named_parameters()), dict(source.named_parameters())
        self.every = every
        self.parts: list[tuple[torch.Tensor, slice | int, torch.Tensor]] = []
        for entry in entries:
            name, index = _split(entry)
            value = src[name].detach()[index].clone()
            self.parts.append((params[name], index, value))

    def __call__(self, done: int) -> None:
        if done % self.every:
            return
        with torch.no_grad():
            for param, index, value in self.parts:
                param[index] = value


def _split(entry: str) -> tuple[str, slice | int]:
    """``'w[:3]'`` -> ('w', slice(None, 3)); ``'w[2]'`` -> ('w', 2); ``'w'`` -> ('w', all)."""
    if "[" not in entry:
        return entry, slice(None)
    name, _, rest = entry.partition("[")
    rest = rest.rstrip("]")
    if rest.startswith(":"):
        return name, slice(None, int(rest[1:]))
    return name, int(rest)
