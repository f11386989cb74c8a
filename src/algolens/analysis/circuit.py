"""Circuits: a set of nodes that is sufficient (all else ablated, it still verifies) and minimal.

A :class:`Circuit` is a set of nodes (heads and MLPs at positions, as in
:mod:`algolens.analysis.nodes`) and, where path patching measured them, edges between them.

*Sufficiency*: every node outside the circuit is mean-ablated (its activation at its position
replaced by the mean over reference questions; or resampled from another question), and what is
left is verified as a model (:class:`CircuitModel`, a model the verification engine checks like
any other): failures per million with intervals, classes and digits. *Minimality*: for each
circuit node, the failure rate when it is ablated as well; a node whose removal changes nothing
is not needed. This is the sufficiency and minimality test of circuit analyses (Wang et al. 2023,
"Interpretability in the Wild"; Quirke, Neo & Barez 2024 "Increasing Trust in Language Models
through the Reuse of Verified Circuits").

The verifier is an argument: :func:`sufficiency` takes ``algolens.verify.verify`` (a floor
below) or a stand-in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import torch
from jaxtyping import Bool, Int
from torch import Tensor, nn

from algolens.analysis.ablation import AblationResult, ablation_values, node_ablation
from algolens.analysis.nodes import Node, can_change_answer, model_nodes
from algolens.tasks.base import SequenceTask
from algolens.verify.stats import clopper_pearson

AblateMode = Literal["mean", "resample"]
Masks = dict[str, Tensor]  # hook -> [variant, pos] (MLP) or [variant, pos, head] (heads)


@dataclass(frozen=True)
class Circuit:
    """Nodes (sorted as the model lists them) and measured edges ``(sender, receiver, effect)``."""

    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str, float], ...] = ()

    @classmethod
    def of(cls, names: list[str] | tuple[str, ...]) -> Circuit:
        """``Circuit.of(['P8.L0.H1', 'P15.L1.MLP'])``."""
        return cls(tuple(Node.parse(n) for n in names))

    @classmethod
    def from_ablation(cls, res: AblationResult, threshold: float = 0.01) -> Circuit:
        """The nodes whose mean ablation alone adds failures in more than ``threshold`` of the
        questions: the useful nodes of the node-ablation table."""
        rates = res.extra_failure_rate().tolist()
        return cls(tuple(n for n, r in zip(res.nodes, rates, strict=True) if r > threshold))

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def without(self, node: Node) -> Circuit:
        return Circuit(tuple(n for n in self.nodes if n != node), self.edges)

    def with_node(self, node: Node) -> Circuit:
        """The circuit and ``node``, in the model's order (position, layer, heads, MLP)."""
        key = (node.pos, node.layer, node.kind != "head", node.head or 0)
        order = [(n.pos, n.layer, n.kind != "head", n.head or 0) for n in self.nodes]
        at = sum(1 for o in order if o < key)
        return Circuit((*self.nodes[:at], node, *self.nodes[at:]), self.edges)


def all_nodes(model: Any, task: SequenceTask) -> list[Node]:
    """Every head and MLP at every position: what a circuit is a subset of."""
    return model_nodes(model, task.n_ctx, ("head", "mlp"))


def ablation_masks(model: Any, task: SequenceTask, keep: list[Circuit]) -> Masks:
    """Per hook point, ``[variant, pos(, head)]``: True where variant ``v`` ablates the node
    (every head and MLP outside ``keep[v]``)."""
    cfg = model.cfg
    masks: Masks = {}
    for layer in range(cfg.n_layers):
        heads = torch.ones(len(keep), task.n_ctx, cfg.n_heads, dtype=torch.bool)
        mlp = torch.ones(len(keep), task.n_ctx, dtype=torch.bool)
        for v, circuit in enumerate(keep):
            for n in circuit.nodes:
                if n.layer == layer and n.kind == "head":
                    heads[v, n.pos, n.head] = False
                elif n.layer == layer and n.kind == "mlp":
                    mlp[v, n.pos] = False
        masks[f"blocks.{layer}.attn.hook_z"] = heads
        masks[f"blocks.{layer}.hook_mlp_out"] = mlp
    return masks


def _hook(mask: Tensor, value: Tensor, pos: Tensor, per_question: bool) -> Callable[..., Tensor]:
    """Overwrite the masked nodes of each variant's chunk of the batch with ``value``.

    ``value`` is ``[pos, ...]`` (a mean) or ``[batch, pos, ...]`` (resampled, per question).
    """
    m = mask[:, pos]  # [variant, P(, head)]
    v = value[:, pos] if per_question else value[pos]
    where = m.view(m.shape[0], 1, *m.shape[1:], 1)  # [variant, 1, P(, head), 1]

    def hook(act: Tensor, hook: object) -> Tensor:
        view = act.reshape(m.shape[0], -1, *act.shape[1:])  # [variant, batch, P(, head), d]
        return torch.where(where, v.to(act), view).reshape(act.shape)

    return hook


class CircuitModel(nn.Module):
    """``model`` with every node outside ``circuit`` ablated: a model verification can check.

    ``mode`` ``mean``: each ablated node takes its mean over ``reference`` questions;
    ``resample``: its activation on a reference question picked by a hash of the question's
    tokens (so the same question always gets the same source, whatever the batching).
    It has the model's readout path (the last layer at the answer positions only). With
    several circuits, every batch is repeated once per circuit (stacked along the batch axis).
    """

    supports_readout = True

    def __init__(
        self,
        model: Any,
        task: SequenceTask,
        circuits: Circuit | list[Circuit],
        reference: Int[Tensor, "ref n_ctx"],
        mode: AblateMode = "mean",
        seed: int = 0,
        means: dict[str, Tensor] | None = None,
    ) -> None:
        super().__init__()
        if mode not in ("mean", "resample"):
            raise ValueError(f"mode must be 'mean' or 'resample', got {mode!r}")
        self.model, self.mode = model, mode
        self.variants = circuits if isinstance(circuits, list) else [circuits]
        self.masks = ablation_masks(model, task, self.variants)
        self.question_len = task.answer_start
        if mode == "mean":
            self.values = means or reference_means(model, task, reference)
        else:
            gen = torch.Generator().manual_seed(seed)
            self.reference = reference
            self.mix = torch.randint(1, 2**31, (self.question_len,), generator=gen)

    @property
    def cfg(self) -> Any:
        return self.model.cfg

    def _values(self, tokens: Tensor) -> dict[str, Tensor]:
        if self.mode == "mean":
            return self.values
        key = tokens[:, : self.question_len].long().cpu() @ self.mix
        source = self.reference[key % len(self.reference)][:, : tokens.shape[1]]
        with torch.no_grad():
            _, cache = self.model.run_with_cache(source, names_filter=self.masks.__contains__)
        return {name: cache[name] for name in self.masks}

    def hooks(self, tokens: Tensor, readout: slice | None) -> list[tuple[str, Callable]]:
        """The forward hooks that ablate every variant's outside nodes on ``tokens``."""
        values = self._values(tokens)
        n_pos, last = tokens.shape[1], self.cfg.n_layers - 1
        out = []
        for name, mask in self.masks.items():
            pos = torch.arange(n_pos)
            if readout is not None and name.startswith(f"blocks.{last}."):
                pos = pos[readout]
            out.append((name, _hook(mask, values[name], pos, self.mode == "resample")))
        return out

    def forward(self, tokens: Tensor, *, readout: slice | None = None) -> Tensor:
        """The logits with the ablations; ``tokens`` is repeated once per circuit variant."""
        hooks = self.hooks(tokens, readout)
        stacked = tokens.repeat(len(self.variants), 1)
        with self.model.hooks(fwd_hooks=hooks):
            return self.model(stacked, readout=readout)  # type: ignore[no-any-return]


def reference_means(model: Any, task: SequenceTask, reference: Tensor) -> dict[str, Tensor]:
    """Every head's and MLP's mean output per position over ``reference`` questions."""
    return ablation_values(model, reference, all_nodes(model, task), "mean")


def node_counts(model: Any, task: SequenceTask, circuit: Circuit) -> dict[str, int]:
    """The circuit's nodes against the model's: all heads and MLPs at all positions, and those
    that can reach an answer at all (causality alone rules out the others)."""
    every = all_nodes(model, task)
    reach = [n for n in every if can_change_answer(n, task, model.cfg.n_layers)]
    return {"circuit": len(circuit.nodes), "model": len(every), "model_reachable": len(reach)}


@dataclass
class Sufficiency:
    """The circuit alone, verified: one verification result (as JSON) per distribution."""

    circuit: list[str]
    counts: dict[str, int]
    mode: AblateMode
    results: dict[str, dict[str, Any]]
    max_failures_per_million: float  # the verdict's threshold, on every distribution

    @property
    def sufficient(self) -> bool:
        return all(
            r["failures_per_million"] <= self.max_failures_per_million
            for r in self.results.values()
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "sufficient": self.sufficient}


def sufficiency(
    model: Any,
    task: SequenceTask,
    circuit: Circuit,
    check: Callable[..., Any],
    reference: Tensor,
    *,
    questions: int = 100_000,
    distributions: tuple[str, ...] = ("uniform", "training"),
    mode: AblateMode = "mean",
    seed: int = 0,
    max_failures_per_million: float = 1000.0,
    **check_kw: Any,
) -> Sufficiency:
    """Verify the circuit alone on ``questions`` of each distribution.

    ``check`` is the verification engine, :func:`algolens.verify.verify` (called as
    ``check(circuit_model, task, questions=, distribution=, seed=, **check_kw)`` and returning
    an object with ``to_dict()``); ``reference`` are the questions means are taken over.
    """
    ablated = CircuitModel(model, task, circuit, reference, mode, seed).eval()
    results = {
        d: check(ablated, task, questions=questions, distribution=d, seed=seed, **check_kw)
        for d in distributions
    }
    return Sufficiency(
        circuit=circuit.names,
        counts=node_counts(model, task, circuit),
        mode=mode,
        results={d: r.to_dict() for d, r in results.items()},
        max_failures_per_million=max_failures_per_million,
    )


@dataclass
class Minimality:
    """Per circuit node: failures among ``questions`` when it is ablated as well."""

    nodes: list[str]
    questions: int
    circuit_failures: int  # with the whole circuit kept
    failures: list[int]
    min_effect: float = 0.001  # a node is needed if its removal adds failures above this rate
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rows = [self._row(name, f) for name, f in zip(self.nodes, self.failures, strict=True)]

    def _row(self, name: str, fails: int) -> dict[str, Any]:
        lo, hi = clopper_pearson(fails, self.questions)
        added = (fails - self.circuit_failures) / self.questions
        return {"node": name, "failures": fails, "failure_rate": fails / self.questions,
                "interval": [lo, hi], "needed": added > self.min_effect}  # fmt: skip

    @property
    def unneeded(self) -> list[str]:
        return [r["node"] for r in self.rows if not r["needed"]]

    @property
    def minimal(self) -> bool:
        return not self.unneeded

    def to_dict(self) -> dict[str, Any]:
        keys = ("questions", "circuit_failures", "min_effect")
        return {**{k: getattr(self, k) for k in keys}, "minimal": self.minimal, "nodes": self.rows}


@torch.inference_mode()
def circuit_failures(
    ablated: CircuitModel, task: SequenceTask, tokens: Tensor, targets: Tensor,
    max_rows: int = 4096,
) -> Bool[Tensor, "variant batch"]:  # fmt: skip
    """Per variant and question: does any answer token differ from the target."""
    out = []
    chunk = max(1, max_rows // len(ablated.variants))
    for s in range(0, len(tokens), chunk):
        t = tokens[s : s + chunk]
        logits = ablated(t[:, :-1], readout=task.readout)  # the last token predicts nothing
        pred = logits.view(len(ablated.variants), len(t), *logits.shape[1:]).argmax(-1)
        out.append((pred != targets[s : s + chunk]).any(-1))
    return torch.cat(out, 1)


@dataclass
class Failures:
    """How many of ``tokens`` each circuit variant answers wrong (against ``targets``), every
    node outside it ablated from the ``reference`` questions (``mode``), all variants in one
    stacked pass per chunk of questions: what :func:`minimality` and :func:`grow` count."""

    model: Any
    task: SequenceTask
    tokens: Tensor
    targets: Tensor
    reference: Tensor
    mode: AblateMode = "mean"

    @cached_property
    def means(self) -> dict[str, Tensor] | None:
        """The reference means, computed once (mean mode)."""
        if self.mode != "mean":
            return None
        return reference_means(self.model, self.task, self.reference)

    def __call__(self, variants: list[Circuit]) -> list[int]:
        model, task = self.model, self.task
        ablated = CircuitModel(model, task, variants, self.reference, self.mode, means=self.means)
        fails = circuit_failures(ablated.eval(), task, self.tokens, self.targets)
        return fails.sum(-1).tolist()  # type: ignore[no-any-return]


def minimality(
    model: Any,
    task: SequenceTask,
    circuit: Circuit,
    tokens: Tensor,
    targets: Tensor,
    reference: Tensor,
    mode: AblateMode = "mean",
    min_effect: float = 0.001,
) -> Minimality:
    """Each circuit node ablated on top of the circuit's ablation, on ``tokens`` (all variants
    in one stacked pass per chunk of questions)."""
    variants = [circuit] + [circuit.without(n) for n in circuit.nodes]
    fails = Failures(model, task, tokens, targets, reference, mode)(variants)
    return Minimality(circuit.names, len(tokens), fails[0], fails[1:], min_effect)


def grow(
    failures: Failures, circuit: Circuit, *, max_failure_rate: float = 0.001, max_add: int = 40
) -> tuple[Circuit, list[dict[str, Any]]]:
    """Complete a circuit greedily: while it fails more of the questions (``failures.tokens``)
    than the whole model does, by more than ``max_failure_rate``, keep the outside node whose
    keeping removes the most failures (a question the model itself fails no circuit can fix).

    Nodes that matter alone (:meth:`Circuit.from_ablation`) are often not enough together:
    many nodes that each change little add up when all are ablated at once. Returns the grown
    circuit and, per added node, the failures left after adding it (and the model's own).
    """
    model, task, tokens = failures.model, failures.task, failures.tokens
    reach = [n for n in all_nodes(model, task) if can_change_answer(n, task, model.cfg.n_layers)]
    reach = [n for n in reach if n not in set(circuit.nodes)]
    now, own = failures([circuit, Circuit(tuple(all_nodes(model, task)))])
    added: list[dict[str, Any]] = []
    while now > own + max_failure_rate * len(tokens) and reach and len(added) < max_add:
        fails = failures([circuit.with_node(n) for n in reach])
        best = min(range(len(reach)), key=fails.__getitem__)
        if fails[best] >= now:
            break
        node = reach.pop(best)
        circuit, now = circuit.with_node(node), fails[best]
        added.append({"node": node.name, "failures": now, "model_failures": own,
                      "questions": len(tokens)})  # fmt: skip
    return circuit, added


def find_circuit(
    model: Any,
    task: SequenceTask,
    reference: Tensor,
    *,
    ablation_questions: int = 1000,
    rounds: tuple[tuple[int, int], ...] = ((1000, 2), (4000, 4)),
    threshold: float = 0.01,
    start: tuple[Node, ...] = (),
) -> tuple[Circuit, list[dict[str, Any]]]:
    """The useful nodes of the node-ablation table (mean ablation alone adds failures in more
    than ``threshold`` of ``ablation_questions`` training questions) and the ``start`` nodes (a
    hypothesis's aligned nodes), then grown by :func:`grow` until no failure is left on each
    round's (questions, seed): the circuit, and what growing added (as :func:`grow` reports
    it)."""
    batch = task.sample(ablation_questions, torch.Generator().manual_seed(0))
    circuit = Circuit.from_ablation(node_ablation(model, task, batch, "mean"), threshold)
    for node in start:
        circuit = circuit if node in circuit.nodes else circuit.with_node(node)
    added: list[dict[str, Any]] = []
    for n, seed in rounds:
        q = task.sample_independent(n, torch.Generator().manual_seed(seed))
        failures = Failures(model, task, q.inputs, q.targets, reference)
        circuit, more = grow(failures, circuit, max_failure_rate=0)
        added += more
    return circuit, added
