"""What the trainer minimises. The task's answer loss (with optional deep supervision) is one
objective; a family can bring another (LEGO's mimic init trains attention patterns)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor, nn

from algolens.errors import AlgolensError
from algolens.tasks.base import Batch, Task, answer_logprobs, layer_logprobs

Metrics = Callable[[], dict[str, float]]  # computed only for the steps that are logged


class Objective(Protocol):
    """``loss(model, batch)`` -> (the loss to minimise, the batch's metrics when asked)."""

    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Metrics]: ...

    def check(self, model: nn.Module) -> None:
        """Refuse, before anything is written, a model this objective cannot train."""
        ...


class TaskObjective:
    """The mean negative log-probability of the answer tokens (float64, as in the papers).

    A task's ``loss_mask`` label (LEGO's train-on-first-k) selects the answers that count. With
    ``layer_loss > 0`` it adds ``layer_loss`` times the mean of the same loss taken after each
    earlier block through the logit lens, on the answers ``task.layer_masks`` gives that block
    (deep supervision).
    """

    def __init__(self, task: Task, layer_loss: float = 0.0):
        self.task, self.layer_loss = task, layer_loss

    def check(self, model: nn.Module) -> None:
        """Refuse, before anything is written, what this objective cannot train."""
        if not self.layer_loss:
            return
        probe = self.task.sample(1, torch.Generator().manual_seed(0))
        if self.task.layer_masks(probe, 1) is None:
            raise AlgolensError(
                f"layer_loss needs a task with per-layer targets, not {self.task.name}"
            )
        if not hasattr(model, "logit_lens"):
            raise AlgolensError("layer_loss needs a transformer (a model with a logit lens)")

    def logprobs(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        """The loss and the answers' log-probabilities ``[batch, n_answer]``."""
        mask = batch.labels.get("loss_mask")
        if not self.layer_loss:
            logprobs = answer_logprobs(self.task, model, batch.inputs, batch.targets)
            loss = -logprobs.mean() if mask is None else -(logprobs * mask).sum() / mask.sum()
            return loss, logprobs
        per_layer = layer_logprobs(self.task, model, batch.inputs, batch.targets)
        masks = self.task.layer_masks(batch, per_layer.shape[0])
        assert masks is not None  # checked by check()
        masks = masks.to(per_layer.dtype)
        losses = -(per_layer * masks).sum((1, 2)) / masks.sum((1, 2)).clamp_min(1)  # [layer]
        extra = losses[:-1].mean() if len(losses) > 1 else losses.new_zeros(())
        return losses[-1] + self.layer_loss * extra, per_layer[-1]

    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Metrics]:
        loss, logprobs = self.logprobs(model, batch)
        held = logprobs.detach()
        return loss, lambda: self.task.step_metrics(held, batch)
