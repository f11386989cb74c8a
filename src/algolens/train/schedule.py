"""The learning-rate schedule: a linear warm-up, then a cosine decay, as a torch scheduler."""

from __future__ import annotations

import math

import torch

from algolens.config import TrainConfig


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """The multiple of ``lr`` used at ``step`` (0-based): linear warm-up from ``warmup_start``
    over ``warmup_frac`` of the steps, then cosine down to ``min_lr_frac``."""
    warmup = int(cfg.warmup_frac * cfg.steps)
    if step < warmup:
        return cfg.warmup_start + (1 - cfg.warmup_start) * step / warmup
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.min_lr_frac + (1 - cfg.min_lr_frac) * cosine


def lr_at(cfg: TrainConfig, step: int) -> float:
    """The learning rate at ``step``: ``cfg.lr * lr_factor(cfg, step)``."""
    return cfg.lr * lr_factor(cfg, step)


def scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` over :func:`lr_factor`; step it once after every optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(cfg, step))


def optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (fused, as every run so far) or plain Adam (the LEGO mimic init's)."""
    betas = (cfg.beta1, cfg.beta2)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(
        params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=betas, fused=True
    )
