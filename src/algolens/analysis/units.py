"""Analyses as composable units: each computes a JSON result, turns it into claims that can fail,
and lays it out as report sections (drawing only, from the JSON, so a saved result re-renders).

The generic causal units work on any sequence model over hook names, given the hypothesis its
family declares (:class:`~algolens.analysis.causal.Declared`) and nothing else:

- ``iia``: per variable, the node whose interchange best gives the counterfactual, its IIA on
  random and targeted pairs with intervals, and the negative controls (Geiger et al. 2021);
- ``sets``: for the variables no single node holds, the set of nodes grown greedily whose joint
  interchange best gives the counterfactual, measured on fresh pairs with the same controls;
- ``das``: for the variables no single node holds, a learned low-rank subspace of the residual
  stream at the best positions, and its IIA on held-out pairs (Geiger et al. 2024);
- ``circuit``: the nodes the hypothesis uses and those whose ablation breaks answers, grown until
  the circuit alone answers like the model; verified alone (every other head and MLP
  mean-ablated) beside the model's own verification on the same questions, and each node
  ablated as well (minimality);
- ``edges``: path patching between the circuit's nodes, the arrows of the algorithm map.

:func:`run_units` runs them in order (a later unit reads the earlier ones' results).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from algolens.analysis import causal_sections as draw
from algolens.analysis.causal import Budget, Declared, measure_hypothesis
from algolens.analysis.circuit import AblateMode, Circuit, find_circuit, minimality, sufficiency
from algolens.analysis.claims import Claim, not_applicable
from algolens.analysis.das import Pairs as DasPairs
from algolens.analysis.das import das
from algolens.analysis.iia import (
    IIAResult,
    Pairs,
    Site,
    candidate_nodes,
    draw_pairs,
    grow_set,
    iia,
    neighbour,
    untrained_like,
)
from algolens.analysis.nodes import Node
from algolens.analysis.paths import circuit_edges, reaches
from algolens.analysis.progress import Stages
from algolens.sections import Section
from algolens.tasks.base import SequenceTask

IIA_SOURCE = "Geiger et al. 2021, Causal Abstractions of Neural Networks"
DAS_SOURCE = "Geiger et al. 2024, Finding Alignments Between Interpretable Causal Variables"
CIRCUIT_SOURCE = "circuit sufficiency and minimality (Wang et al. 2022)"


@dataclass
class Context:
    """What a unit computes from: the model and task, the family's declared hypothesis (None:
    the units that need one report why they did not run), the budget, the verification engine,
    and the results of the units before it, by name."""

    model: Any
    task: SequenceTask
    declared: Declared | None
    budget: Budget
    check: Callable[..., Any]  # algolens.verify.verify
    variables: list[str] | None = None
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: Callable[[str], None] = field(default=lambda text: None)  # the progress bar's label
    compare: Compared | None = None  # the model the reuse unit compares circuits with


@dataclass(frozen=True)
class Compared:
    """Another model of the same token layout (a mixed model's addition source, say)."""

    name: str
    model: Any
    task: SequenceTask


class Unit(Protocol):
    """One analysis: ``compute`` gives JSON; ``claims`` and ``sections`` read only that JSON."""

    name: str

    def compute(self, ctx: Context) -> dict[str, Any]: ...

    def claims(self, data: dict[str, Any]) -> list[Claim]: ...

    def sections(self, data: dict[str, Any]) -> list[Section]: ...


@dataclass
class UnitResult:
    unit: str
    data: dict[str, Any]
    claims: list[Claim]
    sections: list[Section]


@dataclass
class Causal:
    """The units' results, in the order they ran: as JSON (``causal.json``), claims, sections."""

    results: list[UnitResult]

    def to_json(self) -> dict[str, Any]:
        return {r.unit: r.data for r in self.results}

    @property
    def claims(self) -> list[Claim]:
        return [c for r in self.results for c in r.claims]

    @property
    def sections(self) -> list[Section]:
        return [s for r in self.results for s in r.sections]

    def __getitem__(self, unit: str) -> dict[str, Any]:
        return self.to_json()[unit]


def run_units(ctx: Context, units: Sequence[Unit], progress: bool = False) -> Causal:
    """Compute each unit in order (each sees the earlier results in ``ctx.done``)."""
    out = []
    with Stages("causal analysis", len(units), progress) as stages:
        ctx.note = lambda text: stages.bar.set_postfix_str(text, refresh=True)
        for unit in units:
            data = stages.run(unit.name, unit.compute, ctx)
            ctx.done[unit.name] = data
            out.append(UnitResult(unit.name, data, unit.claims(data), unit.sections(data)))
    return Causal(out)


def _skipped(why: str) -> dict[str, Any]:
    return {"skipped": why}


# ---- IIA ----------------------------------------------------------------------------------
def held(variable: dict[str, Any], thresholds: dict[str, Any]) -> bool:
    """A variable lives at its node: the random pairs' IIA lower bound reaches the threshold,
    and the untrained copy stays within the margin of the ignore-the-patch baseline."""
    random = next(r for r in variable["iia"] if r["kind"] == "random")
    control = variable["untrained"]
    margin = thresholds["control_margin"]
    return bool(
        random["interval"][0] >= thresholds["iia"]
        and control["iia"] <= control["baseline"] + margin
    )


class IIAUnit:
    name = "iia"

    def compute(self, ctx: Context) -> dict[str, Any]:
        if ctx.declared is None:
            return _skipped("the family declares no hypothesis")
        if not hasattr(ctx.model, "blocks"):
            if ctx.declared.neurons is not None:
                ctx.note("iia: neuron groups")
                return {"groups": ctx.declared.neurons(ctx.model, ctx.budget)}
            return _skipped("the model has no heads or MLP nodes to align a variable to")
        measured = measure_hypothesis(
            ctx.model,
            ctx.task,
            ctx.declared,
            ctx.variables,
            ctx.budget,
            lambda v: ctx.note(f"iia {v}"),
        )
        return measured.to_json()

    def claims(self, data: dict[str, Any]) -> list[Claim]:
        if "groups" in data:
            return [group_claim(data["groups"])]
        claim = "The hypothesis's variables each live at one node (interchange)"
        expected = "IIA lower bound >= {iia} on random pairs, untrained copy at the baseline"
        if "skipped" in data or not data["variables"]:
            why = data.get("skipped", "no variable can be tested")
            return [not_applicable(claim, "", why, IIA_SOURCE)]
        th = data["thresholds"]
        yes = [v["variable"] for v in data["variables"] if held(v, th)]
        no = [v for v in data["variables"] if v["variable"] not in yes]
        weakest = sorted(no, key=lambda v: v["iia"][0]["iia"])[:4]
        pairs = data["variables"][0]["iia"][0]["pairs"]
        measured = f"{len(yes)} of {len(data['variables'])} variables held ({pairs:,} pairs each)"
        if weakest:
            measured += "; weakest: " + ", ".join(
                f"{v['variable']} {v['iia'][0]['iia']:.3f} at {v['best']}" for v in weakest
            )
        return [Claim(claim, expected.format(**th), measured, not no, data["source"])]

    def sections(self, data: dict[str, Any]) -> list[Section]:
        if "groups" in data:
            return draw.group_sections(data["groups"])
        return [] if "skipped" in data else draw.iia_sections(data)


def group_claim(data: dict[str, Any]) -> Claim:
    """A hypothesis measured over groups of neurons (the one-hot MLP's frequency vote): the
    contested pairs' IIA lower bound at the threshold, the untrained copy at the baseline."""
    th, found, control = data["thresholds"], data["contested"], data["untrained"]
    lo, hi = data["contested_share"]
    ok = (
        found["interval"][0] >= th["iia"]
        and control["iia"] <= control["baseline"] + th["control_margin"]
    )
    clear = data["clear"]
    measured = (
        f"contested pairs {found['iia']:.3f} [{found['interval'][0]:.3f}, "
        f"{found['interval'][1]:.3f}] of {found['pairs']:,}; clear pairs {clear['iia']:.3f} "
        f"of {clear['pairs']:,}; untrained {control['iia']:.3f}; "
        f"{len(data['frequencies'])} frequencies"
    )
    return Claim(
        "The neurons' frequencies vote for the answer (interchange of neuron groups)",
        f"IIA lower bound >= {th['iia']} where the swapped groups hold {lo:.0%}-{hi:.0%} of the "
        "vote, untrained copy at the baseline",
        measured,
        bool(ok),
        data["source"],
    )


# ---- node sets ----------------------------------------------------------------------------
def set_variable(ctx: Context, name: str, single: float) -> dict[str, Any]:
    """A node set for one variable: grown on ``search_pairs`` random pairs (the best node, then
    the node that raises IIA most, up to ``set_size``), then measured on fresh random and
    targeted pairs, with the same set in an untrained copy and every node one position over."""
    b, declared = ctx.budget, ctx.declared
    assert declared is not None
    hyp, samplers = declared.hypothesis, declared.samplers
    gen = torch.Generator().manual_seed(b.seed + 3)
    search = draw_pairs(hyp, name, samplers["random"], b.search_pairs, gen)
    steps = grow_set(ctx.model, ctx.task, hyp, search, max_size=b.set_size)
    nodes = [Node.parse(n) for n in steps[-1].alignment.split("+")]
    sites = tuple(Site(n) for n in nodes)
    results: list[IIAResult] = []
    for kind, sample in samplers.items():
        count = b.pairs if kind == "random" else b.targeted_pairs
        fresh = draw_pairs(hyp, name, sample, count, gen, kind=kind)
        results.append(iia(ctx.model, ctx.task, fresh, sites))
        if kind == "random":
            controls = fresh.first(b.control_pairs)
    wrong = tuple(Site(neighbour(n, ctx.task.n_ctx)) for n in nodes)
    return {
        "variable": name,
        "single_node_iia": single,
        "set": [n.name for n in nodes],
        "steps": [r.to_json() for r in steps],
        "iia": [r.to_json() for r in results],
        "untrained": iia(untrained_like(ctx.model), ctx.task, controls, sites).to_json(),
        "wrong": iia(ctx.model, ctx.task, controls, wrong).to_json(),
    }


class SetsUnit:
    """Node sets for the variables no single node holds (a set is an alignment as much as a
    node: a carry that each answer digit reads anew lives at several positions at once)."""

    name = "sets"

    def compute(self, ctx: Context) -> dict[str, Any]:
        iia_data = ctx.done.get("iia", {})
        if ctx.declared is None or "variables" not in iia_data:
            return _skipped("needs the iia unit's per-node results")
        rows = each_unheld(ctx, iia_data, "sets", set_variable)
        return {"thresholds": iia_data["thresholds"], "variables": rows}

    def claims(self, data: dict[str, Any]) -> list[Claim]:
        claim = "Variables no single node holds live at a set of nodes (joint interchange)"
        if "skipped" in data or not data["variables"]:
            why = data.get("skipped", "every variable is held by one node")
            return [not_applicable(claim, "", why, IIA_SOURCE)]
        th = data["thresholds"]
        measured = "; ".join(
            f"{v['variable']} {v['iia'][0]['iia']:.3f} at {'+'.join(v['set'])} "
            f"(one node {v['single_node_iia']:.3f}; untrained {v['untrained']['iia']:.3f})"
            for v in data["variables"]
        )
        expected = f"IIA lower bound >= {th['iia']} on random pairs, untrained at the baseline"
        ok = all(held(v, th) for v in data["variables"])
        return [Claim(claim, expected, measured, ok, IIA_SOURCE)]

    def sections(self, data: dict[str, Any]) -> list[Section]:
        return [] if "skipped" in data or not data["variables"] else draw.set_sections(data)


# ---- DAS ----------------------------------------------------------------------------------
def das_candidates(iia: dict[str, Any], limit: int) -> list[str]:
    """The variables no single node holds, the weakest of each kind (``MD3`` and ``MD1`` are
    one kind), weakest kind first, at most ``limit``."""
    th = iia["thresholds"]
    weakest: dict[str, tuple[float, str]] = {}
    for v in iia["variables"]:
        if held(v, th):
            continue
        kind, score = re.sub(r"\d+$", "", v["variable"]), v["iia"][0]["iia"]
        if kind not in weakest or score < weakest[kind][0]:
            weakest[kind] = (score, v["variable"])
    return [name for _, name in sorted(weakest.values())][:limit]


def each_unheld(
    ctx: Context,
    iia: dict[str, Any],
    label: str,
    measure: Callable[[Context, str, float], dict[str, Any]],
) -> list[dict[str, Any]]:
    """``measure(ctx, name, single-node IIA)`` for each variable no single node holds (the
    weakest of each kind, :func:`das_candidates`): what the sets and DAS units both run."""
    single = {v["variable"]: v["iia"][0]["iia"] for v in iia["variables"]}
    rows = []
    for name in das_candidates(iia, ctx.budget.das_variables):
        ctx.note(f"{label} {name}")
        rows.append(measure(ctx, name, single[name]))
    return rows


def residual_locations(ctx: Context, pairs: Pairs) -> list[Node]:
    """The residual stream after each layer but the last (that one is the readout) at every
    position where a node could hold the variable
    (:func:`~algolens.analysis.iia.candidate_nodes`), and between each layer's attention and
    MLP where the hypothesis searches there (``'mid'`` in its kinds) or the model has one layer."""
    hyp = ctx.declared.hypothesis if ctx.declared else None
    assert hyp is not None
    positions = sorted({n.pos for n in candidate_nodes(ctx.model, ctx.task, hyp, pairs)})
    layers = ctx.model.cfg.n_layers
    mid = "mid" in hyp.kinds or layers == 1
    out: list[Node] = []
    for p in positions:
        for layer in range(layers):
            if mid:
                out.append(Node(p, layer, "mid"))
            if layer < layers - 1:
                out.append(Node(p, layer, "resid"))
    return out


def _split(pairs: Pairs, k: int) -> tuple[DasPairs, DasPairs]:
    whole = DasPairs(pairs.base, pairs.source, pairs.counterfactual)
    return whole.rows(slice(0, k)), whole.rows(slice(k, None))


def das_variable(ctx: Context, name: str, single: float) -> dict[str, Any]:
    """DAS for one variable: a short fit (a fifth of the steps) at every residual location, a
    full fit at the ``das_locations`` best on their training pairs, the one best on its
    training pairs kept and its held-out IIA reported; the control fits the same location in
    an untrained copy. (Swapping a location whole is no screen: it also moves the variables of
    the source's other columns, so it scores 0 where a subspace would not.)"""
    b, declared = ctx.budget, ctx.declared
    assert declared is not None
    gen = torch.Generator().manual_seed(b.seed + 1)
    pairs = draw_pairs(
        declared.hypothesis, name, declared.samplers["random"], b.das_pairs + b.control_pairs, gen
    )
    train, test = _split(pairs, min(b.das_pairs, 2 * len(pairs) // 3))  # fewer drawn: 2/3 train
    fit = {"rank": min(b.das_rank, ctx.model.cfg.d_model), "seed": b.seed}
    short = {**fit, "steps": max(1, b.das_steps // 5)}
    screen = [
        das(ctx.model, ctx.task, (n,), train, train, **short)
        for n in residual_locations(ctx, pairs)
    ]
    ranked = sorted(screen, key=lambda r: -r.train_iia)
    fits = [
        das(ctx.model, ctx.task, (Node.parse(r.nodes[0]),), train, test, **fit, steps=b.das_steps)
        for r in ranked[: b.das_locations]
    ]
    best = max(fits, key=lambda r: r.train_iia)  # chosen on training pairs: held-out stays fair
    location = (Node.parse(best.nodes[0]),)
    control = das(untrained_like(ctx.model), ctx.task, location, train, test, **fit,
                  steps=b.das_steps)  # fmt: skip
    return {
        "variable": name,
        "single_node_iia": single,
        "screen": [{"location": r.nodes[0], "train_iia": r.train_iia} for r in ranked],
        "fits": [f.to_dict() for f in fits],
        "best": best.to_dict(),
        "untrained": control.to_dict(),
    }


class DASUnit:
    name = "das"

    def compute(self, ctx: Context) -> dict[str, Any]:
        iia = ctx.done.get("iia", {})
        if ctx.declared is None or "variables" not in iia:
            return _skipped("needs the iia unit's per-node results")
        rows = each_unheld(ctx, iia, "das", das_variable)
        return {
            "threshold": iia["thresholds"]["iia"],
            "variables": rows,
            "margin": iia["thresholds"]["control_margin"],
        }

    def claims(self, data: dict[str, Any]) -> list[Claim]:
        claim = "Variables no single node holds live in a subspace of the residual stream (DAS)"
        if "skipped" in data or not data["variables"]:
            why = data.get("skipped", "every variable is held by one node")
            return [not_applicable(claim, "", why, DAS_SOURCE)]
        ok = [das_found(v, data) for v in data["variables"]]
        measured = "; ".join(
            f"{v['variable']} {v['best']['iia']:.3f} at {v['best']['nodes'][0]} "
            f"(rank {v['best']['rank']}; untrained {v['untrained']['iia']:.3f})"
            for v in data["variables"]
        )
        expected = f"held-out IIA lower bound >= {data['threshold']}, untrained at baseline"
        return [Claim(claim, expected, measured, all(ok), DAS_SOURCE)]

    def sections(self, data: dict[str, Any]) -> list[Section]:
        return [] if "skipped" in data else draw.das_sections(data)


def das_found(v: dict[str, Any], data: dict[str, Any]) -> bool:
    best, control = v["best"], v["untrained"]
    return bool(
        best["interval"][0] >= data["threshold"]
        and control["iia"] <= control["baseline"] + data["margin"]
    )


# ---- the circuit --------------------------------------------------------------------------
def hypothesis_nodes(iia: dict[str, Any], least: float = 0.5) -> dict[str, list[str]]:
    """Node name -> the variables aligned to it whose random IIA is at least ``least``."""
    out: dict[str, list[str]] = {}
    for v in iia.get("variables", []):
        if v["iia"][0]["iia"] >= least:
            out.setdefault(v["best"], []).append(v["variable"])
    return out


def model_failures(ctx: Context, questions: int, seed: int) -> dict[str, dict[str, Any]]:
    """The model's own verification on the questions the circuit is verified on."""
    model, task = ctx.model, ctx.task
    return {
        d: ctx.check(model, task, questions=questions, distribution=d, seed=seed).to_dict()
        for d in ("uniform", "training")
    }


def circuit_of(
    model: Any, task: SequenceTask, n: int, start: tuple[Node, ...] = ()
) -> tuple[Circuit, list[dict[str, Any]], Tensor]:
    """:func:`find_circuit` on ``n`` and ``4n`` questions from ``start``, and the reference
    questions its mean ablation uses: how the circuit and reuse units find a circuit."""
    reference = task.sample_independent(10_000, torch.Generator().manual_seed(1)).inputs
    found, grown = find_circuit(
        model, task, reference, start=start, ablation_questions=n, rounds=((n, 2), (4 * n, 4))
    )
    return found, grown, reference


MIN_ACCURACY = 0.9  # a circuit must answer this share right (an untrained model's fails it)


def circuit_sufficient(alone: dict[str, Any], model: dict[str, Any], suff: Any) -> bool:
    """The circuit alone fails at most ``max_failures_per_million`` more than the model on the
    same questions, on each distribution, and answers at least ``MIN_ACCURACY`` right: the
    papers' 1-layer model fails 0.6% of training questions, and its circuit is sufficient when
    it fails the same ones; a circuit of an untrained model fails the accuracy bar."""
    most = suff.max_failures_per_million
    return all(
        r["failures_per_million"] - model[d]["failures_per_million"] <= most
        and r["failures"] <= (1 - MIN_ACCURACY) * r["questions"]
        for d, r in alone.items()
    )


class CircuitUnit:
    name = "circuit"

    def compute(self, ctx: Context) -> dict[str, Any]:
        if not hasattr(ctx.model, "blocks"):
            return _skipped("the model has no heads or MLP nodes")
        if not hasattr(ctx.task, "answer_start"):  # LEGO, modular addition: no answer sequence
            return _skipped(f"the {ctx.task.name} task's answers are not a token sequence")
        b, model, task = ctx.budget, ctx.model, ctx.task
        aligned = hypothesis_nodes(ctx.done.get("iia", {}))
        ctx.note("circuit: finding")
        start = tuple(Node.parse(n) for n in aligned)
        found, grown, reference = circuit_of(model, task, b.find_questions, start)
        how: AblateMode = "resample" if b.mode == "resample" else "mean"
        ctx.note(f"circuit: {len(found.nodes)} nodes alone, {b.questions:,} questions each")
        suff = sufficiency(
            model, task, found, ctx.check, reference, questions=b.questions, seed=b.seed, mode=how
        )
        out = {
            **suff.to_dict(),
            "grown": grown,
            "variables": aligned,
            "model": model_failures(ctx, b.questions, b.seed),
        }
        out["sufficient"] = circuit_sufficient(out["results"], out["model"], suff)
        out["min_accuracy"] = MIN_ACCURACY
        if b.minimality:
            ctx.note("circuit: minimality")
            q = task.sample_independent(b.minimality, torch.Generator().manual_seed(7))
            mini = minimality(model, task, found, q.inputs, q.targets, reference, how)
            out["minimality"] = mini.to_dict()
        return out

    def claims(self, data: dict[str, Any]) -> list[Claim]:
        claim, source = "The circuit alone does the task (sufficiency)", CIRCUIT_SOURCE
        if "skipped" in data:
            return [not_applicable(claim, "", data["skipped"], source)]
        most, least = data["max_failures_per_million"], data.get("min_accuracy", MIN_ACCURACY)
        rates = ", ".join(
            f"{d} {r['failures']:,} of {r['questions']:,} ({r['failures_per_million']:.1f} per "
            f"million, model {data['model'][d]['failures']:,})"
            for d, r in data["results"].items()
        )
        n, total = data["counts"]["circuit"], data["counts"]["model"]
        out = [
            Claim(
                claim,
                f"at most {most:g} failures per million more than the model on each "
                f"distribution, and at least {least:.0%} right",
                f"{n} of {total} nodes; alone: {rates}",
                data["sufficient"],
                source,
            )
        ]
        if "minimality" in data:
            m = data["minimality"]
            unneeded = [r["node"] for r in m["nodes"] if not r["needed"]]
            text = (
                f"{len(m['nodes']) - len(unneeded)} of {len(m['nodes'])} nodes needed on "
                f"{m['questions']:,} questions"
                + (f"; not: {', '.join(unneeded[:6])}" if unneeded else "")
            )
            out.append(
                Claim(
                    "Every circuit node is needed (minimality)",
                    f"ablating any one adds failures above {m['min_effect']:g}",
                    text,
                    m["minimal"] and data["sufficient"],
                    source,
                )
            )
        return out

    def sections(self, data: dict[str, Any]) -> list[Section]:
        return [] if "skipped" in data else draw.circuit_sections(data)


# ---- edges --------------------------------------------------------------------------------
class EdgesUnit:
    name = "edges"

    def compute(self, ctx: Context) -> dict[str, Any]:
        circuit = ctx.done.get("circuit", {})
        if "circuit" not in circuit:
            return _skipped("needs the circuit unit's results")
        found = Circuit.of(circuit["circuit"])
        n_pairs = sum(reaches(s, r) for s in found.nodes for r in found.nodes)
        if n_pairs > ctx.budget.max_edges:
            return _skipped(f"{n_pairs:,} sender/receiver pairs, above {ctx.budget.max_edges}")
        gen = torch.Generator().manual_seed(ctx.budget.seed + 2)
        base = ctx.task.sample_independent(ctx.budget.edge_pairs, gen).inputs
        source = ctx.task.sample_independent(ctx.budget.edge_pairs, gen).inputs
        with_edges, effects = circuit_edges(ctx.model, ctx.task, found, base, source)
        return {
            "circuit": found.names,
            "pairs": ctx.budget.edge_pairs,
            "min_changed": 0.01,
            "variables": circuit.get("variables", {}),
            "edges": [list(e) for e in with_edges.edges],
            "measured": len(effects),
        }

    def claims(self, data: dict[str, Any]) -> list[Claim]:
        return []  # a measurement the diagram draws, not a claim

    def sections(self, data: dict[str, Any]) -> list[Section]:
        return [] if "skipped" in data else draw.edge_sections(data)


# ---- reuse --------------------------------------------------------------------------------
class ReuseUnit:
    """Which of this circuit's nodes the compared model's circuit also has (the papers' reuse:
    a mixed model initialised from an addition model, Quirke, Neo & Barez 2024). The compared
    model's circuit is found the same way (node ablation, grown until nothing fails) on the
    same budget; its sufficiency is not re-verified here."""

    name = "reuse"

    def compute(self, ctx: Context) -> dict[str, Any]:
        circuit = ctx.done.get("circuit", {})
        if "circuit" not in circuit:
            return _skipped("needs the circuit unit's results")
        other = ctx.compare
        if other is None:
            return _skipped("no model to compare with (compare=RUN; --compare RUN)")
        if other.task.n_ctx != ctx.task.n_ctx or not hasattr(other.task, "answer_start"):
            return _skipped(f"{other.name} does not share this model's token positions")
        n = ctx.budget.find_questions
        ctx.note(f"reuse: the circuit of {other.name}")
        theirs, _, _ = circuit_of(other.model, other.task, n)
        shared = set(theirs.names)
        variables = circuit.get("variables", {})
        rows = [
            {"node": name, "variables": variables.get(name, []), "shared": name in shared}
            for name in circuit["circuit"]
        ]
        return {
            "compare": other.name,
            "nodes": rows,
            "shared": sum(r["shared"] for r in rows),
            "compare_circuit": theirs.names,
            "find_questions": n,
        }

    def claims(self, data: dict[str, Any]) -> list[Claim]:
        return []  # a comparison the table shows; the papers' reuse claim reads sub-tasks

    def sections(self, data: dict[str, Any]) -> list[Section]:
        return [] if "skipped" in data else draw.reuse_sections(data)


UNITS: dict[str, Callable[[], Unit]] = {
    "iia": IIAUnit,
    "sets": SetsUnit,
    "das": DASUnit,
    "circuit": CircuitUnit,
    "edges": EdgesUnit,
    "reuse": ReuseUnit,
}


def units(names: Sequence[str]) -> list[Unit]:
    """The named units, in the order they must run (iia, sets, das, circuit, edges, reuse)."""
    unknown = [n for n in names if n not in UNITS]
    if unknown:
        raise ValueError(f"no causal unit {unknown[0]!r}: use {', '.join(UNITS)}")
    return [UNITS[n]() for n in UNITS if n in names]
