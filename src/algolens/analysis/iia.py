"""Interchange-intervention accuracy (IIA): does the network hold a hypothesis's variable where
the alignment says, and use it the way the high-level model does?

For base/source question pairs whose variable differs and whose counterfactual answer (the
high-level model run on the base with the source's value, :meth:`Hypothesis.counterfactual`)
differs from the base's answer, the aligned activation is patched from the source run into the
base run. A pair is a hit when the patched network's whole answer is the counterfactual answer
(Geiger et al. 2021; Geiger et al. 2024, "Finding Alignments Between Interpretable Causal
Variables and Distributed Neural Representations"). The answer is read teacher-forced on the
counterfactual tokens: every answer position's argmax equals its counterfactual token exactly
when greedy decoding would produce the counterfactual answer, so one forward pass decides.

Pairs are drawn so that the patch must change the answer: the answer that ignores the patch
(the base's) never equals the counterfactual, its baseline IIA is 0 and is reported as
measured. Counts come with Clopper-Pearson intervals
(:func:`algolens.verify.stats.clopper_pearson`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor

from algolens.analysis.hypothesis import Alignment, Hypothesis
from algolens.analysis.interventions import Patch, Site, activations, run_patched
from algolens.analysis.nodes import Node, can_change_answer, model_nodes
from algolens.tasks.base import Batch, SequenceTask
from algolens.verify.stats import clopper_pearson

Sampler = Callable[[int, torch.Generator], Batch]


def is_sequence(task: Any) -> bool:
    """True when the answer is the end of the token sequence (read teacher-forced); False for a
    task whose answers are read at fixed positions of the input alone (LEGO, modular addition)."""
    return hasattr(task, "answer_start")


def forced(task: Any, base: Tensor, answer: Tensor) -> Tensor:
    """The base tokens with ``answer`` in the answer positions (a sequence task), else the base
    itself: one forward pass then reads whether greedy decoding would give ``answer``."""
    if not is_sequence(task):
        return base
    if bool((answer < 0).any()):
        raise ValueError("a sequence task's counterfactual answer must give every token")
    tokens = base.clone()
    tokens[:, task.answer_start : task.answer_start + answer.shape[1]] = answer.to(base.device)
    return tokens


def matches(predicted: Tensor, answer: Tensor) -> Tensor:
    """Per row, True when every answer token the hypothesis gives (``>= 0``; ``-1`` leaves a
    token free) is predicted."""
    answer = answer.to(predicted.device)
    return ((predicted == answer) | (answer < 0)).all(-1)


def _changes(cf: tuple[int, ...], answer: list[int]) -> bool:
    return any(c >= 0 and c != a for c, a in zip(cf, answer, strict=True))


class InertVariable(ValueError):
    """No pair changes the answer through the variable: there is nothing to patch (addition's
    SS0, "column 0 sums to 9", matters only with a carry into column 0, which never comes)."""


@dataclass
class Pairs:
    """Base/source pairs for one variable, with the counterfactual answer of each."""

    variable: str
    kind: str  # "random", or a targeted distribution ("cascade", "borrow_chain", ...)
    base: Int[Tensor, "pair n_ctx"]  # base questions with their own answers
    source: Int[Tensor, "pair n_ctx"]  # source questions with their own answers
    counterfactual: Int[Tensor, "pair n_answer"]  # -1: a token the hypothesis leaves free
    drawn: int  # candidate pairs drawn to find these (the rest left the answer unchanged)
    base_answer: Int[Tensor, "pair n_answer"]  # the bases' own answers

    def __len__(self) -> int:
        return len(self.base)

    def first(self, k: int) -> Pairs:
        """The first ``k`` pairs."""
        return dataclasses.replace(
            self,
            base=self.base[:k],
            source=self.source[:k],
            counterfactual=self.counterfactual[:k],
            base_answer=self.base_answer[:k],
        )


@dataclass
class IIAResult:
    """Hits out of pairs for one variable at one alignment, and the ignore-the-patch baseline."""

    variable: str
    alignment: str
    kind: str
    pairs: int
    hits: int
    baseline: float  # share of pairs whose base answer already is the counterfactual
    confidence: float = 0.95

    @property
    def iia(self) -> float:
        return self.hits / self.pairs if self.pairs else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return clopper_pearson(self.hits, self.pairs, self.confidence) if self.pairs else (0, 1)

    def to_json(self) -> dict[str, Any]:
        lo, hi = self.interval
        return {
            "variable": self.variable,
            "alignment": self.alignment,
            "kind": self.kind,
            "pairs": self.pairs,
            "hits": self.hits,
            "iia": round(self.iia, 6),
            "interval": [round(lo, 6), round(hi, 6)],
            "baseline": self.baseline,
        }


def draw_pairs(
    hyp: Hypothesis,
    name: str,
    sample: Sampler,
    n: int,
    generator: torch.Generator,
    *,
    kind: str = "random",
    max_rounds: int = 40,
) -> Pairs:
    """``n`` independent base/source pairs (fewer if ``max_rounds`` rounds of draws do not find
    them) where ``name`` differs and the counterfactual changes the base's answer;
    :class:`InertVariable` when a first round of draws finds none."""
    hyp.variable(name)
    base_rows: list[Tensor] = []
    source_rows: list[Tensor] = []
    cf_rows: list[tuple[int, ...]] = []
    answer_rows: list[list[int]] = []
    drawn = 0
    for _ in range(max_rounds):
        rate = len(cf_rows) / drawn if drawn and cf_rows else 0.5  # the share kept so far
        m = max(int(1.2 * (n - len(cf_rows)) / rate), 256)
        base, source = sample(m, generator), sample(m, generator)
        drawn += m
        answers = base.targets.reshape(m, -1).tolist()
        for i, (qb, qs) in enumerate(zip(hyp.questions(base), hyp.questions(source), strict=True)):
            vs = hyp.values(qs)[name]
            if hyp.values(qb)[name] == vs:
                continue
            cf = hyp.run(qb, {name: vs})
            if _changes(cf, answers[i]):
                answer_rows.append(answers[i])
                base_rows.append(base.inputs[i])
                source_rows.append(source.inputs[i])
                cf_rows.append(cf)
                if len(cf_rows) == n:
                    break
        if len(cf_rows) == n or not cf_rows:  # none in a whole round: stop drawing
            break
    if not cf_rows:
        raise InertVariable(f"no pair in {drawn} draws changes the answer through {name}")
    return Pairs(
        name,
        kind,
        torch.stack(base_rows),
        torch.stack(source_rows),
        torch.tensor(cf_rows, dtype=torch.long),
        drawn,
        torch.tensor(answer_rows, dtype=torch.long),
    )


def alignment_sites(alignment: Alignment) -> tuple[Site, ...]:
    """The sites of a node or node-set alignment (a subspace alignment carries its basis, which
    distributed alignment search learns: build its :class:`Site` with the basis instead)."""
    if alignment.rank is not None:
        raise ValueError(f"{alignment.name} is a subspace: pass its Site with the learned basis")
    return tuple(Site.parse(n) for n in alignment.nodes)


@torch.inference_mode()
def iia_many(
    model: Any,
    task: SequenceTask,
    pairs: Pairs,
    site_sets: list[tuple[Site, ...]],
    *,
    max_rows: int = 16384,
    confidence: float = 0.95,
) -> list[IIAResult]:
    """IIA of each site set on the same pairs, the patches stacked along the batch axis."""
    cf = pairs.counterfactual.to(pairs.base.device)
    tokens = forced(task, pairs.base, cf)  # teacher-forced on the counterfactual answer
    baseline = float(matches(pairs.base_answer, cf).double().mean())
    unique = tuple(dict.fromkeys(s for sites in site_sets for s in sites))
    values = dict(zip(unique, activations(model, pairs.source, unique), strict=True))
    patches = [Patch(sites, tuple(values[s] for s in sites)) for sites in site_sets]

    def readout(logits: Tensor) -> Tensor:
        return task.answer_logits(logits).argmax(-1)

    got = run_patched(model, tokens, patches, readout=readout, max_rows=max_rows)
    hits = matches(got, cf).sum(-1).tolist()  # [site set]
    return [
        IIAResult(
            pairs.variable,
            "+".join(s.name for s in sites),
            pairs.kind,
            len(pairs),
            int(h),
            baseline,
            confidence,
        )
        for sites, h in zip(site_sets, hits, strict=True)
    ]


def iia(model: Any, task: SequenceTask, pairs: Pairs, sites: tuple[Site, ...]) -> IIAResult:
    """IIA of one alignment (a node, a node set, or subspaces given as sites)."""
    return iia_many(model, task, pairs, [sites])[0]


def candidate_nodes(model: Any, task: SequenceTask, hyp: Hypothesis, pairs: Pairs) -> list[Node]:
    """Heads and MLPs that could hold the variable: at the positions it names
    (:attr:`Variable.at`), else at or after the last question token it reads and at or before
    the last position predicting an answer token it changes; and able to change an answer at
    all (:func:`~algolens.analysis.nodes.can_change_answer`). Never the residual stream after
    the last layer: that is the readout, and patching it sets the answer read there whatever
    the model computed (a model that only reads the answer off would seem to hold the last
    variable of a chain)."""
    variable = hyp.variable(pairs.variable)
    last = model.cfg.n_layers - 1
    nodes = [
        n
        for n in model_nodes(model, task.n_ctx, hyp.kinds)  # type: ignore[arg-type]
        if not (n.kind == "resid" and n.layer == last)
    ]
    if variable.at:
        return [n for n in nodes if n.pos in variable.at]
    if not is_sequence(task):
        raise ValueError(f"variable {variable.name}: a task read at fixed positions needs `at`")
    lo = max(variable.reads, default=0)
    changed = (pairs.counterfactual != pairs.base_answer).any(0)
    hi = task.answer_start - 1 + int(changed.nonzero().max())
    layers = model.cfg.n_layers
    return [n for n in nodes if lo <= n.pos <= hi and can_change_answer(n, task, layers)]


def search(
    model: Any,
    task: SequenceTask,
    hyp: Hypothesis,
    pairs: Pairs,
    candidates: list[Node] | None = None,
    *,
    screen: int = 200,
    keep: int = 8,
    **kw: Any,
) -> list[IIAResult]:
    """IIA at each candidate node (all plausible heads and MLPs by default), best first.

    With more than ``keep`` candidates and more than ``screen`` pairs, every candidate is first
    screened on the first ``screen`` pairs and only the best ``keep`` are measured on all of
    them (each result says how many pairs it had): the search of a 3-layer model has over a
    hundred candidates, most of them near 0."""
    nodes = candidates if candidates is not None else candidate_nodes(model, task, hyp, pairs)
    if len(nodes) > keep and len(pairs) > screen:
        first = iia_many(model, task, pairs.first(screen), [(Site(n),) for n in nodes], **kw)
        order = sorted(range(len(nodes)), key=lambda i: (-first[i].hits, nodes[i].name))
        best = [nodes[i] for i in order[:keep]]
        full = iia_many(model, task, pairs, [(Site(n),) for n in best], **kw)
        results = full + [first[i] for i in order[keep:]]
    else:
        results = iia_many(model, task, pairs, [(Site(n),) for n in nodes], **kw)
    return sorted(results, key=_rank)


def _rank(r: IIAResult) -> tuple[float, int, str]:
    """Best IIA first; on a tie the narrower node (a head, an MLP, then a whole residual
    stream, which holds everything the position knows) and then the name."""
    kind = Node.parse(r.alignment).kind
    return (-r.iia, ("head", "mlp", "mid", "resid").index(kind), r.alignment)


def grow_set(
    model: Any,
    task: SequenceTask,
    hyp: Hypothesis,
    pairs: Pairs,
    candidates: list[Node] | None = None,
    *,
    max_size: int = 3,
    min_gain: float = 0.01,
) -> list[IIAResult]:
    """Greedy node-set search: the best node, then the node whose addition raises IIA most, while
    it rises by more than ``min_gain``; the best set of each size. A variable that the model
    computes again at each position that uses it (a carry read by several answer digits) needs
    a set: no single node can change answers predicted at earlier positions."""
    nodes = candidates if candidates is not None else candidate_nodes(model, task, hyp, pairs)
    chosen: list[Node] = []
    out: list[IIAResult] = []
    while len(chosen) < max_size:
        rest = [n for n in nodes if n not in chosen]
        if not rest:
            break
        sets = [tuple(Site(n) for n in [*chosen, extra]) for extra in rest]
        results = iia_many(model, task, pairs, sets)
        k = max(range(len(rest)), key=lambda i: results[i].hits)
        if out and results[k].iia <= out[-1].iia + min_gain:
            break
        chosen.append(rest[k])
        out.append(results[k])
    return out


def untrained_like(model: Any) -> Any:
    """A fresh model of the same configuration (its seeded initial weights): a negative control
    that holds no variable anywhere."""
    fresh = type(model)(model.cfg)
    fresh.to(next(model.parameters()).device)
    return fresh.eval()


def neighbour(node: Node, n_ctx: int) -> Node:
    """The same head or MLP one position earlier (later at P0): in the papers' staircase, the
    node that works on the next column, a wrong alignment for a negative control."""
    pos = node.pos - 1 if node.pos > 0 else min(node.pos + 1, n_ctx - 1)
    return Node(pos, node.layer, node.kind, node.head)


@dataclass
class VariableIIA:
    """One variable measured: the search over nodes, IIA at the best node per pair kind, and the
    two negative controls (an untrained model, a node of another column) on random pairs."""

    variable: str
    search: list[IIAResult]  # every candidate node on the search pairs, best first
    results: list[IIAResult]  # the best node on fresh pairs, one per pair kind
    untrained: IIAResult
    wrong: IIAResult

    @property
    def best(self) -> str:
        return self.search[0].alignment

    def to_json(self) -> dict[str, Any]:
        return {
            "variable": self.variable,
            "best": self.best,
            "search": [r.to_json() for r in self.search],
            "iia": [r.to_json() for r in self.results],
            "untrained": self.untrained.to_json(),
            "wrong": self.wrong.to_json(),
        }


def measure_variable(
    model: Any,
    task: SequenceTask,
    hyp: Hypothesis,
    name: str,
    samplers: dict[str, Sampler],
    *,
    pairs: int = 10_000,
    search_pairs: int = 1_000,
    control_pairs: int = 2_000,
    targeted_pairs: int | None = None,
    seed: int = 0,
) -> VariableIIA:
    """Search the candidate nodes on ``search_pairs`` random pairs, then measure the best one on
    ``pairs`` fresh random pairs and ``targeted_pairs`` (default ``pairs``) of each other kind
    in ``samplers`` (which holds ``'random'``), and the negative controls on the first
    ``control_pairs`` of the random pairs."""
    if "random" not in samplers:
        raise ValueError("samplers must hold 'random' (the controls run on random pairs)")
    gen = torch.Generator().manual_seed(seed)
    found = search(model, task, hyp, draw_pairs(hyp, name, samplers["random"], search_pairs, gen))
    node = Node.parse(found[0].alignment)
    results = []
    for kind, sample in samplers.items():
        count = pairs if kind == "random" or targeted_pairs is None else targeted_pairs
        fresh = draw_pairs(hyp, name, sample, count, gen, kind=kind)
        results.append(iia(model, task, fresh, (Site(node),)))
        if kind == "random":
            random_pairs = fresh.first(control_pairs)
    untrained = iia(untrained_like(model), task, random_pairs, (Site(node),))
    untrained.alignment += " (untrained)"
    wrong = iia(model, task, random_pairs, (Site(neighbour(node, task.n_ctx)),))
    return VariableIIA(name, found, results, untrained, wrong)
