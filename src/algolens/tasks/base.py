"""What every task gives the training loop, the verifier and the analysis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, cast, runtime_checkable

import torch
from jaxtyping import Float
from torch import Tensor

from algolens.errors import AlgolensError


@dataclass
class Batch:
    """Model inputs, the target tokens they should produce, and per-question labels.

    ``inputs`` are token ids ``[batch, n_ctx]`` for sequence models or a float tensor for MLPs;
    ``targets`` are the token ids the loss positions must predict ``[batch, n_answer]``;
    ``labels`` holds per-question tensors the metrics group by (sub-tasks, classes, ...).
    """

    inputs: Tensor
    targets: Tensor
    labels: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


@runtime_checkable
class Task(Protocol):
    """A task: a seeded sampler, the positions that carry the answer, and its metrics."""

    @property
    def name(self) -> str:
        """The task family's name (``add``, ``modadd``, ``lego`` ...)."""
        ...

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw a fresh training batch (infinite data or minibatches of a fixed split)."""
        ...

    def answer_logits(self, output: Tensor) -> Float[Tensor, "batch n_answer d_vocab"]:
        """Select the model outputs that predict ``batch.targets``."""
        ...

    def step_metrics(
        self, logprobs: Float[Tensor, "batch n_answer"], batch: Batch
    ) -> dict[str, float]:
        """Metrics of one training batch from the target log-probabilities (float64)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the task (saved in config.json)."""
        ...


def answer_output(
    task: Task, model: torch.nn.Module, inputs: Tensor
) -> Float[Tensor, "batch n_answer d_vocab"]:
    """The model's outputs that predict the targets: ``task.answer_logits(model(inputs))``.

    When the task names its answer positions (a ``readout`` slice) and the model has a readout
    path with nothing hooked, only those positions are computed in the last layer; the
    numbers are the same up to float rounding (tested).
    """
    readout = getattr(task, "readout", None)
    if readout is not None and readout_ok(model):
        return cast(Tensor, model(inputs, readout=readout))
    return task.answer_logits(model(inputs))


def readout_ok(model: torch.nn.Module) -> bool:
    """True if ``model`` takes ``readout=`` and no hook is attached (hooks see every position)."""
    if not getattr(model, "supports_readout", False):
        return False
    hooks = getattr(model, "hook_dict", {}).values()
    return not any(hp.fwd_hooks or hp.bwd_hooks for hp in hooks)


def answer_logprobs(
    task: Task, model: torch.nn.Module, inputs: Tensor, targets: Tensor
) -> Float[Tensor, "batch n_answer"]:
    """Log-probability of each target token, computed in float64 as in the seeds."""
    logits = answer_output(task, model, inputs).to(torch.float64)
    logprobs = torch.log_softmax(logits, dim=-1)
    return logprobs.gather(-1, targets[..., None])[..., 0]


def layer_logprobs(
    task: Task, model: torch.nn.Module, inputs: Tensor, targets: Tensor
) -> Float[Tensor, "layer batch n_answer"]:
    """:func:`answer_logprobs` read after every block (the model's logit lens), float64."""
    lens = getattr(model, "logit_lens", None)
    if lens is None:
        raise AlgolensError("layer_loss needs a transformer (a model with a logit lens)")
    readout = getattr(task, "readout", None)
    if readout is not None and readout_ok(model):
        logits = lens(inputs, readout=readout)
    else:
        logits = torch.stack([task.answer_logits(x) for x in lens(inputs)])
    logprobs = torch.log_softmax(logits.to(torch.float64), dim=-1)
    return logprobs.gather(-1, targets.expand(logits.shape[0], *targets.shape)[..., None])[..., 0]
