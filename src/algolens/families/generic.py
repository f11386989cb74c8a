"""The analysis and report any sequence task gets for free: what a new family starts from.

For a :class:`~algolens.tasks.base.SequenceTask` on a transformer: accuracy on both
distributions, the residual stream ablated at every position after every layer, every head and
MLP ablated at every position, and the mean attention of every head. A family passes these to
its :class:`~algolens.families.base.Family` record (``analyse=generic.analyse``,
``sections=generic.sections``) until it has analyses of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from algolens.analysis.ablation import AblationResult, node_ablation, position_ablation
from algolens.analysis.attention import mean_attention
from algolens.families.base import Analysis
from algolens.sections import Section, Table
from algolens.tasks.base import model_device
from algolens.verify import DISTRIBUTIONS, verify


@dataclass
class SequenceAnalysis:
    """What the generic report draws."""

    rates: dict[str, tuple[int, int]]  # distribution -> (questions, failures)
    positions: AblationResult
    nodes: AblationResult
    attention: torch.Tensor  # [layer, head, query, key]


def analyse(
    run: Any, questions: int = 1000, seed: int = 0, progress: bool = False, source: Any = None
) -> Analysis:
    """Verification on both distributions, position and node ablations, mean attention."""
    model, task = run.model, run.task
    batch = task.sample_independent(questions, torch.Generator().manual_seed(seed))
    batch = batch.to(model_device(model))
    rates: dict[str, tuple[int, int]] = {}
    for dist in DISTRIBUTIONS:
        res = verify(model, task, questions=max(questions, 1000), distribution=dist, seed=seed)
        rates[dist] = (res.questions, res.failures)
    data = SequenceAnalysis(
        rates=rates,
        positions=position_ablation(model, task, batch, "mean", progress=progress),
        nodes=node_ablation(model, task, batch, "mean", progress=progress),
        attention=mean_attention(model, batch.inputs),
    )
    facts = {"task": task.name, "questions": f"{questions:,}"}
    facts |= {f"failures, {d}": f"{f:,} of {q:,}" for d, (q, f) in rates.items()}
    return Analysis(
        f"How {run.name} does {task.name}",
        [],
        data,
        facts=facts,
        subtitle="The generic analyses of a sequence task: ablations and attention.",
    )


NEWLY_FAILING = "Share of questions newly failing when "
RESID = "the residual stream after a layer is replaced by its mean at one position."
NODE_OUTPUT = (
    "one head's output (hook_z) or one MLP's output is replaced by its mean at one position."
)


def sections(run: Any, analysis: Analysis) -> list[Section]:
    a: SequenceAnalysis = analysis.data
    rows = [[d, f"{q:,}", f"{f:,}"] for d, (q, f) in a.rates.items()]
    return [
        Section(
            "Accuracy",
            "Exact match of every answer token, on both distributions.",
            tables=[Table(["distribution", "questions", "failures"], rows)],
        ),
        *(
            Section(
                f"Which {what} are needed",
                NEWLY_FAILING + replaced,
                [_grid(res, kind, title)],
                names=[what],
            )
            for what, res, kind, title, replaced in (
                ("positions", a.positions, "resid", "Position ablation (mean)", RESID),
                ("nodes", a.nodes, "node", "Node ablation (mean)", NODE_OUTPUT),
            )
        ),
        Section(
            "Mean attention",
            "Each head's attention averaged over the questions.",
            [_attention(a.attention)],
            names=["attention"],
        ),
    ]


def _grid(res: AblationResult, kind: str, title: str) -> go.Figure:
    comps = list(dict.fromkeys(n.component for n in res.nodes))
    n_pos = max(n.pos for n in res.nodes) + 1
    z = [[0.0] * n_pos for _ in comps]
    for node, rate in zip(res.nodes, res.extra_failure_rate().tolist(), strict=True):
        z[comps.index(node.component)][node.pos] = rate
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"P{p}" for p in range(n_pos)],
            y=comps,
            colorscale="Reds",
            zmin=0,
            colorbar={"title": "newly failing"},
        )
    )
    fig.update_layout(title=title, height=160 + 28 * len(comps), xaxis_title="position")
    return fig


def _attention(pattern: torch.Tensor) -> go.Figure:
    n_layers, n_heads = pattern.shape[:2]
    titles = [f"L{layer}H{h}" for layer in range(n_layers) for h in range(n_heads)]
    fig = make_subplots(rows=n_layers, cols=n_heads, subplot_titles=titles)
    for layer in range(n_layers):
        for h in range(n_heads):
            heat = go.Heatmap(
                z=pattern[layer, h].tolist(),
                zmin=0,
                zmax=1,
                colorscale="Blues",
                showscale=layer == h == 0,
            )
            fig.add_trace(heat, row=layer + 1, col=h + 1)
    fig.update_yaxes(autorange="reversed", title="query")
    fig.update_xaxes(title="key")
    fig.update_layout(height=280 * n_layers + 80)
    return fig
