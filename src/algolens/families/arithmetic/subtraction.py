"""Subtraction (Quirke, Neo & Barez 2024): where the answer's sign is decided, and the claims
about the subtraction sub-tasks.

The sign token (``+`` or ``-``) is the first answer token, predicted at the '=' position; it
needs the operands compared (GT: "D > D'"). :func:`sign_analysis` patches each node, and the
residual stream at each position and layer, from a question of the opposite sign into a clean
question: a node that decides the sign flips it to the store's sign.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    opposite-sign pairs whose patched sign flips to the store's."""

    pairs: int
    flips: dict[str, float]  # node name -> flip rate

    def best(self, kinds: tuple[str, ...] = ("head", "mlp")) -> tuple[str, float]:
        named = {k: v for k, v in self.flips.items() if Node.parse(k).kind in kinds}
        if not named:
            return "-", 0.0
        name = max(named, key=lambda k: (named[k], -Node.parse(k).pos))
        return name, named[name]

    def decided_at(self) -> str | None:
        """The earliest residual stream (position, then layer) that carries the sign."""
        res = [
            Node.parse(k)
            for k, v in self.flips.items()
            if Node.parse(k).kind == "resid" and v >= CONFIRM
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


@torch.inference_mode()
def sign_analysis(model: Any, task: ArithmeticTask, batch: Batch) -> SignResult | None:
    """Patch every node at positions up to '=' from an opposite-sign question; None when the
    task has no subtraction or the questions hold no pair."""
    if task.op == "add":
        return None
    clean, store = opposite_sign_pairs(batch)
    if len(clean) < 2:
        return None
    eq = task.answer_start - 1
    nodes = [n for n in model_nodes(model, task.n_ctx, ("head", "mlp", "resid")) if n.pos <= eq]
    # the sign is predicted at '=': later positions cannot change it, so they do not run
    patched = interchange(model, task, clean, store, [[n] for n in nodes], length=eq + 1)
    flipped = (patched[:, :, 0] == store.targets[:, 0]).double().mean(-1)  # the sign token
    return SignResult(len(clean), {n.name: float(f) for n, f in zip(nodes, flipped, strict=True)})


def sign_claim(a: ArithmeticAnalysis) -> Claim | None:
    """Where and when the sign is decided: one node flips it, and the residual stream carries
    it from some position before the answer."""
    if a.sign is None:
        return None
    claim = "The answer's sign is decided before it is emitted, at one node"
    expected = (
        f"patching one head or MLP from a question of the opposite sign flips the sign in "
        f">= {CONFIRM:.0%} of pairs"
    )
    if (why := _unfit(a)) is not None:
        return Claim(claim, expected, why, False, PAPER_2)
    name, rate = a.sign.best()
    where = a.sign.decided_at()
    measured = (
        f"{name} flips it in {rate:.0%} of {a.sign.pairs} pairs; the residual stream "
        f"carries it from {where or 'no single position'}"
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
