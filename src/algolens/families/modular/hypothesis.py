"""Modular addition as a hypothesis: the two operands, combined into their sum mod p.

Variables ``A`` and ``B`` (the operands as the network carries them at ``=``) and ``S = (A + B)
mod p``, from which the answer is read. Overriding ``A`` gives the base's answer with the
source's first operand: ``(A' + b) mod p``. In the grokking transformer (Nanda et al. 2023) the
attention at ``=`` brings ``a`` and ``b`` together and the MLP there computes the sum through a
few key frequencies (``cos(w(a + b))``), so ``S`` is expected at the ``=`` position's MLP; the
search covers every head and MLP at ``=``, and the residual stream between attention and MLP
there (the positions of ``a`` and ``b`` hold them by construction: there is nothing to find
there). Each head brings a mix of both operands, so ``A`` and ``B`` may live at no single node
but in subspaces of that residual stream, where DAS looks for them.

Pairs come from the whole table (``'random'``) and from the pairs held out of training
(``'validation'``): the hypothesis must hold where the model never saw the answer. The one-hot
MLP has no heads or positions: its hypothesis is the vote of its neurons' frequencies, measured
by interchanging groups of neurons (:mod:`algolens.families.modular.vote`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from algolens.analysis.causal import Budget, Declared
from algolens.analysis.hypothesis import Hypothesis, Variable
from algolens.errors import AlgolensError
from algolens.families.modular.task import ModAddTask
from algolens.tasks.base import Batch

SOURCE = "Nanda et al. 2023, Progress measures for grokking via mechanistic interpretability"
EQUALS = 2  # the position of '=' in the token format, where the answer is read


def modular_hypothesis(task: ModAddTask) -> Hypothesis:
    """``A``, ``B`` and their sum ``S`` mod ``task.p``, searched at the ``=`` position."""
    p = task.p

    def total(q: tuple[int, ...], v: Mapping[str, int]) -> int:
        return (v["A"] + v["B"]) % p

    variables = (
        Variable("A", lambda q, v: q[0], (), "the first operand", 0, (0,), at=(EQUALS,)),
        Variable("B", lambda q, v: q[1], (), "the second operand", 1, (1,), at=(EQUALS,)),
        Variable("S", total, ("A", "B"), "the sum mod p", None, (0, 1), at=(EQUALS,)),
    )
    return Hypothesis(
        name=f"modadd_p{p}",
        variables=variables,
        answer=lambda q, v: (v["S"],),
        questions=lambda b: list(zip(b.labels["a"].tolist(), b.labels["b"].tolist(), strict=True)),
        source=SOURCE,
        kinds=("head", "mlp", "mid"),
    )


def declare(task: ModAddTask, op: str | None = None) -> Declared:
    """The family's ``hypothesis`` hook: the sum above; pairs from the whole table and from the
    held-out split."""
    if op is not None:
        raise AlgolensError(f"modular addition has one hypothesis: no --op, got {op!r}")
    everything = task.p * task.p

    def uniform(m: int, gen: torch.Generator) -> Batch:
        return task.batch(torch.randint(0, everything, (m,), generator=gen))

    def held_out(m: int, gen: torch.Generator) -> Batch:
        val = task.val_idx
        return task.batch(val[torch.randint(0, len(val), (m,), generator=gen)])

    samplers = {"random": uniform}
    if len(task.val_idx):
        samplers["validation"] = held_out
    return Declared(modular_hypothesis(task), samplers, _vote)


def _vote(model: Any, budget: Budget) -> dict[str, Any]:
    """The one-hot MLP's hypothesis: its neurons' frequencies vote (:mod:`.vote`)."""
    from algolens.families.modular.vote import measure_vote

    return measure_vote(model, budget.pairs, budget.seed)
