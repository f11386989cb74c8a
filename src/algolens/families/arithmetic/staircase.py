"""The papers' staircase: after '=', heads attend to digit pairs (D_c, D'_c), one column per
token, from the high-value digits down. :func:`staircase` finds, for every head and every
position that predicts an answer digit, the column whose pair gets the most attention.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from algolens.families.arithmetic.questions import digit_positions
from algolens.families.arithmetic.task import ArithmeticTask


@dataclass
class Staircase:
    """Per head and predicting position: the attended column (-1: no pair) and its share.

    ``column[l, h, j]`` is the column c (units = 0) whose digits D_c and D'_c get most of head
    (l, h)'s attention at query position ``positions[j]``; ``share`` is that attention's sum.
    """

    positions: list[int]
    column: Int[Tensor, "layer head n_answer"]
    share: Float[Tensor, "layer head n_answer"]
    min_share: float

    def steps(self) -> Int[Tensor, "layer head"]:
        """Per head, the longest run of positions whose column drops by exactly one each token."""
        n_l, n_h, _ = self.column.shape
        best = torch.zeros(n_l, n_h, dtype=torch.long)
        for layer in range(n_l):
            for head in range(n_h):
                cols = self.column[layer, head].tolist()
                run = 1 if cols[0] >= 0 else 0
                top = run
                for a, b in itertools.pairwise(cols):
                    run = run + 1 if (b >= 0 and b == a - 1) else (1 if b >= 0 else 0)
                    top = max(top, run)
                best[layer, head] = top
        return best

    def offsets(self) -> list[int | None]:
        """Per layer-0 head, (query position - first predicting position) + column, if steady."""
        out: list[int | None] = []
        for head in range(self.column.shape[1]):
            vals = {j + c for j, c in enumerate(self.column[0, head].tolist()) if c >= 0}
            out.append(vals.pop() if len(vals) == 1 else None)
        return out


def staircase(
    task: ArithmeticTask, pattern: Float[Tensor, "layer head query key"], min_share: float = 0.5
) -> Staircase:
    """Find the digit pair each head attends to at each answer-predicting position."""
    n = task.n_digits
    positions = list(range(task.answer_start - 1, task.n_ctx - 1))
    pair = torch.stack(
        [
            pattern[..., digit_positions(task, c)[0]] + pattern[..., digit_positions(task, c)[1]]
            for c in range(n)
        ],
        -1,
    )  # [layer, head, query, column]
    pair = pair[:, :, positions]  # [layer, head, n_answer, column]
    share, column = pair.max(-1)
    column = torch.where(share >= min_share, column, torch.full_like(column, -1))
    return Staircase(positions=positions, column=column, share=share, min_share=min_share)
