"""Distributed alignment search (DAS): find the subspace where a model keeps a variable.

Interchange on a whole node asks whether one node holds a variable. When a variable is spread
over a node's dimensions, or over several nodes, a whole-node swap moves other information too
and fails. DAS (Geiger, Wu, Icard, Potts & Goodman 2023, "Finding Alignments Between
Interpretable Causal Variables and Distributed Neural Representations") learns instead a rank-k
orthonormal basis ``B`` of the activation (one node, or the concatenated activations of a group
of nodes at one hook point) and swaps only the component inside it::

    patched = base + (source - base) @ B.T @ B          # B: [k, width], orthonormal rows

It trains ``B`` (the model stays frozen) so that the patched model gives the *counterfactual*
answer, the one the hypothesis predicts when the variable takes the source's value, and reports
the interchange-intervention accuracy (IIA) on held-out pairs with a Clopper-Pearson interval.
The model reads the counterfactual answer as its teacher-forced answer tokens, so a pair counts
when every answer token is the argmax: the same verdict as greedy decoding (see verify.py).
A small torch implementation of pyvene's rotated-space intervention, over TransformerLens hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn
from torch.nn.utils.parametrizations import orthogonal

from algolens.analysis.iia import forced, matches
from algolens.analysis.interventions import Patch, Site, activations, patch_hooks
from algolens.analysis.nodes import Node
from algolens.tasks.base import Batch, SequenceTask
from algolens.verify.stats import clopper_pearson

Counterfactual = Callable[[Batch, Batch], Int[Tensor, "batch n_answer"]]


@dataclass(frozen=True)
class Pairs:
    """Base and source questions (token rows) and the counterfactual answer of each pair."""

    base: Int[Tensor, "pair n_ctx"]
    source: Int[Tensor, "pair n_ctx"]
    target: Int[Tensor, "pair n_answer"]

    def __len__(self) -> int:
        return int(self.base.shape[0])

    def rows(self, idx: Tensor | slice) -> Pairs:
        return Pairs(self.base[idx], self.source[idx], self.target[idx])


def make_pairs(base: Batch, source: Batch, counterfactual: Counterfactual) -> Pairs:
    """Pairs from two batches of questions; ``counterfactual(base, source)`` gives the answer
    the hypothesis predicts for the base with the variable taken from the source."""
    target = counterfactual(base, source).to(base.inputs.device)
    if target.shape != base.targets.shape:
        raise ValueError(
            f"counterfactual answers {tuple(target.shape)}, want {tuple(base.targets.shape)}"
        )
    return Pairs(base.inputs, source.inputs, target)


def check_group(nodes: tuple[Node, ...]) -> str:
    """The one hook point a group's nodes share (a rotation across hook points would patch an
    activation that an earlier patch of the same group already changed)."""
    hooks = {n.hook for n in nodes}
    if len(nodes) == 0 or len(hooks) != 1:
        raise ValueError(f"a DAS group is one or more nodes of one hook point, got {sorted(hooks)}")
    return hooks.pop()


def read_group(act: Tensor, nodes: tuple[Node, ...]) -> Float[Tensor, "batch width"]:
    """The group's activations at its positions (and heads), concatenated."""
    parts = [act[:, n.pos, n.head] if n.kind == "head" else act[:, n.pos] for n in nodes]
    return torch.cat(parts, -1)


def write_group(act: Tensor, nodes: tuple[Node, ...], value: Tensor) -> Tensor:
    """``act`` with the group's activations replaced by ``value`` (a copy, autograd-safe)."""
    act = act.clone()
    widths = [act.shape[-1]] * len(nodes)
    for n, part in zip(nodes, value.split(widths, -1), strict=True):
        if n.kind == "head":
            act[:, n.pos, n.head] = part
        else:
            act[:, n.pos] = part
    return act


@torch.no_grad()
def group_activations(
    model: Any, tokens: Int[Tensor, "batch n_ctx"], nodes: tuple[Node, ...]
) -> Float[Tensor, "batch width"]:
    """The group's concatenated activation on each of ``tokens``."""
    check_group(nodes)
    return torch.cat(activations(model, tokens, tuple(Site(n) for n in nodes)), -1)


def subspace_hooks(
    nodes: tuple[Node, ...], source: Tensor, basis: Tensor
) -> list[tuple[str, Callable[..., Tensor]]]:
    """Forward hooks swapping the ``basis`` component of the group from ``source`` rows.

    One node: the shared patch primitive (:mod:`algolens.analysis.interventions`, a subspace
    site). Several nodes: one subspace of their concatenation, which that primitive (one
    subspace per node) cannot express, so one hook reads and writes the group at once.
    """
    if len(nodes) == 1:
        return patch_hooks([Patch((Site(nodes[0], basis.T),), (source,))], len(source))

    def hook(act: Tensor, hook: object) -> Tensor:
        base = read_group(act, nodes)
        patched = base + ((source - base) @ basis.T) @ basis
        return write_group(act, nodes, patched)

    return [(check_group(nodes), hook)]


def patched_logits(
    model: Any, task: SequenceTask, pairs: Pairs, nodes: tuple[Node, ...], source: Tensor,
    basis: Tensor,
) -> Float[Tensor, "pair n_answer d_vocab"]:  # fmt: skip
    """The answer logits of the bases with the subspace swapped in from the sources."""
    logits = model.run_with_hooks(
        forced(task, pairs.base, pairs.target), fwd_hooks=subspace_hooks(nodes, source, basis)
    )
    return task.answer_logits(logits)


@dataclass
class DasResult:
    """A learned subspace and its held-out IIA (share of pairs whose whole answer is the
    counterfactual), with the baseline of a model that ignores the patch."""

    nodes: list[str]
    rank: int
    basis: Float[Tensor, "k width"]
    iia: float
    interval: tuple[float, float]
    pairs: int
    correct: int
    train_iia: float
    train_pairs: int
    baseline: float  # share of held-out pairs whose unpatched answer is the counterfactual
    final_loss: float

    def to_dict(self) -> dict[str, Any]:
        """Everything but the basis, JSON-ready."""
        return {k: v for k, v in self.__dict__.items() if k != "basis"} | {
            "interval": list(self.interval)
        }


@torch.no_grad()
def interchange_accuracy(
    model: Any, task: SequenceTask, pairs: Pairs, nodes: tuple[Node, ...], basis: Tensor,
    chunk: int = 4096,
) -> Int[Tensor, " pair"]:  # fmt: skip
    """Per pair, True when every patched answer token is the counterfactual's."""
    source = group_activations(model, pairs.source, nodes)
    hits = []
    for s in range(0, len(pairs), chunk):
        part = pairs.rows(slice(s, s + chunk))
        logits = patched_logits(model, task, part, nodes, source[s : s + chunk], basis)
        hits.append(matches(logits.argmax(-1), part.target))
    return torch.cat(hits)


@torch.no_grad()
def ignore_patch_baseline(model: Any, task: SequenceTask, pairs: Pairs) -> float:
    """Share of pairs whose unpatched answer already is the counterfactual answer."""
    pred = task.answer_logits(model(pairs.base)).argmax(-1)
    return float(matches(pred, pairs.target).double().mean())


def fit_basis(
    model: Any,
    task: SequenceTask,
    pairs: Pairs,
    nodes: tuple[Node, ...],
    rank: int,
    *,
    steps: int = 300,
    lr: float = 0.01,
    batch_size: int = 256,
    seed: int = 0,
) -> tuple[Tensor, float]:
    """A rank-``rank`` orthonormal basis ``[rank, width]`` trained by cross-entropy of the
    patched answer against the counterfactual; and the last step's loss. The model's weights
    are not trained (their ``requires_grad`` is restored afterwards)."""
    source = group_activations(model, pairs.source, nodes)
    width = source.shape[-1]
    if not 1 <= rank <= width:
        raise ValueError(f"rank must be 1 to {width}, got {rank}")
    gen = torch.Generator().manual_seed(seed)
    proj = nn.Linear(width, rank, bias=False)
    with torch.no_grad():
        proj.weight.copy_(torch.randn(rank, width, generator=gen))
    rot = orthogonal(proj).to(source.device)
    opt = torch.optim.Adam(rot.parameters(), lr=lr)
    flags = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    loss = torch.zeros(())
    try:
        for _ in range(steps):
            idx = torch.randint(len(pairs), (min(batch_size, len(pairs)),), generator=gen)
            idx = idx.to(source.device)
            part = pairs.rows(idx)
            logits = patched_logits(model, task, part, nodes, source[idx], _weight(rot))
            target = part.target.flatten()  # a free token (-1) adds no loss
            loss = F.cross_entropy(logits.flatten(0, 1).float(), target, ignore_index=-1)
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
    return _weight(rot).detach().clone(), float(loss.detach())


def _weight(rot: nn.Module) -> Tensor:
    """The parametrized (orthonormal-row) weight of an ``orthogonal`` linear map."""
    return cast(Tensor, rot.weight)


def das(
    model: Any,
    task: SequenceTask,
    nodes: tuple[Node, ...],
    train: Pairs,
    test: Pairs,
    rank: int = 2,
    **fit: Any,
) -> DasResult:
    """Learn a rank-``rank`` subspace of ``nodes`` on ``train`` pairs; its IIA on ``test``.

    ``fit`` goes to :func:`fit_basis` (steps, lr, batch_size, seed).
    """
    model.eval()
    basis, loss = fit_basis(model, task, train, nodes, rank, **fit)
    held = interchange_accuracy(model, task, test, nodes, basis)
    # a fit measured on its own training pairs (a screen) runs them once, not twice
    seen = held if test is train else interchange_accuracy(model, task, train, nodes, basis)
    k, n = int(held.sum()), len(test)
    return DasResult(
        nodes=[x.name for x in nodes],
        rank=rank,
        basis=basis,
        iia=k / n,
        interval=clopper_pearson(k, n),
        pairs=n,
        correct=k,
        train_iia=float(seen.double().mean()),
        train_pairs=len(train),
        baseline=ignore_patch_baseline(model, task, test),
        final_loss=loss,
    )
