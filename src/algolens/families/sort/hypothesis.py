"""Sorting as a hypothesis: each output is the next item up from the one before it.

Variables ``S0 … S(n-1)``: output i holds the i-th smallest item. As a causal chain, S0 is the
smallest item and S_i is S_(i-1) again while the items up to S_(i-1) are not yet all written
(a repeat), otherwise the smallest item above S_(i-1). Overriding S_i therefore moves every
later output: ``3 1 4 1 5`` sorts to ``1 1 3 4 5``; with S2 set to 4 it gives ``1 1 4 4 5``
(four items are at most 4, so S3 repeats it).

The generic units (:mod:`algolens.analysis.units`: IIA, DAS, the circuit with its sufficiency and
minimality, path patching) run on it unchanged: the family declares this and its question
sampler (:func:`declare`), nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping

from algolens.analysis.causal import Declared
from algolens.analysis.hypothesis import Hypothesis, Variable
from algolens.errors import AlgolensError
from algolens.families.sort.task import SortTask
from algolens.tasks.base import Batch

SOURCE = "sorting by successive minima (the textbook selection sort)"


def _first(q: tuple[int, ...], v: Mapping[str, int]) -> int:
    return min(q)


def _next(i: int):
    def step(q: tuple[int, ...], v: Mapping[str, int]) -> int:
        prev = v[f"S{i - 1}"]
        if sum(x <= prev for x in q) > i:  # prev repeats
            return prev
        above = [x for x in q if x > prev]
        return min(above) if above else max(q)

    return step


def sort_hypothesis(task: SortTask) -> Hypothesis:
    """The successive-minimum chain for ``task.n_items`` items."""
    n = task.n_items
    reads = tuple(range(n))
    variables = [Variable("S0", _first, (), "the smallest item", 0, reads)]
    variables += [
        Variable(f"S{i}", _next(i), (f"S{i - 1}",), "the next item up", i, reads)
        for i in range(1, n)
    ]
    return Hypothesis(
        name=f"sort_n{n}",
        variables=tuple(variables),
        answer=lambda q, v: tuple(v[f"S{i}"] for i in range(n)),
        questions=lambda b: _questions(b, n),
        source=SOURCE,
    )


def _questions(batch: Batch, n: int) -> list[tuple[int, ...]]:
    return [tuple(r) for r in batch.inputs[:, :n].tolist()]


def declare(task: SortTask, op: str | None = None) -> Declared:
    """The family's ``hypothesis`` hook: the chain above, pairs drawn from uniform lists."""
    if op is not None:
        raise AlgolensError(f"the sort task has one hypothesis: no --op, got {op!r}")
    return Declared(sort_hypothesis(task), {"random": task.sample_independent})
