"""A hypothesis is data: the algorithm a family claims its models run, as a causal model.

Named intermediate variables, each an exact function of the question (plain Python) and of the
variables before it; an answer computed from them; and per variable, where it is expected to
live in the network (an :class:`Alignment`: a node, a node set, or a subspace of rank ``k``).
Running the high-level model with a variable overridden gives the counterfactual answer that an
interchange intervention is judged against (Geiger et al. 2021, "Causal Abstractions of Neural
Networks"; pyvene). Thresholds are numeric fields, and the hypothesis names its source.

A family writes its hypothesis once (arithmetic: :mod:`algolens.families.arithmetic.hypothesis`);
the generic verdicts (IIA: :mod:`algolens.analysis.iia`) read nothing else from the family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from algolens.tasks.base import Batch

Question = Any  # whatever the family's ``questions`` returns: a tuple of plain Python ints
Values = dict[str, int]


@dataclass(frozen=True)
class Variable:
    """One intermediate variable: ``fn(question, parent_values)`` is its exact value."""

    name: str
    fn: Callable[[Question, Mapping[str, int]], int]
    parents: tuple[str, ...] = ()
    doc: str = ""
    column: int | None = None  # for position-wise families: the column the variable belongs to
    reads: tuple[int, ...] = ()  # the question token positions its value depends on
    at: tuple[int, ...] = ()  # positions to search for it (default: where causality allows)


@dataclass(frozen=True)
class Alignment:
    """Where a variable lives: node names (one = a node, several = a node set, written together)
    and, with ``rank``, a rank-``rank`` subspace of them instead of all of them."""

    nodes: tuple[str, ...]
    rank: int | None = None
    how: str = ""  # what measurement found it, e.g. "search: best IIA of 24 nodes, 2,000 pairs"

    @property
    def name(self) -> str:
        return "+".join(self.nodes) + ("" if self.rank is None else f"[{self.rank}d]")


@dataclass(frozen=True)
class Thresholds:
    """The numbers a verdict is judged by (fields, never prose)."""

    iia: float = 0.95  # the variable lives at its alignment: IIA's lower bound at least this
    control_margin: float = 0.05  # a negative control's IIA at most the baseline plus this
    pairs: int = 10_000  # base/source pairs per variable for a reported IIA
    confidence: float = 0.95  # of the Clopper-Pearson intervals


@dataclass(frozen=True)
class Hypothesis:
    """A high-level causal model of a task, with alignments to a network's nodes."""

    name: str
    variables: tuple[Variable, ...]
    # the answer tokens, in order; -1 leaves a token free (one the hypothesis says nothing about)
    answer: Callable[[Question, Mapping[str, int]], tuple[int, ...]]
    questions: Callable[[Batch], list[Question]]  # a batch's questions as plain Python values
    source: str  # paper and year the algorithm comes from
    alignments: Mapping[str, Alignment] = field(default_factory=dict)
    thresholds: Thresholds = field(default_factory=Thresholds)
    # the node kinds a variable is searched in: heads and MLPs, or also the residual stream
    # after each layer (a value carried along at a position rather than written by one node)
    kinds: tuple[str, ...] = ("head", "mlp")

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for v in self.variables:
            missing = [p for p in v.parents if p not in seen]
            if missing:
                raise ValueError(f"variable {v.name} needs {missing} computed before it")
            seen.add(v.name)
        unknown = set(self.alignments) - seen
        if unknown:
            raise ValueError(f"alignments name unknown variables: {sorted(unknown)}")

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"no variable {name!r} in hypothesis {self.name!r}: {self.names}")

    def values(self, question: Question, overrides: Mapping[str, int] | None = None) -> Values:
        """Every variable's value, in order; an overridden variable takes the given value and
        the variables computed from it follow (the intervened high-level model)."""
        out: Values = {}
        over = overrides or {}
        for v in self.variables:
            if v.name in over:
                out[v.name] = int(over[v.name])
            else:
                out[v.name] = int(v.fn(question, {p: out[p] for p in v.parents}))
        return out

    def run(
        self, question: Question, overrides: Mapping[str, int] | None = None
    ) -> tuple[int, ...]:
        """The answer tokens of the high-level model, with ``overrides`` applied."""
        return tuple(self.answer(question, self.values(question, overrides)))

    def counterfactual(self, base: Question, source: Question, name: str) -> tuple[int, ...]:
        """The base's answer with variable ``name`` set to its value on ``source``."""
        return self.run(base, {name: self.values(source)[name]})

    def aligned(self, name: str, alignment: Alignment) -> Hypothesis:
        """The same hypothesis with ``name`` aligned to ``alignment``."""
        self.variable(name)
        return dataclasses.replace(self, alignments={**self.alignments, name: alignment})
