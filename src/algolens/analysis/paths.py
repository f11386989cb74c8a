"""Path patching: a sender node's effect on the answer through one receiver node only.

Activation patching a node measures its total effect, through every later node. Path patching
(Wang et al. 2023, "Interpretability in the Wild"; Goldowsky-Dill et al. 2023, "Localizing Model
Behavior with Path Patching") measures one edge: the sender's change reaches the receiver
through the residual stream and nothing else.

1. Run the base questions with the sender's output taken from the source questions and every
   other head and MLP frozen at its base value; record the receiver's output (recomputed).
2. Run the base questions with only the receiver's output set to that value (everything after
   it recomputed) and score the answers.

The effect is the share of base questions whose answer changes, and the rise of their answer
loss. A sender in the receiver's layer or later cannot reach it (its effect is 0); with no
receiver, step 2 patches the sender itself: plain activation patching (the total effect, as
``transformer_lens.patching`` computes it). Many (sender, receiver) pairs run in one stacked
batch. Nodes are heads (``hook_z``) and MLPs (``hook_mlp_out``) at positions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor

from algolens.analysis.circuit import Circuit
from algolens.analysis.nodes import Node, score_answer_logits
from algolens.tasks.base import SequenceTask

Edge = tuple[Node, Node | None]  # (sender, receiver); no receiver: the sender's total effect


def _index(n: Node) -> tuple[Any, ...]:
    """The node's slot in its hook's activation, batch first: ``[:, pos(, head)]``."""
    return (slice(None), n.pos) + ((n.head,) if n.kind == "head" else ())


def _hooks(names: set[str], fn: Callable[[Tensor, str], Tensor]) -> list[tuple[str, Callable]]:
    return [(name, lambda act, hook, name=name: fn(act, name)) for name in sorted(names)]


def receiver_values(
    model: Any, base: Tensor, source_cache: dict[str, Tensor], edges: list[Edge]
) -> list[Tensor]:
    """Step 1, for every edge at once: each receiver's output with the sender patched from
    the source and every other head and MLP frozen at its base value."""
    n_q, v = len(base), len(edges)
    hooks = {f"blocks.{i}.{h}" for i in range(model.cfg.n_layers)
             for h in ("attn.hook_z", "hook_mlp_out")}  # fmt: skip
    _, clean = model.run_with_cache(base, names_filter=hooks.__contains__)
    got: list[Tensor | None] = [None] * v

    def step(act: Tensor, name: str) -> Tensor:
        view = act.reshape(v, n_q, *act.shape[1:])
        new = clean[name].expand_as(view).clone()  # frozen at the base
        for k, (sender, receiver) in enumerate(edges):
            assert receiver is not None
            if receiver.hook == name:
                new[k][_index(receiver)] = view[k][_index(receiver)]
                got[k] = view[k][_index(receiver)].clone()
            if sender.hook == name:
                new[k][_index(sender)] = source_cache[name][_index(sender)]
        return new.reshape(act.shape)

    model.run_with_hooks(base.repeat(v, 1), fwd_hooks=_hooks(hooks, step))
    if any(g is None for g in got):
        raise ValueError("a receiver's hook did not run")
    return [g for g in got if g is not None]


def patched_scores(
    model: Any, task: SequenceTask, base: Tensor, targets: Tensor, writes: list[tuple[Node, Tensor]]
) -> tuple[Tensor, Tensor]:
    """Step 2: answer argmax ``[write, batch, n_answer]`` and loss ``[write, batch]`` with
    node ``writes[k][0]`` set to ``writes[k][1]`` (one write per chunk of the stacked batch)."""
    n_q, v = len(base), len(writes)
    names = {node.hook for node, _ in writes}

    def step(act: Tensor, name: str) -> Tensor:
        view = act.reshape(v, n_q, *act.shape[1:]).clone()
        for k, (node, value) in enumerate(writes):
            if node.hook == name:
                view[k][_index(node)] = value
        return view.reshape(act.shape)

    logits = model.run_with_hooks(base.repeat(v, 1), fwd_hooks=_hooks(names, step))
    answer = task.answer_logits(logits)
    _, loss = score_answer_logits(answer, targets.repeat(v, 1))
    return answer.argmax(-1).view(v, n_q, -1), loss.view(v, n_q)


@dataclass
class PathEffect:
    """One edge's measured effect on ``questions`` base questions."""

    sender: str
    receiver: str | None
    questions: int
    changed: int  # base questions whose answer (argmax at any answer position) changes
    loss_rise: float  # mean rise of the answer loss (nats, against the base's right answer)

    @property
    def changed_rate(self) -> float:
        return self.changed / self.questions

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "changed_rate": self.changed_rate}


def reaches(sender: Node, receiver: Node) -> bool:
    """Can the sender's output reach the receiver's input through the residual stream?
    A later layer, at a position the receiver can see, or the same layer's MLP after a head
    at the same position."""
    if receiver.layer > sender.layer:
        return sender.pos <= receiver.pos and (
            receiver.kind == "head" or sender.pos == receiver.pos
        )
    return (receiver.layer == sender.layer and receiver.kind == "mlp"
            and sender.kind == "head" and sender.pos == receiver.pos)  # fmt: skip


@torch.inference_mode()
def path_patch(
    model: Any,
    task: SequenceTask,
    base: Int[Tensor, "batch n_ctx"],
    source: Int[Tensor, "batch n_ctx"],
    edges: list[Edge],
    targets: Tensor | None = None,
    max_rows: int = 8192,
) -> list[PathEffect]:
    """The effect of each edge (sender -> receiver) on the base questions, the sender taken
    from the source questions (row i from row i). ``targets`` default to the base's answers."""
    targets = base[:, task.answer_start :] if targets is None else targets
    hooks = {e[0].hook for e in edges}
    _, src = model.run_with_cache(source, names_filter=hooks.__contains__)
    src_cache = {name: src[name] for name in hooks}
    clean_pred, clean_loss = _clean(model, task, base, targets)
    out: list[PathEffect] = []
    per = max(1, max_rows // len(base))
    for start in range(0, len(edges), per):
        group = edges[start : start + per]
        writes = _writes(model, base, src_cache, group)
        pred, loss = patched_scores(model, task, base, targets, writes)
        for k, (sender, receiver) in enumerate(group):
            changed = int((pred[k] != clean_pred).any(-1).sum())
            rise = float((loss[k] - clean_loss).mean())
            out.append(
                PathEffect(
                    sender.name,
                    None if receiver is None else receiver.name,
                    len(base),
                    changed,
                    rise,
                )
            )
    return out


def _clean(model: Any, task: SequenceTask, base: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    logits = task.answer_logits(model(base))
    _, loss = score_answer_logits(logits, targets)
    return logits.argmax(-1), loss


def _writes(
    model: Any, base: Tensor, src_cache: dict[str, Tensor], group: list[Edge]
) -> list[tuple[Node, Tensor]]:
    """What step 2 writes for each edge: the receiver's step-1 value where the sender can
    reach it; the receiver's own base value where it cannot (effect 0); the sender's source
    value for an edge without a receiver (activation patching)."""
    to_run = [e for e in group if e[1] is not None and reaches(e[0], e[1])]
    values = iter(receiver_values(model, base, src_cache, to_run) if to_run else [])
    names = {e[1].hook for e in group if e[1] is not None}
    _, clean = model.run_with_cache(base, names_filter=names.__contains__)
    writes: list[tuple[Node, Tensor]] = []
    for sender, receiver in group:
        if receiver is None:
            writes.append((sender, src_cache[sender.hook][_index(sender)]))
        elif reaches(sender, receiver):
            writes.append((receiver, next(values)))
        else:
            writes.append((receiver, clean[receiver.hook][_index(receiver)]))
    return writes


def circuit_edges(
    model: Any,
    task: SequenceTask,
    circuit: Circuit,
    base: Int[Tensor, "batch n_ctx"],
    source: Int[Tensor, "batch n_ctx"],
    min_changed: float = 0.01,
) -> tuple[Circuit, list[PathEffect]]:
    """Path-patch every pair of circuit nodes where the sender can reach the receiver; the
    circuit gains the edges that change more than ``min_changed`` of the answers, each with
    its measured share. Also returns every edge's effect."""
    pairs: list[Edge] = [(s, r) for s in circuit.nodes for r in circuit.nodes if reaches(s, r)]
    effects = path_patch(model, task, base, source, pairs) if pairs else []
    edges = tuple(
        (e.sender, e.receiver or "", e.changed_rate)
        for e in effects
        if e.changed_rate > min_changed
    )
    return Circuit(circuit.nodes, edges), effects
