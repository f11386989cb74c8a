"""Interchange interventions: does a node compute the sub-task we claim it does?

Run a *clean* question with one node's output (or a pair of heads') taken from a *store*
question. If the node computes sub-task S of column c for answer digit A_d, then A_d must change
exactly as recomputing it with the store's S for column c predicts, e.g. for a base-add (SA)
head: store 22222+11111, clean 55555+44444 -> A_d = 3 + (carry of the clean question).

Sub-tasks (the papers' newest vocabulary): SA base add, SC make carry, SS sum is 9, ST tri-case
(<9, =9, >9); for subtraction MD, MB, MZ, MT, the same on (top - bottom) with borrows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from algolens.analysis.nodes import Node
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.tasks.base import Batch

ADD_SUBTASKS = ("SA", "SC", "SS", "ST")
SUB_SUBTASKS = ("MD", "MB", "MZ", "MT")
_ROLE = {"SA": "base", "SC": "make", "SS": "pass", "ST": "tri"}
_ROLE.update({"MD": "base", "MB": "make", "MZ": "pass", "MT": "tri"})


def _columns(batch: Batch) -> tuple[Tensor, Tensor]:
    """Base value ``[batch, n]`` and tri-case ``[batch, n]`` of every column, units first."""
    lab = batch.labels
    sub = lab["is_sub"][:, None]
    base = torch.where(sub, lab["MD"], lab["BA"])
    make = torch.where(sub, lab["MB"], lab["MC1"])
    pass_ = torch.where(sub, lab["MZ"], lab["MS9"])
    return base, torch.where(make, 2, torch.where(pass_, 1, 0))


def predicted_digit(
    clean: Batch, store: Batch, subtask: str, column: int, digit: int
) -> Int[Tensor, " batch"]:
    """Answer digit A_digit of each clean question with ``subtask`` of ``column`` from the store.

    Carries run up from the units: a column of tri-case 2 makes one, 1 passes one on.
    Addition: A_d = (base_d + carry_d) mod 10 (A_n = carry_n); subtraction: (base_d - borrow_d).
    """
    role = _ROLE[subtask]
    base, tri = _columns(clean)
    s_base, s_tri = _columns(store)
    base, tri = base.clone(), tri.clone()
    if role == "base":
        base[:, column] = s_base[:, column]
    elif role == "tri":
        tri[:, column] = s_tri[:, column]
    elif role == "make":
        tri[:, column] = torch.where(s_tri[:, column] == 2, 2, (tri[:, column] == 1).long())
    else:  # pass
        tri[:, column] = torch.where(
            s_tri[:, column] == 1, 1, torch.where(tri[:, column] == 2, 2, 0)
        )
    carry = torch.zeros(len(clean), dtype=torch.long)
    for c in range(digit):
        carry = torch.where(tri[:, c] == 2, 1, torch.where(tri[:, c] == 1, carry, 0))
    if digit == base.shape[1]:
        return carry
    sign = torch.where(clean.labels["is_sub"], -1, 1)
    return (base[:, digit] + sign * carry) % 10


@dataclass
class InterventionResult:
    """How often the patched answer digit matches a sub-task's prediction."""

    nodes: list[str]
    subtask: str
    column: int
    digit: int
    questions: int
    informative: int  # pairs where the prediction differs from the clean digit
    match_informative: float  # share of those where the model's digit is the predicted one
    match_all: float  # share of all pairs where the model's digit is the predicted one
    others_unchanged: float  # share of pairs whose other answer digits kept the clean value

    @property
    def label(self) -> str:
        return f"{self.subtask}{self.column}"


def score_subtask(
    task: ArithmeticTask,
    clean: Batch,
    store: Batch,
    patched: Int[Tensor, "batch n_answer"],
    nodes: list[Node],
    subtask: str,
    column: int,
    digit: int,
) -> InterventionResult:
    """Compare the patched answers of one node set with what ``subtask`` predicts for A_digit."""
    k = task.n_digits - digit  # index of A_digit in sequence order
    predicted = predicted_digit(clean, store, subtask, column, digit)
    got = patched[:, k]
    informative = predicted != clean.targets[:, k]
    others = torch.ones(task.n_answer, dtype=torch.bool)
    others[k] = False
    unchanged = (patched[:, others] == clean.targets[:, others]).all(-1)
    n_inf = int(informative.sum())
    return InterventionResult(
        nodes=[n.name for n in nodes],
        subtask=subtask,
        column=column,
        digit=digit,
        questions=len(clean),
        informative=n_inf,
        match_informative=float((got == predicted)[informative].double().mean()) if n_inf else 0.0,
        match_all=float((got == predicted).double().mean()),
        others_unchanged=float(unchanged.double().mean()),
    )


def store_pairs(batch: Batch, seed: int = 0) -> tuple[Batch, Batch]:
    """Clean questions and, for each, a store question of the same operator."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.arange(len(batch))
    perm = idx.clone()
    for op in (False, True):
        rows = idx[batch.labels["is_sub"] == op]
        if len(rows):
            # the CPU generator draws on the CPU (the same pairs on every device)
            pick = torch.randperm(len(rows), generator=gen, device="cpu")
            perm[rows] = rows[pick.to(rows.device)]
    return batch, _take(batch, perm)


def _take(batch: Batch, idx: Tensor) -> Batch:
    return Batch(
        batch.inputs[idx], batch.targets[idx], {k: v[idx] for k, v in batch.labels.items()}
    )


def subset(batch: Batch, mask: Tensor) -> Batch:
    """The questions where ``mask`` is True."""
    return _take(batch, mask.nonzero()[:, 0])
