"""Answer-digit activation patching, attribution patching and the logit lens, over nodes.

Activation patching (denoising) runs *corrupt* questions with one node's activation taken from
the *clean* questions, and measures, per answer digit, how far the model moves back towards the
clean answer. Attribution patching (Nanda 2023; Syed, Rager & Conmy 2023) estimates every node's
effect at once from one forward and one backward pass per answer digit: the first-order Taylor
term ``(clean_act - corrupt_act) · d metric / d act`` at the corrupt run. Exact where the model
is linear in the node, it is the cheap screen; activation patching is the check (the tests
state how well the two agree on the zoo's 1- and 2-layer adders).

Nodes are :class:`~algolens.analysis.nodes.Node` (``P14.L0.H1``: head ``hook_z``, ``P15.L1.MLP``:
``hook_mlp_out``, ``P12.L0.RES``: ``hook_resid_post``). Metrics, per answer digit, averaged over
the questions: ``logit_diff`` (clean digit's logit minus the corrupt digit's), ``prob`` and
``logprob`` (of the clean digit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from algolens.analysis.nodes import Node, can_change_answer, model_nodes
from algolens.errors import AlgolensError
from algolens.tasks.base import SequenceTask

Metric = Literal["logit_diff", "prob", "logprob"]
METRICS = ("logit_diff", "prob", "logprob")


@dataclass
class PatchingResult:
    """Per node and answer digit (sequence order, ``answer_names``), the metric averaged over the
    questions with that node patched (``patched``) or its first-order estimate (attribution)."""

    nodes: list[Node]
    metric: str
    patched: Float[Tensor, "node n_answer"]
    clean: Float[Tensor, " n_answer"]
    corrupt: Float[Tensor, " n_answer"]
    answer_names: list[str]
    reach: Bool[Tensor, "node n_answer"]  # False: causality alone keeps the node off that digit

    def change(self) -> Float[Tensor, "node n_answer"]:
        """How far patching the node moves the metric from the corrupt run's."""
        return self.patched - self.corrupt

    def restored(self) -> Float[Tensor, "node n_answer"]:
        """The change as a share of the way from corrupt to clean: 1 restores the clean metric,
        0 does nothing (NaN for a digit whose clean and corrupt metrics are equal)."""
        gap = self.clean - self.corrupt
        return self.change() / torch.where(gap.abs() > 1e-12, gap, torch.nan)

    def top(self, k: int = 5) -> list[tuple[str, str, float]]:
        """The ``k`` largest changes as ``(node, answer digit, change)``."""
        flat = self.change().abs().flatten()
        order = flat.argsort(descending=True)[:k].tolist()
        n = len(self.answer_names)
        return [(self.nodes[i // n].name, self.answer_names[i % n],
                 float(self.change().flatten()[i])) for i in order]  # fmt: skip


@dataclass
class LogitLens:
    """The answer positions' logits read after every block: ``logits[layer, batch, digit]``."""

    logits: Float[Tensor, "layer batch n_answer d_vocab"]
    targets: Int[Tensor, "batch n_answer"]
    answer_names: list[str]

    def correct(self) -> Bool[Tensor, "layer batch n_answer"]:
        """Whether each answer digit would be right if the model stopped after that block."""
        return self.logits.argmax(-1) == self.targets

    def accuracy(self) -> Float[Tensor, "layer n_answer"]:
        """Per block and answer digit, the share of questions whose digit is right."""
        return self.correct().double().mean(1)

    def target_prob(self) -> Float[Tensor, "layer batch n_answer"]:
        """The probability of the right digit after each block."""
        probs = self.logits.double().softmax(-1)
        return probs.gather(
            -1, self.targets.expand(probs.shape[0], *self.targets.shape)[..., None]
        )[..., 0]


def answer_targets(task: SequenceTask, tokens: Int[Tensor, "batch n_ctx"]) -> Tensor:
    """The answer tokens of full sequences, ``[batch, n_answer]``, in sequence order."""
    return tokens[:, task.answer_start : task.answer_start + task.n_answer]  # type: ignore[attr-defined]


def answer_metric(
    answer_logits: Float[Tensor, "batch n_answer d_vocab"],
    clean: Int[Tensor, "batch n_answer"],
    corrupt: Int[Tensor, "batch n_answer"],
    metric: str,
) -> Float[Tensor, "batch n_answer"]:
    """The metric of each question's answer digits (see the module's docstring)."""
    if metric == "logit_diff":
        return (answer_logits.gather(-1, clean[..., None]) - answer_logits.gather(
            -1, corrupt[..., None]))[..., 0]  # fmt: skip
    if metric == "prob":
        return answer_logits.softmax(-1).gather(-1, clean[..., None])[..., 0]
    if metric == "logprob":
        return answer_logits.log_softmax(-1).gather(-1, clean[..., None])[..., 0]
    raise AlgolensError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")


def _setup(
    model: Any, task: SequenceTask, clean: Tensor, corrupt: Tensor, nodes: list[Node] | None
) -> tuple[list[Node], Tensor, Tensor, Tensor]:
    """Nodes (by default every head and MLP that can change an answer), both answers, reach."""
    if clean.shape != corrupt.shape:
        raise AlgolensError(
            f"clean and corrupt tokens differ in shape: {tuple(clean.shape)} and "
            f"{tuple(corrupt.shape)}"
        )
    if nodes is None:
        nodes = [n for n in model_nodes(model, task.n_ctx)
                 if can_change_answer(n, task, model.cfg.n_layers)]  # fmt: skip
    read_at = torch.arange(task.n_answer) + task.answer_start - 1  # type: ignore[attr-defined]
    reach = torch.tensor([n.pos for n in nodes])[:, None] <= read_at[None]
    return nodes, answer_targets(task, clean), answer_targets(task, corrupt), reach


def _patch_hook(node: Node, source: Tensor) -> Any:
    def hook(act: Tensor, hook: object) -> Tensor:
        act = act.clone()
        if node.head is None:
            act[:, node.pos] = source[:, node.pos]
        else:
            act[:, node.pos, node.head] = source[:, node.pos, node.head]
        return act

    return hook


def activation_patching(
    model: Any,
    task: SequenceTask,
    clean: Int[Tensor, "batch n_ctx"],
    corrupt: Int[Tensor, "batch n_ctx"],
    nodes: list[Node] | None = None,
    metric: Metric = "logit_diff",
    *,
    method: Literal["exact", "attribution"] = "exact",
) -> PatchingResult:
    """Activation patching of each node (by default every head and MLP that can change an
    answer): the metric per answer digit, averaged over the questions, with that node's clean
    activation in the corrupt run. ``exact``: one corrupt forward per node; ``attribution``:
    every node's effect estimated to first order (:func:`attribution_patching`)."""
    if method not in ("exact", "attribution"):
        raise AlgolensError(f"method must be exact or attribution, got {method!r}")
    nodes, want, other, reach = _setup(model, task, clean, corrupt, nodes)
    run = _exact if method == "exact" else _attribution
    patched, clean_score, corrupt_score = run(
        model, task, clean, corrupt, nodes, want, other, metric
    )
    return PatchingResult(nodes, metric, patched, clean_score, corrupt_score,
                          list(task.answer_names), reach)  # type: ignore[attr-defined]  # fmt: skip


def attribution_patching(
    model: Any, task: SequenceTask, *pair: Any, **options: Any
) -> PatchingResult:
    """Attribution patching: every node's effect estimated to first order from the corrupt run's
    gradients, ``(clean_act - corrupt_act) · grad``, one backward pass per answer digit. The
    arguments and result are :func:`activation_patching`'s (``patched`` is corrupt plus the
    estimate)."""
    return activation_patching(model, task, *pair, **options, method="attribution")


@torch.no_grad()
def _exact(
    model: Any, task: SequenceTask, clean: Tensor, corrupt: Tensor, nodes: list[Node],
    want: Tensor, other: Tensor, metric: str,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """One corrupt forward per node, with that node's clean activation patched in: the patched,
    clean and corrupt metrics per answer digit."""
    hooks = {n.hook for n in nodes}
    clean_logits, cache = model.run_with_cache(clean, names_filter=hooks.__contains__)

    def score(logits: Tensor) -> Tensor:
        return answer_metric(task.answer_logits(logits).double(), want, other, metric).mean(0)

    patched = torch.stack([
        score(model.run_with_hooks(corrupt, fwd_hooks=[(n.hook, _patch_hook(n, cache[n.hook]))]))
        for n in nodes
    ])  # fmt: skip
    return patched, score(clean_logits), score(model(corrupt))


def _attribution(
    model: Any, task: SequenceTask, clean: Tensor, corrupt: Tensor, nodes: list[Node],
    want: Tensor, other: Tensor, metric: str,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """The first-order estimate of each node's patched metric, one backward pass per digit."""
    hooks = sorted({n.hook for n in nodes})
    with torch.no_grad():
        clean_logits, cache = model.run_with_cache(clean, names_filter=hooks.__contains__)
    acts: dict[str, Tensor] = {}

    def keep(act: Tensor, hook: Any) -> Tensor:
        acts[hook.name] = act
        return act

    def leaf(act: Tensor, hook: object) -> Tensor:  # gradients without the weights' .grad
        return act.detach().requires_grad_(True)

    fwd = [("hook_embed", leaf), ("hook_pos_embed", leaf), *((h, keep) for h in hooks)]
    with torch.enable_grad():
        logits = model.run_with_hooks(corrupt, fwd_hooks=fwd)
        scores = answer_metric(task.answer_logits(logits).double(), want, other, metric).mean(0)
        est = torch.zeros(len(nodes), task.n_answer, dtype=torch.float64)  # type: ignore[attr-defined]
        for k in range(task.n_answer):  # type: ignore[attr-defined]
            grads = torch.autograd.grad(scores[k], [acts[h] for h in hooks], retain_graph=True)
            for h, grad in zip(hooks, grads, strict=True):
                delta = (cache[h] - acts[h].detach()) * grad  # [batch, pos, (head,) d]
                for i, n in enumerate(nodes):
                    if n.hook == h:
                        at = delta[:, n.pos] if n.head is None else delta[:, n.pos, n.head]
                        est[i, k] = at.sum().double()
    with torch.no_grad():
        clean_score = answer_metric(task.answer_logits(clean_logits).double(), want, other, metric)
    corrupt_score = scores.detach()
    return corrupt_score + est, clean_score.mean(0), corrupt_score


@torch.no_grad()
def logit_lens(model: Any, task: SequenceTask, tokens: Int[Tensor, "batch n_ctx"]) -> LogitLens:
    """The logit lens at the answer positions: each block's residual output read by the final
    LayerNorm and the unembedding, as if the model stopped there (the last layer is the model's
    own output). Where a digit becomes right tells which layer computes it."""
    lens = model.logit_lens(tokens)  # [layer, batch, pos, d_vocab]
    logits = torch.stack([task.answer_logits(layer) for layer in lens])
    return LogitLens(logits, answer_targets(task, tokens), list(task.answer_names))  # type: ignore[attr-defined]
