"""Attention patterns over hook names: per question, averaged, and each query's top keys."""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor

from algolens.models.transformer import Transformer


@torch.inference_mode()
def attention_patterns(
    model: Transformer, tokens: Int[Tensor, "batch n_ctx"]
) -> Float[Tensor, "batch layer head query key"]:
    """Every layer's attention pattern for each question."""
    names = {f"blocks.{i}.attn.hook_pattern" for i in range(model.cfg.n_layers)}
    _, cache = model.run_with_cache(tokens, names_filter=names.__contains__)
    return torch.stack(
        [cache[f"blocks.{i}.attn.hook_pattern"] for i in range(model.cfg.n_layers)], 1
    )


@torch.inference_mode()
def mean_attention(
    model: Transformer, tokens: Int[Tensor, "batch n_ctx"], chunk: int = 2048
) -> Float[Tensor, "layer head query key"]:
    """The attention pattern averaged over the questions."""
    total = None
    for start in range(0, len(tokens), chunk):
        part = attention_patterns(model, tokens[start : start + chunk]).double().sum(0)
        total = part if total is None else total + part
    assert total is not None
    return (total / len(tokens)).float()


def top_attended(
    pattern: Float[Tensor, "layer head query key"], k: int = 2
) -> tuple[Tensor, Tensor]:
    """Per head and query position, the ``k`` most attended key positions and their weights."""
    weights, keys = pattern.topk(min(k, pattern.shape[-1]), dim=-1)
    return keys, weights
