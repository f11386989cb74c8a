"""LEGO as a hypothesis: the chain resolved one clause after another (Zhang et al. 2022).

Variables ``V1 … V(k-1)``, one per chain position the model was trained on after the first:
the value of the variable assigned at chain position i, as a bit (1 means -1). ``V_i`` is
``V_(i-1)`` flipped when clause i's sign is ``-``, and the first value is the first clause's own
sign (``a = -1`` gives 1): an input token, which every position reads in layer 0 already, so no
node can hold it and it is no variable. Overriding ``V_i`` moves every later chain position: in
``a = +1 ; b = -a ; c = +b`` (bits 0, 1, 1), setting ``V1`` to 0 gives bits 0, 0, 0. The
answer is read per clause in the sentence's order; clauses at chain positions ``k`` and beyond,
which the loss never covered, are left free (-1).

Pairs keep one sentence layout: base and source share the clause order and the names (drawn once
from :data:`LAYOUT_SEED`) and differ only in their signs. ``V_i`` therefore sits in the same
clause in every pair, and it is searched at that clause's name token, where its answer is read
(its sign and operand tokens hold nothing a patch can move: IIA 0 there at every layer on
``lego_n12_k6``): in each head and MLP there, and in the residual stream after each layer, which
is where a resolved value is carried for the later clauses to read (one chain hop per layer).
A value patched after the last layer changes that clause's answer alone, not the later ones
that read it earlier, so late locations can hold only the last trained variable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from algolens.analysis.causal import Declared
from algolens.analysis.hypothesis import Hypothesis, Variable
from algolens.errors import AlgolensError
from algolens.families.lego.task import CLAUSE_LEN, LegoTask
from algolens.tasks.base import Batch

SOURCE = "Zhang et al. 2022, Unveiling Transformers with LEGO (the chain resolved in order)"
LAYOUT_SEED = 0  # the one clause order and name set every pair shares

Question = tuple[int, ...]  # the clause order's chain positions, then the signs in chain order


def _value(q: Question, v: Mapping[str, int], i: int) -> int:
    """The value at chain position ``i``: the first clause's sign, else ``V_i``."""
    return q[len(q) // 2] if i == 0 else v[f"V{i}"]


def _next(i: int) -> Callable[[Question, Mapping[str, int]], int]:
    def step(q: Question, v: Mapping[str, int]) -> int:
        return _value(q, v, i - 1) ^ q[len(q) // 2 + i]

    return step


def _answer(k: int) -> Callable[[Question, Mapping[str, int]], tuple[int, ...]]:
    def answer(q: Question, v: Mapping[str, int]) -> tuple[int, ...]:
        n = len(q) // 2
        return tuple(_value(q, v, d) if d < k else -1 for d in q[:n])

    return answer


def _questions(batch: Batch) -> list[Question]:
    values = batch.labels["chain_value"]  # [batch, n] chain order, bit 1 = -1
    signs = values ^ torch.cat([torch.zeros_like(values[:, :1]), values[:, :-1]], dim=1)
    rows = torch.cat([batch.labels["depth"], signs], dim=1)
    return [tuple(r) for r in rows.tolist()]


def layout(task: LegoTask, seed: int = LAYOUT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """The names (chain order) and the clause order ``[n]`` every pair shares."""
    gen = torch.Generator().manual_seed(seed)
    names = task._names(1, gen)[0]
    order = torch.rand(task.n_vars, generator=gen).argsort() if task.shuffle else None
    return names, torch.arange(task.n_vars) if order is None else order


def lego_hypothesis(task: LegoTask, order: torch.Tensor) -> Hypothesis:
    """The chain over the trained positions ``1 … k-1`` (``k`` at least 2); ``order[j]`` is the
    chain position of the sentence's clause j, which gives each variable its positions."""
    k = task.k
    slot = {int(d): j for j, d in enumerate(order.tolist())}

    def at(i: int) -> tuple[int, ...]:  # the clause's name token
        return (CLAUSE_LEN * slot[i],)

    doc = "the value at chain position {}"
    variables = [
        Variable(f"V{i}", _next(i), (f"V{i - 1}",) if i > 1 else (), doc.format(i + 1), i, at=at(i))
        for i in range(1, k)
    ]
    return Hypothesis(
        name=f"lego_n{task.n_vars}_k{k}",
        variables=tuple(variables),
        answer=_answer(k),
        questions=_questions,
        source=SOURCE,
        kinds=("head", "mlp", "resid"),
    )


def declare(task: LegoTask, op: str | None = None) -> Declared:
    """The family's ``hypothesis`` hook: the chain above; pairs share one layout, signs random."""
    if op is not None:
        raise AlgolensError(f"the LEGO task has one hypothesis: no --op, got {op!r}")
    if task.signs != "random":
        raise AlgolensError("the LEGO hypothesis needs random signs (all-plus chains never vary)")
    if task.k < 2:
        raise AlgolensError("the LEGO hypothesis needs 2 or more trained chain positions (k)")
    names, order = layout(task)

    def sample(m: int, gen: torch.Generator) -> Batch:
        signs = torch.randint(0, 2, (m, task.n_vars), generator=gen)
        return task.make_batch(names.expand(m, -1), signs, order.expand(m, -1))

    return Declared(lego_hypothesis(task, order), {"random": sample})
