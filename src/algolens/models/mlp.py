"""A one-hidden-layer MLP with TransformerLens's MLP names: W_in, b_in, W_out, b_out.

``logits = act(x @ W_in + b_in) @ W_out + b_out`` with hooks ``hook_pre`` and ``hook_post`` (both
``[batch, d_mlp]``), so ``run_with_cache`` gives the hidden activations the analysis reads.
Bussmann's modular-addition network is ``d_in = 226`` (one-hot a and b), ``d_mlp = 100``,
``d_out = 113``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor, nn
from transformer_lens import ActivationCache, HookedRootModule
from transformer_lens.hook_points import HookPoint

from algolens.errors import AlgolensError
from algolens.models.transformer import ACTIVATIONS, check_parameters
from algolens.options import check_seed, from_dict


@dataclass
class MLPConfig:
    """Sizes of the MLP; weights start as PyTorch's ``nn.Linear`` (uniform +-1/sqrt(fan_in))."""

    d_in: int = 226
    d_mlp: int = 100
    d_out: int = 113
    act_fn: str = "relu"
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("d_in", "d_mlp", "d_out"):
            if not 1 <= getattr(self, name) <= 1_048_576:
                raise AlgolensError(f"{name} must be 1 to 2^20, got {getattr(self, name)}")
        if self.act_fn not in ACTIVATIONS:
            raise AlgolensError(f"act_fn must be one of {sorted(ACTIVATIONS)}, got {self.act_fn!r}")
        check_parameters((self.d_in + self.d_out) * self.d_mlp, "this MLP")
        check_seed(self.seed, "the model's seed")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MLPConfig:
        """Strictly: an unknown key or a mistyped value is one clear line."""
        return from_dict(cls, d, "model")


class MLP(HookedRootModule):
    """One hidden layer.

    >>> MLP(MLPConfig(d_in=6, d_mlp=4, d_out=3))(torch.zeros(2, 6)).shape
    torch.Size([2, 3])
    """

    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        self.W_in = nn.Parameter(torch.empty(cfg.d_in, cfg.d_mlp))
        self.b_in = nn.Parameter(torch.empty(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_out))
        self.b_out = nn.Parameter(torch.empty(cfg.d_out))
        self.act = ACTIVATIONS[cfg.act_fn]
        self.hook_pre = HookPoint()  # [batch, d_mlp]
        self.hook_post = HookPoint()  # [batch, d_mlp]
        self.init_weights()
        self.setup()

    def init_weights(self) -> None:
        gen = torch.Generator().manual_seed(self.cfg.seed)
        with torch.no_grad(), torch.device("cpu"):  # drawn on the CPU: the same on any device
            for w, b in ((self.W_in, self.b_in), (self.W_out, self.b_out)):
                bound = 1 / math.sqrt(w.shape[0])
                w.copy_((torch.rand(w.shape, generator=gen) * 2 - 1) * bound)
                b.copy_((torch.rand(b.shape, generator=gen) * 2 - 1) * bound)

    def forward(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_out"]:
        x = x.to(self.W_in.device)  # inputs on another device move to the model's
        pre = self.hook_pre(torch.addmm(self.b_in, x, self.W_in))  # [batch, d_mlp]
        return torch.addmm(self.b_out, self.hook_post(self.act(pre)), self.W_out)

    def run_with_cache(self, *args: Any, **kwargs: Any) -> tuple[Tensor, ActivationCache]:  # type: ignore[override]
        out, cache_dict = super().run_with_cache(*args, **kwargs)
        return out, ActivationCache(cache_dict, self)
