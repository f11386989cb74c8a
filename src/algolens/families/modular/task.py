"""Modular addition ``(a + b) mod p`` over the full table of pairs, with a seeded train/val split.

Two input formats of the same question ``a = 5, b = 110, p = 113`` (answer ``2``):

- ``input="onehot"`` (the MLP of Bussmann 2023): 2p floats, one-hot a then one-hot b, so
  ``inputs[5] = 1`` and ``inputs[113 + 110] = 1``; the model outputs p logits.
- ``input="tokens"`` (the transformer of Nanda et al. 2023): the 3 tokens ``a b =`` with ``=`` as
  token p, i.e. ``[5, 110, 113]``; the answer is read from the logits at the last position.

The split is fixed: pair ``i = a * p + b`` is in the training split when it is among the first
``round(train_frac * p * p)`` of a permutation seeded by ``split_seed``. ``sample`` draws
minibatches of the training split with replacement, or returns the whole split (full batch)
when ``batch_size`` covers it; ``evaluate`` gives loss and accuracy on both splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from algolens.errors import AlgolensError
from algolens.tasks.base import Batch, TaskBase, answer_output, on_cpu

INPUTS = ("onehot", "tokens")


@dataclass
class ModAddTask(TaskBase):
    """`(a + b) mod p` for all `p * p` pairs; `train_frac` of them train, the rest validate."""

    p: int = 113
    train_frac: float = 0.8
    split_seed: int = 0
    input: str = "onehot"
    _perm: Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 2 <= self.p <= 1000:
            raise AlgolensError(f"p must be between 2 and 1000, got {self.p}")
        if not 0.0 < self.train_frac <= 1.0:
            raise AlgolensError(f"train_frac must be in (0, 1], got {self.train_frac}")
        if self.input not in INPUTS:
            raise AlgolensError(f"input must be one of {', '.join(INPUTS)}, got {self.input!r}")
        gen = torch.Generator().manual_seed(self.split_seed)
        self._perm = torch.randperm(self.p * self.p, generator=gen)
        self._cache: dict[str, Tensor] = {}
        self._train_batch: Batch | None = None

    # ---- shape ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "modadd"

    @property
    def n_ctx(self) -> int | None:
        """3 for the token format; None (no sequence) for one-hot inputs."""
        return 3 if self.input == "tokens" else None

    @property
    def d_vocab(self) -> int:
        return self.p + 1  # 0 .. p-1 and '=' (token p)

    @property
    def n_answer(self) -> int:
        return 1

    @property
    def answer_names(self) -> list[str]:
        return ["c"]

    @property
    def n_train(self) -> int:
        return max(1, round(self.train_frac * self.p * self.p))

    @property
    def train_idx(self) -> Int[Tensor, " n_train"]:
        """Indices ``a * p + b`` of the training pairs."""
        return self._perm[: self.n_train]

    @property
    def val_idx(self) -> Int[Tensor, " n_val"]:
        return self._perm[self.n_train :]

    def model_defaults(self, kind: str) -> dict[str, Any]:
        """Model sizes this task implies (the trainer fills them in when the spec omits them)."""
        if kind == "mlp":
            if self.input != "onehot":
                raise AlgolensError("an MLP reads one-hot pairs: give the task input=onehot")
            return {"d_in": 2 * self.p, "d_out": self.p}
        if self.input != "tokens":
            raise AlgolensError("a transformer reads tokens: give the task input=tokens")
        return {"n_ctx": 3, "d_vocab": self.p + 1, "d_vocab_out": self.p}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "p": self.p,
            "train_frac": self.train_frac,
            "split_seed": self.split_seed,
            "input": self.input,
        }

    # ---- data ----------------------------------------------------------------------------------
    def pairs(self, idx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(a, b)`` of pair indices ``idx`` (all ``p * p`` pairs, in order, by default)."""
        if idx is None:
            idx = torch.arange(self.p * self.p)
        return idx // self.p, idx % self.p

    def encode(
        self, a: Int[Tensor, " batch"], b: Int[Tensor, " batch"]
    ) -> Float[Tensor, "batch d_in"] | Int[Tensor, "batch 3"]:
        """Model inputs for the pairs ``(a, b)`` in this task's format."""
        if self.input == "tokens":
            eq = torch.full_like(a, self.p)
            return torch.stack([a, b, eq], dim=1)
        x = torch.zeros(len(a), 2 * self.p)
        x[torch.arange(len(a)), a] = 1.0
        x[torch.arange(len(a)), self.p + b] = 1.0
        return x

    @on_cpu
    def all_inputs(self) -> Tensor:
        """Inputs of all ``p * p`` pairs in the order ``a * p + b`` (cached)."""
        if "inputs" not in self._cache:
            self._cache["inputs"] = self.encode(*self.pairs())
        return self._cache["inputs"]

    @on_cpu
    def all_targets(self) -> Int[Tensor, " pairs"]:
        a, b = self.pairs()
        return (a + b) % self.p

    @on_cpu
    def batch(self, idx: Int[Tensor, " batch"]) -> Batch:
        """The questions with pair indices ``idx``."""
        a, b = self.pairs(idx)
        return Batch(
            inputs=self.all_inputs()[idx],
            targets=((a + b) % self.p)[:, None],
            labels={"a": a, "b": b},
        )

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A minibatch of training pairs (with replacement), or the whole split if it fits."""
        if batch_size >= self.n_train:
            if self._train_batch is None:
                self._train_batch = self.batch(self.train_idx)
            return self._train_batch
        pick = torch.randint(0, self.n_train, (batch_size,), generator=generator)
        return self.batch(self.train_idx[pick])

    @property
    def readout(self) -> slice | None:
        """The transformer's answer is read at ``=`` (the last position); the MLP has none."""
        return slice(2, 3) if self.input == "tokens" else None

    def answer_logits(self, output: Tensor) -> Float[Tensor, "batch 1 d_vocab_out"]:
        """MLP output `[batch, p]` or transformer output `[batch, 3, p]` -> `[batch, 1, p]`."""
        return output[:, None, :] if output.dim() == 2 else output[:, -1:, :]

    def records(self, batch: Batch) -> list[dict[str, Any]]:
        """One JSON-ready record per question."""
        a, b = batch.labels["a"].tolist(), batch.labels["b"].tolist()
        return [
            {"question": f"{x} + {y} mod {self.p}", "a": x, "b": y, "answer": (x + y) % self.p}
            for x, y in zip(a, b, strict=True)
        ]

    def parse(self, question: str) -> tuple[int, int]:
        """``'5+110'`` (or ``'5 110'``) -> ``(5, 110)``; anything else is an AlgolensError."""
        parts = question.replace("+", " ").split(" ")
        parts = [x for x in parts if x]
        ok = len(parts) == 2 and all(x.isascii() and x.isdigit() and len(x) <= 6 for x in parts)
        if not ok:
            shown = question if len(question) <= 40 else question[:40] + "..."
            raise AlgolensError(f"expected a question like '5+110' (ASCII digits), got {shown!r}")
        a, b = int(parts[0]), int(parts[1])
        if a >= self.p or b >= self.p:
            raise AlgolensError(f"operands must be below p = {self.p}, got {question!r}")
        return a, b

    @property
    def vocab(self) -> tuple[str, ...]:  # type: ignore[override]
        return (*(str(i) for i in range(self.p)), "=") if self.input == "tokens" else ()

    def tokenize(self, questions: list[str]) -> Tensor:
        """``['5+110']`` -> ``[[5, 110, p]]`` (tokens input only)."""
        if self.input != "tokens":
            raise AlgolensError("this modular task's inputs are one-hot vectors, not tokens")
        pairs = [self.parse(q) for q in questions]
        a, b = (torch.tensor(col, dtype=torch.long) for col in zip(*pairs, strict=True))
        return self.encode(a, b)

    @torch.no_grad()
    def predict(self, model: nn.Module, questions: list[str]) -> list[str]:
        """The model's answers: ``predict(model, ['5+110']) == ['2']`` when p = 113."""
        pairs = [self.parse(q) for q in questions]
        a, b = (torch.tensor(col) for col in zip(*pairs, strict=True))
        logits = answer_output(self, model, self.encode(a, b))[:, 0]
        return [str(c) for c in logits.argmax(-1).tolist()]

    # ---- metrics -------------------------------------------------------------------------------
    def step_metrics(
        self, logprobs: Float[Tensor, "batch n_answer"], batch: Batch
    ) -> dict[str, float]:
        return {"loss": float(-logprobs.mean())}

    @torch.no_grad()
    def all_logits(self, model: nn.Module) -> Float[Tensor, "pairs p"]:
        """The model's answer logits for all ``p * p`` pairs, in order ``a * p + b``."""
        return answer_output(self, model, self.all_inputs())[:, 0]

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Loss (float64) and accuracy on the training and validation splits."""
        logits = self.all_logits(model).to(torch.float64)
        return split_metrics(logits, self.all_targets(), self.train_idx, self.val_idx)


def split_metrics(
    logits: Float[Tensor, "pairs p"], targets: Int[Tensor, " pairs"], train: Tensor, val: Tensor
) -> dict[str, float]:
    """``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` of full-table logits."""
    targets, train, val = (t.to(logits.device) for t in (targets, train, val))
    logprobs = torch.log_softmax(logits.to(torch.float64), -1)
    loss = -logprobs.gather(-1, targets[:, None])[:, 0]
    correct = (logits.argmax(-1) == targets).to(torch.float64)
    out = {}
    for name, idx in (("train", train), ("val", val)):
        if len(idx):
            out[f"{name}_loss"] = float(loss[idx].mean())
            out[f"{name}_acc"] = float(correct[idx].mean())
    return out
