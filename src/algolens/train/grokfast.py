"""Grokfast-EMA (Lee et al. 2024): amplify the slow component of the gradients."""

from __future__ import annotations

import torch


class Grokfast:
    """``ema = alpha * ema + (1 - alpha) * grad``; ``grad += lamb * ema`` (in place).

    Its state (the EMA) is part of the checkpoint, so a resumed run filters the same way.
    """

    def __init__(self, alpha: float, lamb: float):
        self.alpha, self.lamb = alpha, lamb
        self.ema: list[torch.Tensor] = []

    def __call__(self, params: list[torch.nn.Parameter]) -> None:
        grads = [p.grad for p in params if p.grad is not None]
        grokfast_step(grads, self.ema, self.alpha, self.lamb)


def grokfast_step(
    grads: list[torch.Tensor], ema: list[torch.Tensor], alpha: float, lamb: float
) -> None:
    """One filter step; an empty ``ema`` starts from the first gradients."""
    if not ema:
        ema.extend(g.detach().clone() for g in grads)
    else:
        torch._foreach_mul_(ema, alpha)
        torch._foreach_add_(ema, grads, alpha=1 - alpha)
    torch._foreach_add_(grads, ema, alpha=lamb)
