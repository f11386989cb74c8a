"""Subtraction (Quirke, Neo & Barez 2024): where the answer's sign is decided, and the claims
about the subtraction sub-tasks.

The sign token (``+`` or ``-``) is the first answer token, predicted at the '=' position; it
needs the operands compared (GT: "D > D'"). :func:`sign_analysis` patches each node, and the
residual stream at each position and layer, from a question of the opposite sign into a clean
question: a node that decides the sign flips it to the store's sign.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from algolens.analysis.claims import Claim
from algolens.analysis.interchange import interchange
from algolens.analysis.nodes import Node, model_nodes
from algolens.families.arithmetic.claims import CONFIRM, PAPER_2, _unfit
from algolens.families.arithmetic.interventions import InterventionResult
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.tasks.base import Batch

if TYPE_CHECKING:
    from algolens.families.arithmetic.analysis import ArithmeticAnalysis

MIN_PAIRS = 20  # an interchange result needs this many informative pairs to count


@dataclass
class SignResult:
    """Per node (heads, MLPs, residual streams at positions up to '='): the share of
    opposite-sign pairs whose patched sign flips to the store's, on uniform pairs (``flips``)
    and on near-equal pairs (``hard_flips``: operands equal but for their last two digits, where
    D > D' must be read from the low digits). ``readout`` names the nodes of the last layer at
    '=': they write the sign's logit itself, so flipping it there shows nothing about where the
    comparison is made."""

    pairs: int
    flips: dict[str, float]  # node name -> flip rate
    hard_pairs: int = 0
    hard_flips: dict[str, float] = field(default_factory=dict)
    readout: tuple[str, ...] = ()

    def both(self, name: str) -> float:
        """The node's flip rate on the pair set where it flips least."""
        if not self.hard_pairs:
            return self.flips[name]
        return min(self.flips[name], self.hard_flips.get(name, 0.0))

    def best(self, kinds: tuple[str, ...] = ("head", "mlp")) -> tuple[str, float]:
        """The node, readout excluded, that flips the sign most on both pair sets."""
        named = {
            k: self.both(k)
            for k in self.flips
            if Node.parse(k).kind in kinds and k not in self.readout
        }
        if not named:
            return "-", 0.0
        name = max(named, key=lambda k: (named[k], -Node.parse(k).pos))
        return name, named[name]

    def decided_at(self) -> str | None:
        """The earliest residual stream (position, then layer) that carries the sign."""
        res = [
            Node.parse(k)
            for k in self.flips
            if Node.parse(k).kind == "resid" and k not in self.readout and self.both(k) >= CONFIRM
        ]
        return min(res, key=lambda n: (n.pos, n.layer)).name if res else None


def opposite_sign_pairs(batch: Batch, limit: int = 128) -> tuple[Batch, Batch]:
    """Subtraction questions with positive answers, each paired with one with a negative
    answer, and the other way round (clean, store)."""
    sub = batch.labels["is_sub"]
    pos = (sub & ~batch.labels["NEG"]).nonzero()[:, 0]
    neg = (sub & batch.labels["NEG"]).nonzero()[:, 0]
    m = min(len(pos), len(neg), limit // 2)
    clean = torch.cat([pos[:m], neg[:m]])
    store = torch.cat([neg[:m], pos[:m]])
    return batch.take(clean), batch.take(store)


def near_equal_pairs(
    task: ArithmeticTask, n_pairs: int = 128, seed: int = 0
) -> tuple[Batch, Batch]:
    """Opposite-sign subtraction pairs whose operands are equal but for their last two digits,
    ``x - y`` and ``y - x``, so D > D' must be read from the low digits. For addition (the
    readout control) the pairs differ in the carry-out, and it comes through a full cascade:
    every column above the units sums to 9, and the units sum to 9 or less, or to 10."""
    g = torch.Generator().manual_seed(seed)
    n = task.n_digits
    x = torch.randint(0, 10, (n_pairs, n), generator=g)
    if task.op == "add":
        x[:, -1] = torch.randint(1, 10, (n_pairs,), generator=g)
        y = 9 - x
        y[:, -1] = 0  # units sum to x_u <= 9: no carry anywhere
        y_carry = y.clone()
        y_carry[:, -1] = 10 - x[:, -1]  # units sum to 10: the carry runs to the top
        is_sub = torch.zeros(n_pairs, dtype=torch.bool)
        return task.make_batch(x, y, is_sub), task.make_batch(x, y_carry, is_sub)
    y = x.clone()
    low = min(2, n)
    y[:, n - low :] = torch.randint(0, 10, (n_pairs, low), generator=g)
    keep = (x != y).any(-1)  # equal operands have no sign to flip
    x, y = x[keep], y[keep]
    is_sub = torch.ones(len(x), dtype=torch.bool)
    return task.make_batch(x, y, is_sub), task.make_batch(y, x, is_sub)


@torch.inference_mode()
def first_token_flips(
    model: Any, task: ArithmeticTask, clean: Batch, store: Batch
) -> tuple[dict[str, float], tuple[str, ...]]:
    """Patch every node at positions up to '=' from the store: per node, the share of pairs
    whose first answer token (the sign, or addition's carry-out) becomes the store's; and the
    readout nodes (the last layer at '=')."""
    eq = task.answer_start - 1
    nodes = [n for n in model_nodes(model, task.n_ctx, ("head", "mlp", "resid")) if n.pos <= eq]
    # the first answer token is predicted at '=': later positions cannot change it
    patched = interchange(model, task, clean, store, [[n] for n in nodes], length=eq + 1)
    flipped = (patched[:, :, 0] == store.targets[:, 0]).double().mean(-1)
    last = model.cfg.n_layers - 1
    readout = tuple(n.name for n in nodes if n.pos == eq and n.layer == last)
    return {n.name: float(f) for n, f in zip(nodes, flipped, strict=True)}, readout


def sign_analysis(
    model: Any, task: ArithmeticTask, batch: Batch, control: bool = False
) -> SignResult | None:
    """Where the answer's first token is decided, on uniform and on near-equal opposite-sign
    pairs; None when the task has no subtraction or the questions hold no pair. ``control``
    runs the same test on an addition model's carry-out digit (the readout control)."""
    if task.op == "add" and not control:
        return None
    if task.op == "add":
        clean, store = _carry_out_pairs(batch)
    else:
        clean, store = opposite_sign_pairs(batch)
    if len(clean) < 2:
        return None
    flips, readout = first_token_flips(model, task, clean, store)
    hard_clean, hard_store = near_equal_pairs(task, seed=1)
    hard, _ = first_token_flips(model, task, hard_clean, hard_store)
    return SignResult(len(clean), flips, len(hard_clean), hard, readout)


def _carry_out_pairs(batch: Batch, limit: int = 128) -> tuple[Batch, Batch]:
    """Addition questions with and without a carry out of the top column, paired both ways."""
    top = batch.targets[:, 0] == 1
    yes, no = top.nonzero()[:, 0], (~top).nonzero()[:, 0]
    m = min(len(yes), len(no), limit // 2)
    return batch.take(torch.cat([yes[:m], no[:m]])), batch.take(torch.cat([no[:m], yes[:m]]))


def sign_claim(a: ArithmeticAnalysis) -> Claim | None:
    """Where and when the sign is decided: one node before the readout flips it, on uniform
    and on near-equal pairs, and the residual stream carries it from some position before the
    answer."""
    if a.sign is None:
        return None
    claim = "The answer's sign is decided before it is emitted, at one node"
    expected = (
        f"patching one head or MLP (not the last layer's readout at '=') from a question of the "
        f"opposite sign flips the sign in >= {CONFIRM:.0%} of uniform pairs and of near-equal "
        "pairs (D > D' read from the last two digits)"
    )
    if (why := _unfit(a)) is not None:
        return Claim(claim, expected, why, False, PAPER_2)
    name, rate = a.sign.best()
    where = a.sign.decided_at()
    uniform, hard = a.sign.flips.get(name, 0.0), a.sign.hard_flips.get(name, 0.0)
    measured = (
        f"{name} flips it in {uniform:.0%} of {a.sign.pairs} uniform pairs and {hard:.0%} of "
        f"{a.sign.hard_pairs} near-equal pairs; the residual stream carries it from "
        f"{where or 'no single position'}"
    )
    return Claim(claim, expected, measured, rate >= CONFIRM, PAPER_2)


def confirmed(
    results: list[InterventionResult], labels: tuple[str, ...]
) -> list[InterventionResult]:
    """Interchange results confirming one of ``labels`` (enough informative pairs, >= 80%)."""
    out = [r for r in results if r.subtask in labels and r.informative >= MIN_PAIRS]
    return sorted(
        (r for r in out if r.match_informative >= CONFIRM), key=lambda r: -r.match_informative
    )


def subtask_claim(a: ArithmeticAnalysis) -> Claim | None:
    """The subtraction sub-tasks (difference MD, borrow MB, equal-digit chains MZ; the
    tri-case MT carries both of the last two) are each found at a node, confirmed by interchange."""
    if a.op == "add":
        return None
    claim = "The subtraction sub-tasks are each found at a node, confirmed by interchange"
    expected = (
        f"an interchange confirms (>= {CONFIRM:.0%} of >= {MIN_PAIRS} informative pairs) "
        "the difference MD, a borrow (MB or MT) and an equal-digit chain (MZ or MT)"
    )
    if (why := _unfit(a)) is not None:
        return Claim(claim, expected, why, False, PAPER_2)
    found: dict[str, str | None] = {}
    wanted = (("difference", ("MD",)), ("borrow", ("MB", "MT")), ("equal chain", ("MZ", "MT")))
    for name, labels in wanted:
        best = confirmed(a.interventions, labels)
        found[name] = _describe(best[0]) if best else None
    measured = "; ".join(f"{k}: {v or 'none'}" for k, v in found.items())
    return Claim(claim, expected, measured, all(found.values()), PAPER_2)


def _describe(r: InterventionResult) -> str:
    return f"{'+'.join(r.nodes)} {r.label}->A{r.digit} {r.match_informative:.0%}"
