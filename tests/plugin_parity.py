"""A task family from outside algolens: the parity of a bit string (tests register it by entry
point). Everything it needs is the public base classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from algolens.families.base import Family, Preset
from algolens.tasks.base import Batch, SequenceTaskBase


@dataclass(frozen=True)
class ParityTask(SequenceTaskBase):
    n_bits: int = 4

    name = property(lambda self: "parity")
    n_ctx = property(lambda self: self.n_bits + 2)  # bits, '=', the parity
    d_vocab = property(lambda self: 3)
    n_answer = property(lambda self: 1)
    answer_start = property(lambda self: self.n_bits + 1)
    answer_names = property(lambda self: ["P"])
    class_names = property(lambda self: ("even", "odd"))
    readout = property(lambda self: slice(self.n_bits, self.n_bits + 1))

    def to_dict(self) -> dict[str, Any]:
        return {"name": "parity", "n_bits": self.n_bits}

    def model_defaults(self, kind: str) -> dict[str, Any]:
        return {"n_ctx": self.n_ctx, "d_vocab": 3}

    def answer_logits(self, output: torch.Tensor) -> torch.Tensor:
        return output[:, self.readout]

    def make_batch(self, bits: torch.Tensor) -> Batch:
        parity = bits.sum(-1, keepdim=True) % 2
        tokens = torch.cat([bits, torch.full_like(parity, 2), parity], 1)
        return Batch(tokens, parity, {"class": parity[:, 0]})

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self.make_batch(torch.randint(0, 2, (batch_size, self.n_bits), generator=generator))

    sample_uniform = sample_independent = sample

    def batch_from_tokens(self, tokens: torch.Tensor) -> Batch:
        return self.make_batch(tokens[:, : self.n_bits])

    def class_codes(self, batch: Batch) -> torch.Tensor:
        return batch.labels["class"]

    def encode_batch(self, questions: list[str]) -> torch.Tensor:
        return self.make_batch(
            torch.tensor([[int(c) for c in q.strip()] for q in questions])
        ).inputs

    def decode(self, tokens: Any) -> str:
        return "".join("=" if int(t) == 2 else str(int(t)) for t in tokens)

    def records(self, batch: Batch) -> list[dict[str, Any]]:
        return [{"bits": self.decode(row[: self.n_bits])} for row in batch.inputs]

    def step_metrics(self, logprobs: torch.Tensor, batch: Batch) -> dict[str, float]:
        return {"loss": float(-logprobs.mean())}


FAMILY = Family(
    name="parity",
    tasks={"parity": lambda **kw: ParityTask(**kw)},
    defaults={"parity": "small"},
    presets={
        "parity": {
            "small": Preset(
                {"name": "parity", "n_bits": 4},
                {"n_layers": 1, "n_heads": 2, "d_model": 32},
                {"steps": 300, "batch_size": 128, "lr": 3e-3},
            )
        }
    },
)
