"""A family's hypothesis, declared, and measured by interchange on any sequence model.

A family declares its algorithm once, as a :class:`Declared`: the high-level causal model
(:class:`~algolens.analysis.hypothesis.Hypothesis`) and the question samplers its pairs are drawn
from (``'random'``, and targeted kinds such as cascades). Everything else is generic:
:func:`measure_hypothesis` searches, per variable, the node whose interchange best matches the
counterfactual, measures it on fresh random and targeted pairs with Clopper-Pearson intervals,
and runs the two negative controls (an untrained copy, the node one position over). The units
of :mod:`algolens.analysis.units` build on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from algolens.analysis.hypothesis import Alignment, Hypothesis
from algolens.analysis.iia import InertVariable, Sampler, VariableIIA, measure_variable
from algolens.errors import AlgolensError
from algolens.options import did_you_mean
from algolens.tasks.base import SequenceTask


@dataclass(frozen=True)
class Declared:
    """What a family declares for IIA, DAS and circuits: its hypothesis for one task, and the
    samplers pairs are drawn from (``'random'`` must be one; the others are targeted kinds)."""

    hypothesis: Hypothesis
    samplers: Mapping[str, Sampler]
    # for a model with no positions or heads (the one-hot MLP): the family measures its own
    # hypothesis over groups of neurons, ``(model, budget) -> JSON`` (see ``IIAUnit``)
    neurons: Callable[[Any, Budget], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if "random" not in self.samplers:
            raise ValueError("a declared hypothesis needs a 'random' sampler")


Declare = Callable[..., Declared]  # a family's ``hypothesis(task, op=None)`` hook


@dataclass(frozen=True)
class Budget:
    """How much each causal unit measures (the defaults are the reported sizes)."""

    pairs: int = 10_000  # random pairs per variable for the reported IIA
    targeted_pairs: int = 2_000  # pairs of each targeted kind
    search_pairs: int = 1_000  # pairs for the search over nodes
    control_pairs: int = 2_000  # random pairs for each negative control
    questions: int = 100_000  # per distribution, the circuit alone and the model verified
    minimality: int = 2_000  # training questions for each node's minimality
    find_questions: int = 1_000  # the circuit search: node ablation on these, grown on 1x and 4x
    edge_pairs: int = 300  # base/source pairs for path patching between circuit nodes
    max_edges: int = 1_000  # more sender/receiver pairs than this: edges are not measured
    das_variables: int = 6  # at most this many variables get DAS and a node set (one per kind)
    set_size: int = 3  # the most nodes a node set grows to
    das_pairs: int = 4_000  # DAS training pairs (held-out: ``control_pairs``)
    das_rank: int = 4
    das_steps: int = 300
    das_locations: int = 2  # residual locations DAS is fully fitted at (best short fits first)
    mode: str = "mean"  # how the circuit's outside nodes are ablated: mean or resample
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("mean", "resample"):
            raise ValueError(f"budget mode must be mean or resample, got {self.mode!r}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("seed", "mode"):
                continue
            if value < (0 if f.name in ("minimality", "das_variables") else 1):
                raise ValueError(f"budget {f.name} must be positive, got {value}")


@dataclass
class Measured:
    """A hypothesis measured: aligned to the nodes found, per variable the IIA results, and the
    variables no pair can test."""

    hypothesis: Hypothesis
    variables: list[VariableIIA]
    inert: list[str]

    def to_json(self) -> dict[str, Any]:
        hyp = self.hypothesis
        return {
            "hypothesis": hyp.name,
            "source": hyp.source,
            "thresholds": dataclasses.asdict(hyp.thresholds),
            "alignments": {k: dataclasses.asdict(a) for k, a in hyp.alignments.items()},
            "variables": [r.to_json() for r in self.variables],
            "inert": self.inert,
        }


def check_names(hyp: Hypothesis, names: list[str] | None) -> list[str]:
    """``names`` (default: every variable), each one of the hypothesis's, else one error."""
    for name in names or []:
        if name not in hyp.names:
            hint = did_you_mean(name, hyp.names)
            raise AlgolensError(f"no variable {name!r} in hypothesis {hyp.name}{hint}")
    return list(names or hyp.names)


def measure_hypothesis(
    model: Any,
    task: SequenceTask,
    declared: Declared,
    names: list[str] | None = None,
    budget: Budget = Budget(),
    progress: Callable[[str], None] | None = None,
) -> Measured:
    """IIA of every variable (or ``names``): the best node of a search, measured on random and
    targeted pairs, with its negative controls; the hypothesis comes back aligned to the nodes
    found, with the variables no pair can test (:class:`InertVariable`)."""
    hyp = declared.hypothesis
    kw = {
        "pairs": budget.pairs,
        "targeted_pairs": budget.targeted_pairs,
        "search_pairs": budget.search_pairs,
        "control_pairs": budget.control_pairs,
    }
    results: list[VariableIIA] = []
    inert: list[str] = []
    for name in check_names(hyp, names):
        if progress is not None:
            progress(name)
        try:
            results.append(
                measure_variable(
                    model, task, hyp, name, dict(declared.samplers), seed=budget.seed, **kw
                )
            )
        except InertVariable:
            inert.append(name)
    how = f"search: best IIA of the candidate nodes, {budget.search_pairs:,} random pairs"
    for r in results:  # the hypothesis now says where each variable lives, and how it was found
        found = f"{how} ({len(r.search)} nodes), seed {budget.seed}"
        hyp = hyp.aligned(r.variable, Alignment((r.best,), how=found))
    return Measured(hyp, results, inert)
