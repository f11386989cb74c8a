"""Nodes over hook names, and answer scoring: what every position-wise analysis shares.

A *node* is one hook point at one position, named as in the papers (Quirke & Barez 2024):
``P14.L0.H1`` (the output ``hook_z`` of head 1 of layer 0 at position 14), ``P15.L1.MLP`` (the
MLP output of layer 1 at position 15), ``P12.L0.RES`` (the residual stream after layer 0 at
position 12), ``P2.L0.MID`` (the residual stream between layer 0's attention and its MLP). The
task says where answers are read (a :class:`~algolens.tasks.base.SequenceTask`); nothing here
knows which family it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from algolens.models.transformer import Transformer
from algolens.tasks.base import Batch, SequenceTask

Kind = Literal["head", "mlp", "resid", "mid"]


@dataclass(frozen=True)
class Node:
    """One hook point at one position; ``head`` is set for attention heads only."""

    pos: int
    layer: int
    kind: Kind
    head: int | None = None

    @property
    def name(self) -> str:
        part = {"head": f"H{self.head}", "mlp": "MLP", "resid": "RES", "mid": "MID"}[self.kind]
        return f"P{self.pos}.L{self.layer}.{part}"

    @property
    def component(self) -> str:
        """The node without its position: ``L0H1``, ``L1MLP``."""
        return self.name.split(".", 1)[1].replace(".", "")

    @property
    def hook(self) -> str:
        return {
            "head": f"blocks.{self.layer}.attn.hook_z",
            "mlp": f"blocks.{self.layer}.hook_mlp_out",
            "resid": f"blocks.{self.layer}.hook_resid_post",
            "mid": f"blocks.{self.layer}.hook_resid_mid",
        }[self.kind]

    @classmethod
    def parse(cls, name: str) -> Node:
        """``'P14.L0.H1'`` -> ``Node(14, 0, 'head', 1)``."""
        pos, layer, part = name.split(".")
        if part == "MLP":
            return cls(int(pos[1:]), int(layer[1:]), "mlp")
        if part == "RES":
            return cls(int(pos[1:]), int(layer[1:]), "resid")
        if part == "MID":
            return cls(int(pos[1:]), int(layer[1:]), "mid")
        return cls(int(pos[1:]), int(layer[1:]), "head", int(part[1:]))


def model_nodes(
    model: Transformer, n_ctx: int, kinds: tuple[Kind, ...] = ("head", "mlp")
) -> list[Node]:
    """Every node of the given kinds, ordered by position, then layer, heads before the MLP."""
    cfg = model.cfg
    out: list[Node] = []
    for pos in range(n_ctx):
        for layer in range(cfg.n_layers):
            if "head" in kinds:
                out.extend(Node(pos, layer, "head", h) for h in range(cfg.n_heads))
            if "mlp" in kinds:
                out.append(Node(pos, layer, "mlp"))
            if "mid" in kinds:
                out.append(Node(pos, layer, "mid"))
            if "resid" in kinds:
                out.append(Node(pos, layer, "resid"))
    return out


def can_change_answer(node: Node, task: SequenceTask, n_layers: int) -> bool:
    """False when causality alone proves the node cannot move any answer logit.

    A node at position p only reaches positions >= p, and other positions only through the
    attention of later layers; answers are read at positions ``answer_start - 1 … n_ctx - 2``.
    """
    first, last = task.answer_start - 1, task.n_ctx - 2
    if node.pos > last:
        return False
    return node.layer < n_layers - 1 or node.pos >= first


def class_index(task: SequenceTask, batch: Batch) -> tuple[list[str], Int[Tensor, " batch"]]:
    """The class names and each question's index into them."""
    names = list(task.class_names)
    per_q = task.question_classes(batch)
    return names, torch.tensor([names.index(c) for c in per_q], dtype=torch.long)


@torch.inference_mode()
def answer_scores(
    task: SequenceTask, logits: Float[Tensor, "batch n_ctx d_vocab"], targets: Tensor
) -> tuple[Bool[Tensor, "batch n_answer"], Float[Tensor, " batch"]]:
    """Per answer digit, is the argmax right; and each question's mean answer loss (float64)."""
    return score_answer_logits(task.answer_logits(logits), targets)


def score_answer_logits(
    answer_logits: Float[Tensor, "batch n_answer d_vocab"], targets: Tensor
) -> tuple[Bool[Tensor, "batch n_answer"], Float[Tensor, " batch"]]:
    """:func:`answer_scores` from the answer positions' logits alone."""
    ans = answer_logits.to(torch.float64)
    correct = ans.argmax(-1) == targets
    logp = torch.log_softmax(ans, -1).gather(-1, targets[..., None])[..., 0]
    return correct, -logp.mean(-1)


def pattern(correct_row: list[bool]) -> str:
    """The papers' answer pattern: ``'yyNyyy'`` marks the wrong digit (sequence order A5 … A0)."""
    return "".join("y" if ok else "N" for ok in correct_row)
