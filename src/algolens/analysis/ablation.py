"""Position and node ablation, batched: the whole sweep in a few large forward passes.

The question batch is repeated once per node along the batch axis; one hook per hook point
overwrites, in chunk k, the activation of node k (its position, and head) with the mean over the
questions or with zeros. A sweep of 72 nodes over 1,000 questions is then a handful of forwards
of ~16K sequences each instead of 72 forwards of 1,000 (see benchmarks/ablation_speed.py).

Nodes that causality alone proves cannot change an answer (e.g. a last-layer node before the
'=') are not run: their result is the clean result, and ``computed`` says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn
from tqdm.auto import tqdm
from transformer_lens import ActivationCache

from algolens.analysis.nodes import (
    Kind,
    Node,
    answer_scores,
    can_change_answer,
    class_index,
    model_nodes,
    pattern,
    score_answer_logits,
)
from algolens.models.transformer import Transformer
from algolens.tasks.base import Batch, SequenceTask, model_device

Mode = Literal["mean", "zero"]


@dataclass
class AblationResult:
    """Per node and question: which answer digits stay right, and the answer loss.

    ``correct[i, q, k]`` is True when answer digit k (sequence order A5 … A0) of question q is
    still the argmax with node i ablated; ``clean_*`` are the same for the unablated model.
    """

    nodes: list[Node]
    mode: Mode
    correct: Bool[Tensor, "node batch n_answer"]
    loss: Float[Tensor, "node batch"]
    clean_correct: Bool[Tensor, "batch n_answer"]
    clean_loss: Float[Tensor, " batch"]
    computed: list[bool]
    answer_names: list[str]
    class_names: list[str]
    question_class: Tensor  # [batch] index into class_names

    @property
    def failed(self) -> Bool[Tensor, "node batch"]:
        return ~self.correct.all(-1)

    @property
    def clean_failed(self) -> Bool[Tensor, " batch"]:
        return ~self.clean_correct.all(-1)

    def failure_rate(self) -> Float[Tensor, " node"]:
        """Share of questions answered wrong with the node ablated."""
        return self.failed.double().mean(-1)

    def extra_failure_rate(self) -> Float[Tensor, " node"]:
        """Share of questions the clean model gets right and the ablated model gets wrong."""
        return (self.failed & ~self.clean_failed).double().mean(-1)

    def digit_failure_rate(self) -> Float[Tensor, "node n_answer"]:
        """Per answer digit, the share of questions whose digit turns wrong."""
        return (~self.correct & self.clean_correct).double().mean(1)

    def impact_pattern(self, threshold: float = 0.01) -> list[str]:
        """Per node, ``'yyNyyy'`` with N where the ablation breaks the digit in > threshold."""
        rates = self.digit_failure_rate()
        return ["".join("N" if r > threshold else "y" for r in row) for row in rates.tolist()]

    def impacted_digits(self, threshold: float = 0.01) -> list[list[str]]:
        """Per node, the answer digits (``'A3'``) it breaks in more than ``threshold``."""
        return [
            [self.answer_names[k] for k, ch in enumerate(p) if ch == "N"]
            for p in self.impact_pattern(threshold)
        ]

    def common_patterns(self, index: int, k: int = 3) -> list[tuple[str, int]]:
        """The most frequent answer patterns among the questions node ``index`` breaks."""
        rows = self.correct[index][self.failed[index] & ~self.clean_failed]
        return Counter(pattern(r) for r in rows.tolist()).most_common(k)

    def class_failure_rate(self) -> Float[Tensor, "node n_class"]:
        """Per question class, the share of its questions that fail with the node ablated."""
        out = torch.zeros(len(self.nodes), len(self.class_names), dtype=torch.float64)
        for c in range(len(self.class_names)):
            mask = self.question_class == c
            if bool(mask.any()):
                out[:, c] = self.failed[:, mask].double().mean(-1)
        return out

    def failing_classes(self, threshold: float = 0.01) -> list[list[str]]:
        """Per node, the classes whose failure rate rises by more than ``threshold``."""
        clean = torch.zeros(len(self.class_names), dtype=torch.float64)
        for c in range(len(self.class_names)):
            mask = self.question_class == c
            if bool(mask.any()):
                clean[c] = self.clean_failed[mask].double().mean()
        rise = self.class_failure_rate() - clean
        return [[self.class_names[c] for c in range(len(r)) if r[c] > threshold] for r in rise]

    def by_name(self) -> dict[str, int]:
        return {n.name: i for i, n in enumerate(self.nodes)}


@torch.inference_mode()
def mean_activations(
    model: Transformer, tokens: Tensor, hooks: set[str], chunk: int = 4096
) -> dict[str, Tensor]:
    """The mean of each hook's activation over the questions, per position: ``[pos, ...]``."""
    sums: dict[str, Tensor] = {}
    for start in range(0, len(tokens), chunk):
        _, cache = model.run_with_cache(
            tokens[start : start + chunk], names_filter=hooks.__contains__
        )
        for name in hooks:
            s = cache[name].double().sum(0)
            sums[name] = sums[name] + s if name in sums else s
    return {k: (v / len(tokens)).float() for k, v in sums.items()}


def ablation_values(
    model: Transformer, tokens: Tensor, nodes: list[Node], mode: Mode
) -> dict[str, Tensor]:
    """What each hook is replaced with: per-position means over ``tokens``, or zeros."""
    hooks = {n.hook for n in nodes}
    means = mean_activations(model, tokens, hooks)
    return means if mode == "mean" else {k: torch.zeros_like(v) for k, v in means.items()}


@torch.inference_mode()
def run_ablations(
    model: Transformer,
    task: SequenceTask,
    batch: Batch,
    nodes: list[Node],
    values: dict[str, Tensor],
    *,
    local: bool = False,
    max_rows: int = 16384,
    progress: bool = False,
    desc: str = "ablating",
) -> tuple[Tensor, Tensor]:
    """Answer correctness ``[node, batch, n_answer]`` and loss ``[node, batch]`` per ablation.

    ``values[hook]`` is the replacement per position (``[pos, head, d_head]`` or
    ``[pos, d_model]``); nodes go through the model ``max_rows // batch`` at a time, in whole
    stacked forwards (:meth:`_Sweep.stacked`) or, with ``local``, computing only what the
    ablation can change (:meth:`_Sweep.local`; the same results).
    """
    model.eval()
    n_q = len(batch)
    per_pass = max(1, max_rows // n_q)
    sweep = _Sweep(model, task, batch, nodes, values)
    if local:
        groups, score = _layer_groups(nodes, per_pass, model.cfg.n_layers), sweep.local
    else:
        starts = range(0, len(nodes), per_pass)
        groups = [list(range(s, min(s + per_pass, len(nodes)))) for s in starts]
        score = sweep.stacked
    correct = torch.empty(len(nodes), n_q, task.n_answer, dtype=torch.bool)
    loss = torch.empty(len(nodes), n_q, dtype=torch.float64)
    for idx in tqdm(groups, desc=desc, disable=not progress, leave=False):
        ok, q_loss = score(idx)
        correct[idx] = ok.view(len(idx), n_q, -1)
        loss[idx] = q_loss.view(len(idx), n_q)
    return correct, loss


@dataclass
class _Sweep:
    """One sweep's inputs; :meth:`stacked` and :meth:`local` each score a group of node
    indices, the answer correctness and loss with each node ablated (the same results)."""

    model: Transformer
    task: SequenceTask
    batch: Batch
    nodes: list[Node]
    values: dict[str, Tensor]

    def stacked(self, idx: list[int]) -> tuple[Tensor, Tensor]:
        """One forward of the batch repeated once per node, one hook per hook point
        overwriting node k in chunk k."""
        group, n_q = [self.nodes[i] for i in idx], len(self.batch)
        fwd_hooks: list[tuple[str | Callable, Callable]] = []
        for hook_name in dict.fromkeys(n.hook for n in group):
            at = [j for j, n in enumerate(group) if n.hook == hook_name]
            sub = [group[j] for j in at]
            value = self.values[hook_name]
            fwd_hooks.append((hook_name, _grouped_hook(at, sub, value, n_q, len(group))))
        tokens = self.batch.inputs.repeat(len(group), 1)
        logits = self.model.run_with_hooks(tokens, fwd_hooks=fwd_hooks)
        return answer_scores(self.task, logits, self.batch.targets.repeat(len(group), 1))

    @cached_property
    def _clean(self) -> tuple[Tensor, ActivationCache]:
        """The clean answer logits ``[batch, n_answer, d_vocab]`` and the cache :meth:`local`
        starts from."""
        n_layers = self.model.cfg.n_layers
        names = {
            f"blocks.{i}.{h}" for i in range(n_layers) for h in ("hook_resid_mid", "attn.hook_z")
        }
        names |= {f"blocks.{i}.hook_resid_post" for i in range(n_layers - 1)}
        logits, cache = self.model.run_with_cache(
            self.batch.inputs, names_filter=names.__contains__
        )
        return self.task.answer_logits(logits), cache

    def local(self, idx: list[int]) -> tuple[Tensor, Tensor]:
        """Only what the ablation of one layer's nodes of one kind can change.

        Ablating a node of layer L at position p changes layer L's output at p alone (the
        layer's attention reads its input, which is untouched). So the new ``resid_post`` at p
        is computed from the clean cache with one MLP call; a last-layer node then changes one
        position's logits, and an earlier node runs only the later blocks, on the clean
        residual with row p replaced.
        """
        model, task, (clean_ans, cache) = self.model, self.task, self._clean
        group, n_q, first = [self.nodes[i] for i in idx], len(self.batch), task.answer_start - 1
        layer, block = group[0].layer, model.blocks[group[0].layer]
        pos = torch.tensor([n.pos for n in group])
        post = _new_resid_post(block, cache, group, self.values, pos)  # [node, batch, d_model]
        if layer == model.cfg.n_layers - 1:
            ans = clean_ans.expand(len(group), *clean_ans.shape).clone()
            new = model.unembed(model.ln_final(post))  # [node, batch, d_vocab]
            for k, p in enumerate(pos.tolist()):
                if first <= p < task.n_ctx - 1:
                    ans[k, :, p - first] = new[k]
        else:
            resid = cache[f"blocks.{layer}.hook_resid_post"].repeat(len(group), 1, 1)
            view = resid.view(len(group), n_q, *resid.shape[1:])
            view[torch.arange(len(group)), :, pos] = post
            later = list(model.blocks[layer + 1 :])
            for j, after in enumerate(later):  # the last one at the answer positions only
                resid = after(resid, task.readout if j == len(later) - 1 else None)
            ans = model.unembed(model.ln_final(resid))
            ans = ans.view(len(group), n_q, *ans.shape[1:])
        return score_answer_logits(ans.flatten(0, 1), self.batch.targets.repeat(len(group), 1))


def _grouped_hook(
    idx: list[int], nodes: list[Node], values: Tensor, n_q: int, n_chunks: int
) -> Callable:
    """A hook that, in chunk ``idx[j]`` of the stacked batch, overwrites ``nodes[j]``."""
    pos = torch.tensor([n.pos for n in nodes])
    chunk = torch.tensor(idx)
    is_head = nodes[0].kind == "head"
    head = torch.tensor([n.head or 0 for n in nodes])
    fill = (values[pos, head] if is_head else values[pos])[:, None]

    def hook(act: Tensor, hook: object) -> Tensor:
        view = act.view(n_chunks, n_q, *act.shape[1:])
        if is_head:
            view[chunk, :, pos, head] = fill
        else:
            view[chunk, :, pos] = fill
        return act

    return hook


def _layer_groups(nodes: list[Node], per_pass: int, n_layers: int) -> list[list[int]]:
    """Node indices in groups of at most ``per_pass``, each of one layer and one kind."""
    groups = [
        [i for i, n in enumerate(nodes) if n.layer == layer and n.kind == kind][s : s + per_pass]
        for layer in range(n_layers)
        for kind in ("head", "mlp", "resid")
        for s in range(0, len(nodes), per_pass)
    ]
    return [g for g in groups if g]


def _new_resid_post(
    block: nn.Module,
    cache: ActivationCache,
    group: list[Node],
    values: dict[str, Tensor],
    pos: Tensor,
) -> Float[Tensor, "node batch d_model"]:
    """The residual stream after the node's block at the node's position, with it ablated."""
    layer, kind = group[0].layer, group[0].kind
    value = values[group[0].hook]
    if kind == "resid":
        return value[pos][:, None].expand(-1, cache[f"blocks.{layer}.hook_resid_mid"].shape[0], -1)
    mid = cache[f"blocks.{layer}.hook_resid_mid"][:, pos].transpose(0, 1)  # [node, batch, d]
    if kind == "mlp":
        return mid + value[pos][:, None]
    head = torch.tensor([n.head for n in group])
    z = cache[f"blocks.{layer}.attn.hook_z"][:, pos, head].transpose(0, 1)  # [node, batch, dh]
    w_o = block.attn.W_O[head]  # type: ignore[union-attr,index]  # [node, d_head, d_model]
    mid = mid + torch.einsum("nbe,ned->nbd", value[pos, head][:, None] - z, w_o)
    return mid + block.mlp(block.ln2(mid))  # type: ignore[operator]


def ablate(
    model: Transformer,
    task: SequenceTask,
    batch: Batch,
    nodes: list[Node],
    mode: Mode = "mean",
    *,
    max_rows: int = 2048,  # ~2 nodes x 1,000 questions a pass: fastest on this CPU (cache-sized)
    progress: bool = False,
    prune: bool = True,
    local: bool = True,
) -> AblationResult:
    """Ablate each node in turn (mean over ``batch``, or zero) and score every answer digit."""
    if mode not in ("mean", "zero"):
        raise ValueError(f"mode must be 'mean' or 'zero', got {mode!r}")
    values = ablation_values(model, batch.inputs, nodes, mode)
    with torch.inference_mode():
        clean_ok, clean_loss = answer_scores(task, model(batch.inputs), batch.targets)
    n_layers = model.cfg.n_layers
    computed = [not prune or can_change_answer(n, task, n_layers) for n in nodes]
    todo = [n for n, c in zip(nodes, computed, strict=True) if c]
    correct = clean_ok.expand(len(nodes), *clean_ok.shape).clone()
    loss = clean_loss.expand(len(nodes), *clean_loss.shape).clone()
    if todo:
        ok, q_loss = run_ablations(
            model, task, batch, todo, values, local=local, max_rows=max_rows, progress=progress
        )
        rows = torch.tensor([i for i, c in enumerate(computed) if c])
        correct[rows], loss[rows] = ok, q_loss
    names, q_class = class_index(task, batch)
    return AblationResult(
        nodes=nodes,
        mode=mode,
        correct=correct,
        loss=loss,
        clean_correct=clean_ok,
        clean_loss=clean_loss,
        computed=computed,
        answer_names=task.answer_names,
        class_names=names,
        question_class=q_class,
    )


def node_ablation(
    model: Transformer,
    task: SequenceTask,
    batch: Batch,
    mode: Mode = "mean",
    kinds: tuple[Kind, ...] = ("head", "mlp"),
    **kw: object,
) -> AblationResult:
    """Every head (``hook_z``) and MLP (``hook_mlp_out``) at every position, ablated alone."""
    return ablate(model, task, batch, model_nodes(model, task.n_ctx, kinds), mode, **kw)  # type: ignore[arg-type]


def position_ablation(
    model: Transformer, task: SequenceTask, batch: Batch, mode: Mode = "mean", **kw: object
) -> AblationResult:
    """The residual stream after each layer (``hook_resid_post``) at each position, ablated."""
    return ablate(model, task, batch, model_nodes(model, task.n_ctx, ("resid",)), mode, **kw)  # type: ignore[arg-type]


def useful_heads(
    model: Transformer,
    task: SequenceTask,
    questions: int = 1000,
    threshold: float = 0.01,
    seed: int = 0,
) -> list[tuple[int, int]]:
    """The heads ``(layer, head)`` whose mean ablation at some position adds failures in more
    than ``threshold`` of ``questions`` training questions: the heads a model needs (the
    papers' ins2 re-copies the inserted ones)."""
    batch = task.sample(questions, torch.Generator().manual_seed(seed)).to(model_device(model))
    res = node_ablation(model, task, batch, "mean", kinds=("head",))
    rates = res.extra_failure_rate().tolist()
    useful = {(n.layer, n.head) for n, r in zip(res.nodes, rates, strict=True) if r > threshold}
    return sorted((layer, head) for layer, head in useful if head is not None)
