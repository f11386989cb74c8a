"""What every task gives the training loop, the verifier and the analysis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from jaxtyping import Float
from torch import Tensor


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

    name: str

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


def answer_logprobs(task: Task, output: Tensor, targets: Tensor) -> Float[Tensor, "batch n_answer"]:
    """Log-probability of each target token, computed in float64 as in the seeds."""
    logits = task.answer_logits(output).to(torch.float64)
    logprobs = torch.log_softmax(logits, dim=-1)
    return logprobs.gather(-1, targets[..., None])[..., 0]
