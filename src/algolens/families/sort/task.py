"""The sorting task. Worked example, 5 numbers from 0-9::

text    3 1 4 1 5 > 1 1 3 4 5
tokens  3 1 4 1 5 10 1 1 3 4 5      (10 is '>'; the model predicts the last 5 tokens)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from algolens.errors import AlgolensError
from algolens.options import require
from algolens.tasks.base import Batch, SequenceTaskBase, sequence_model_only

CLASSES = ("distinct", "repeats")


@dataclass(frozen=True)
class SortTask(SequenceTaskBase):
    """``n_items`` numbers below ``n_values``, then '>', then the same numbers in order."""

    n_items: int = 5
    n_values: int = 10

    def __post_init__(self) -> None:
        require(2 <= self.n_items <= 32, f"n_items must be 2 to 32, got {self.n_items}")
        require(2 <= self.n_values <= 100, f"n_values must be 2 to 100, got {self.n_values}")

    # ---- shape: what the generic code reads -----------------------------------------------
    name = property(lambda self: "sort")
    n_ctx = property(lambda self: 2 * self.n_items + 1)
    d_vocab = property(lambda self: self.n_values + 1)  # the numbers and '>'
    n_answer = property(lambda self: self.n_items)
    answer_start = property(lambda self: self.n_items + 1)
    answer_names = property(lambda self: [f"S{i}" for i in range(self.n_items)])
    class_names = property(lambda self: CLASSES)
    readout = property(lambda self: slice(self.n_items, 2 * self.n_items))

    def to_dict(self) -> dict[str, Any]:
        return {"name": "sort", **asdict(self)}

    def model_defaults(self, kind: str) -> dict[str, Any]:
        sequence_model_only(self.name, kind)
        return {"n_ctx": self.n_ctx, "d_vocab": self.d_vocab}

    def answer_logits(self, output: Tensor) -> Tensor:
        return output[:, self.readout]

    # ---- questions ------------------------------------------------------------------------
    def make_batch(self, items: Tensor) -> Batch:
        """Questions ``[batch, n_items]`` -> tokens with the sorted answer, and labels."""
        answer = items.sort(-1).values
        sep = torch.full((len(items), 1), self.n_values)
        tokens = torch.cat([items, sep, answer], 1)
        repeats = (answer[:, 1:] == answer[:, :-1]).any(-1)
        return Batch(tokens, answer, {"class": repeats.long()})

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self.make_batch(
            torch.randint(0, self.n_values, (batch_size, self.n_items), generator=generator)
        )

    sample_uniform = sample  # every list equally likely: training and uniform are the same
    sample_independent = sample

    def batch_from_tokens(self, tokens: Tensor) -> Batch:
        return self.make_batch(tokens[:, : self.n_items])

    def exhaustive_size(self) -> int:
        return self.n_values**self.n_items

    def exhaustive_batch(self, start: int, stop: int) -> Batch:
        idx = torch.arange(start, stop)[:, None]
        powers = self.n_values ** torch.arange(self.n_items - 1, -1, -1)
        return self.make_batch((idx // powers) % self.n_values)

    def class_codes(self, batch: Batch) -> Tensor:
        return batch.labels["class"]

    # ---- text --------------------------------------------------------------------------------
    def encode_batch(self, questions: list[str]) -> Tensor:
        """``['3 1 4 1 5']`` (commas allowed) -> full sequences, answers from the oracle."""
        return self.make_batch(
            torch.tensor([self.parse(q) for q in questions], dtype=torch.long)
        ).inputs

    def parse(self, question: str) -> list[int]:
        parts = [p for p in question.split(">")[0].replace(",", " ").split(" ") if p]
        ok = all(p.isascii() and p.isdigit() and len(p) <= 6 for p in parts)
        if len(parts) != self.n_items or not ok:
            shown = question if len(question) <= 40 else question[:40] + "..."
            raise AlgolensError(
                f"expected {self.n_items} numbers in ASCII digits, like '3 1 4 1 5', got {shown!r}"
            )
        values = [int(p) for p in parts]
        require(max(values) < self.n_values, f"numbers must be below {self.n_values}: {question!r}")
        return values

    @property
    def vocab(self) -> tuple[str, ...]:  # type: ignore[override]
        return (*(str(i) for i in range(self.n_values)), ">")

    def decode(self, tokens: Tensor | list[int]) -> str:
        return " ".join(">" if int(t) == self.n_values else str(int(t)) for t in tokens)

    predict_separator = " > "

    def records(self, batch: Batch) -> list[dict[str, Any]]:
        n = self.n_items
        return [
            {
                "question": self.decode(row[:n]),
                "answer": self.decode(row[n + 1 :]),
                "class": CLASSES[int(c)],
            }
            for row, c in zip(batch.inputs, batch.labels["class"], strict=True)
        ]

    def step_metrics(self, logprobs: Tensor, batch: Batch) -> dict[str, float]:
        loss = -logprobs
        out = {"loss": float(loss.mean())}
        out.update(
            {f"loss_{name}": float(loss[:, k].mean()) for k, name in enumerate(self.answer_names)}
        )
        return out
