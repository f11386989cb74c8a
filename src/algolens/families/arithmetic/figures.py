"""Plotly figures for the arithmetic report. Each takes analysis results and only draws."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from algolens.analysis.ablation import AblationResult
from algolens.families.arithmetic.algorithm_map import AlgorithmMap
from algolens.families.arithmetic.interventions import InterventionResult
from algolens.families.arithmetic.pca import TRI_CASE_NAMES, PcaResult
from algolens.families.arithmetic.staircase import Staircase

HEAD_COLOURS = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#1098ad", "#f08c00"]
MLP_COLOUR = "#495057"
TRI_COLOURS = ["#4c6ef5", "#f59f00", "#e03131"]
CLASS_COLOURS = {
    "BA": "#2b8a3e",
    "MC1": "#1098ad",
    "SimpleUS9": "#f08c00",
    "CascadeUS9": "#e03131",
    "BS": "#2b8a3e",
    "MB1": "#1098ad",
    "SimpleUZ": "#f08c00",
    "CascadeUZ": "#e03131",
}
SUBTASK_COLOURS = {
    "BA": "#2b8a3e",
    "MC1": "#1098ad",
    "MS9": "#f08c00",
    "UC1": "#3b5bdb",
    "US9": "#e03131",
    "MD": "#2b8a3e",
    "MB": "#1098ad",
    "MZ": "#f08c00",
    "UB": "#3b5bdb",
    "UZ": "#e03131",
}
DIGIT_COLOURS = [
    "#212529",
    "#c92a2a",
    "#e8590c",
    "#f08c00",
    "#2b8a3e",
    "#1098ad",
    "#3b5bdb",
    "#7048e8",
    "#ae3ec9",
    "#d6336c",
    "#868e96",
]
LAYOUT: dict[str, Any] = dict(
    template="plotly_white",
    font=dict(family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif", size=13),
    margin=dict(l=60, r=30, t=60, b=50),
)


def _fig(title: str, height: int = 420, **kw: Any) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=dict(text=title, x=0.01), height=height, **LAYOUT, **kw)
    return fig


def _heatmap(
    title: str, height: int, axes: tuple[str, str], category: bool = False, **trace: Any
) -> go.Figure:
    """One heatmap, its rows top to bottom; ``axes`` are the y and x titles, ``category``
    keeps plotly from reading node names and positions as numbers."""
    fig = _fig(title, height=height)
    fig.add_trace(go.Heatmap(**trace))
    kind = {"type": "category"} if category else {}
    fig.update_yaxes(autorange="reversed", title=axes[0], **kind)
    fig.update_xaxes(title=axes[1], **kind)
    return fig


def _failure_scale(z: np.ndarray, label: str) -> dict[str, Any]:
    """The red scale of failure rates: 0 to the largest (at least 5%), in percent."""
    zmax = max(0.05, float(np.nanmax(z)))
    return dict(
        z=z, colorscale="Reds", zmin=0, zmax=zmax, colorbar=dict(title=label, tickformat=".0%")
    )


def _pos_labels(roles: list[str]) -> list[str]:
    return [f"P{i} {r}" for i, r in enumerate(roles)]


def training_curves(
    metrics: list[dict], keys: list[str], title: str, colours: dict | None = None
) -> go.Figure:
    """Loss per key over training steps, log-log."""
    fig = _fig(title)
    for i, key in enumerate(keys):
        rows = [(m["step"], m[f"loss_{key}"]) for m in metrics if m.get(f"loss_{key}", 0) > 0]
        if not rows:
            continue
        x, y = zip(*rows, strict=True)
        colour = (colours or {}).get(key, DIGIT_COLOURS[i % len(DIGIT_COLOURS)])
        fig.add_trace(
            go.Scatter(x=x, y=y, mode="lines", name=key, line=dict(color=colour, width=2))
        )
    fig.update_xaxes(type="log", title="training step")
    fig.update_yaxes(type="log", title="loss (mean -log p, float64)")
    return fig


ROW_PX, GAP_PX, TOP_PX, BOTTOM_PX = 240, 120, 90, 100  # the attention grid, in pixels


def attention_grid(
    patterns: np.ndarray, question: str, cls: str, roles: list[str], first_answer: int
) -> go.Figure:
    """One question's attention, one panel per head: query position (down) x key position.

    Rows of panels are layers. The gap between them is set in pixels: it holds a row's
    rotated key labels and the next row's panel titles without overlap; query labels are
    shown once per row (the panels of a row share them).
    """
    n_l, n_h = patterns.shape[:2]
    titles = [f"L{layer}H{h}" for layer in range(n_l) for h in range(n_h)]
    plot_px = n_l * ROW_PX + (n_l - 1) * GAP_PX
    fig = make_subplots(
        rows=n_l,
        cols=n_h,
        subplot_titles=titles,
        shared_yaxes=True,
        horizontal_spacing=0.02,
        vertical_spacing=GAP_PX / plot_px if n_l > 1 else 0.0,
    )
    labels = _pos_labels(roles)
    for layer in range(n_l):
        for h in range(n_h):
            fig.add_trace(
                go.Heatmap(
                    z=patterns[layer, h][first_answer:],
                    x=labels,
                    y=labels[first_answer:],
                    colorscale="Blues",
                    zmin=0,
                    zmax=1,
                    showscale=(layer == 0 and h == 0),
                    colorbar=dict(title="attention", len=0.6),
                    hovertemplate="query %{y}<br>key %{x}<br>%{z:.2f}<extra></extra>",
                ),
                row=layer + 1,
                col=h + 1,
            )
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(title="query", col=1)
    fig.update_xaxes(tickangle=-60, tickfont=dict(size=9))
    fig.update_xaxes(title=dict(text="key", standoff=4), row=n_l)
    fig.update_layout(
        title=dict(text=f"{cls}: {question}", x=0.01),
        height=plot_px + TOP_PX + BOTTOM_PX,
        **{**LAYOUT, "margin": dict(l=70, r=30, t=TOP_PX, b=BOTTOM_PX)},
    )
    return fig


def algorithm_map_figure(
    amap: AlgorithmMap, components: list[str], roles: list[str], title: str
) -> go.Figure:
    """Position x node grid of the needed nodes, labelled with each node's confirmed sub-task
    ('?' where none is) and coloured by its failure rate when mean-ablated."""
    from algolens.analysis.nodes import Node

    nodes = {name: Node.parse(name) for name in amap.nodes}
    lo, hi = min(n.pos for n in nodes.values()), max(n.pos for n in nodes.values())
    positions = list(range(lo, hi + 1))
    z = np.full((len(components), len(positions)), np.nan)
    text = np.full(z.shape, "", dtype=object)
    hover = np.full(z.shape, "not needed", dtype=object)
    for name, node in nodes.items():
        tags, i, j = amap.nodes[name], components.index(node.component), node.pos - lo
        z[i, j] = tags.failure_rate
        text[i, j] = tags.subtask.replace(" (pair)", "<br>pair") if tags.subtask else "?"
        hover[i, j] = (
            f"{name}: breaks {' '.join(tags.breaks)}<br>attends {tags.attends or '-'}<br>"
            f"sub-task {tags.subtask or 'none confirmed'}"
        )
    return _heatmap(
        title,
        160 + 50 * len(components),
        ("node", "position"),
        category=True,
        **_failure_scale(z, "fail when ablated"),
        x=[f"P{p} {roles[p]}" for p in positions],
        y=components,
        text=text,
        customdata=hover,
        texttemplate="%{text}",
        xgap=1,
        ygap=1,
        hovertemplate="%{customdata}<br>%{z:.1%} fail when ablated<extra></extra>",
    )


def position_ablation_chart(res: AblationResult, roles: list[str], title: str) -> go.Figure:
    """Added failure rate when the residual stream after each layer is mean-ablated."""
    fig = _fig(title, height=380)
    rates = res.extra_failure_rate().numpy()
    layers = sorted({n.layer for n in res.nodes})
    for layer in layers:
        idx = [i for i, n in enumerate(res.nodes) if n.layer == layer]
        fig.add_trace(
            go.Bar(
                x=[f"P{res.nodes[i].pos} {roles[res.nodes[i].pos]}" for i in idx],
                y=rates[idx],
                name=f"after L{layer}",
                marker_color=HEAD_COLOURS[layer % len(HEAD_COLOURS)],
                hovertemplate="%{x}: %{y:.1%}<extra></extra>",
            )
        )
    fig.update_yaxes(title="questions newly failing", tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(title="position ablated (mean)", tickangle=-45)
    return fig


def _grid(
    res: AblationResult, values: np.ndarray, positions: list[int]
) -> tuple[list[str], np.ndarray]:
    comps = list(dict.fromkeys(n.component for n in res.nodes))
    z = np.full((len(comps), len(positions)), np.nan)
    for i, n in enumerate(res.nodes):
        if n.pos in positions:
            z[comps.index(n.component), positions.index(n.pos)] = values[i]
    return comps, z


def node_heatmap(
    res: AblationResult,
    roles: list[str],
    positions: list[int],
    title: str,
    text: list[str] | None = None,
    zlabel: str = "questions newly failing",
) -> go.Figure:
    """Position x node heatmap of the added failure rate, annotated with the broken digits."""
    comps, z = _grid(res, res.extra_failure_rate().numpy(), positions)
    labels = np.full(z.shape, "", dtype=object)
    if text is not None:
        for i, n in enumerate(res.nodes):
            if n.pos in positions:
                labels[comps.index(n.component), positions.index(n.pos)] = text[i]
    return _heatmap(
        title,
        140 + 45 * len(comps),
        ("node", "position"),
        **_failure_scale(z, zlabel),
        x=[f"P{p} {roles[p]}" for p in positions],
        y=comps,
        text=labels,
        texttemplate="%{text}",
        hovertemplate="%{y} at %{x}<br>%{z:.1%} newly failing<br>%{text}<extra></extra>",
    )


def digit_impact_heatmap(res: AblationResult, title: str, threshold: float = 0.01) -> go.Figure:
    """For every node that breaks something: the failure rate of each answer digit."""
    rates = res.digit_failure_rate().numpy()
    keep = [i for i in range(len(res.nodes)) if rates[i].max() > threshold]
    return _heatmap(
        title,
        160 + 22 * max(len(keep), 3),
        ("node", "answer digit"),
        category=True,
        z=rates[keep],
        x=res.answer_names,
        y=[res.nodes[i].name for i in keep],
        colorscale="Reds",
        zmin=0,
        zmax=max(0.05, float(rates.max()) if len(keep) else 0.05),
        colorbar=dict(title="digit wrong", tickformat=".0%"),
        hovertemplate="%{y} ablated: %{x} wrong in %{z:.1%}<extra></extra>",
    )


def attention_heatmap(stair: Staircase, roles: list[str], title: str) -> go.Figure:
    """Per head and predicting position: the attended digit pair and its attention share."""
    n_l, n_h, _ = stair.column.shape
    comps = [f"L{layer}H{h}" for layer in range(n_l) for h in range(n_h)]
    z = stair.share.reshape(n_l * n_h, -1).numpy()
    cols = stair.column.reshape(n_l * n_h, -1).tolist()
    text = [[f"D{c} D'{c}" if c >= 0 else "" for c in row] for row in cols]
    return _heatmap(
        title,
        140 + 45 * len(comps),
        ("head", "query position (predicts the next token)"),
        z=z,
        x=[f"P{p} {roles[p]}" for p in stair.positions],
        y=comps,
        text=text,
        texttemplate="%{text}",
        colorscale="Blues",
        zmin=0,
        zmax=1,
        colorbar=dict(title="pair attention"),
        hovertemplate="%{y} at %{x}: %{z:.0%} on %{text}<extra></extra>",
    )


def class_failure_chart(class_accuracy: dict[str, tuple[int, int]], title: str) -> go.Figure:
    fig = _fig(title, height=340)
    names = list(class_accuracy)
    rates = [f / q if q else 0 for q, f in class_accuracy.values()]
    fig.add_trace(
        go.Bar(
            x=names,
            y=rates,
            marker_color=[CLASS_COLOURS.get(n, MLP_COLOUR) for n in names],
            text=[f"{f}/{q}" for q, f in class_accuracy.values()],
            textposition="outside",
            hovertemplate="%{x}: %{y:.1%} fail<extra></extra>",
        )
    )
    fig.update_yaxes(title="questions failing", tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(title="question class")
    return fig


def pca_scatter(results: list[PcaResult]) -> go.Figure:
    """One panel per head: its output's first two principal components, coloured by tri-case."""
    fig = make_subplots(
        rows=1,
        cols=len(results),
        subplot_titles=[
            f"{r.node} on column {r.column}<br><sub>silhouette {r.silhouette:.2f}, "
            f"ARI {r.agreement:.2f}</sub>"
            for r in results
        ],
    )
    for j, r in enumerate(results):
        for t, name in enumerate(TRI_CASE_NAMES):
            m = r.labels == t
            fig.add_trace(
                go.Scatter(
                    x=r.coords[m, 0],
                    y=r.coords[m, 1],
                    mode="markers",
                    name=name,
                    marker=dict(color=TRI_COLOURS[t], size=5, opacity=0.7),
                    legendgroup=name,
                    showlegend=j == 0,
                ),
                row=1,
                col=j + 1,
            )
        fig.update_xaxes(title_text=f"PC1 ({r.explained[0]:.0%})", row=1, col=j + 1)
        fig.update_yaxes(title_text=f"PC2 ({r.explained[1]:.0%})", row=1, col=j + 1)
    fig.update_layout(
        title=dict(text="Head outputs, coloured by the tri-case of the attended pair", x=0.01),
        height=470,
        **{**LAYOUT, "margin": dict(l=60, r=30, t=120, b=50)},
    )
    return fig


def intervention_chart(results: list[InterventionResult], title: str) -> go.Figure:
    """Share of informative store/clean pairs whose patched digit matches each sub-task claim."""
    fig = _fig(title, height=160 + 18 * max(len(results), 4))
    labels = [f"{'+'.join(r.nodes)} {r.label}→A{r.digit}" for r in results]
    fig.add_trace(
        go.Bar(
            y=labels,
            x=[r.match_informative for r in results],
            orientation="h",
            marker_color=[
                SUBTASK_COLOURS.get(
                    {"SA": "BA", "SC": "MC1", "SS": "MS9", "ST": "US9"}.get(r.subtask, r.subtask),
                    MLP_COLOUR,
                )
                for r in results
            ],
            hovertemplate="%{y}: %{x:.0%} of informative pairs match<extra></extra>",
        )
    )
    fig.add_vline(x=0.8, line_dash="dot", line_color="#868e96")
    fig.update_xaxes(
        title="patched digit = predicted digit (informative pairs)",
        tickformat=".0%",
        range=[0, 1.02],
    )
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def position_layer_map(res: AblationResult, roles: list[str], title: str) -> go.Figure:
    """Added failure rate per (layer, position) when the residual stream is mean-ablated."""
    layers = sorted({n.layer for n in res.nodes})
    n_pos = max(n.pos for n in res.nodes) + 1
    z = np.full((len(layers), n_pos), np.nan)
    rates = res.extra_failure_rate().numpy()
    for i, n in enumerate(res.nodes):
        z[layers.index(n.layer), n.pos] = rates[i]
    fig = _fig(title, height=140 + 60 * len(layers))
    text = [[f"{v:.0%}" if v > 0.005 else "" for v in row] for row in z]
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=_pos_labels(roles)[:n_pos],
            y=[f"after L{lay}" for lay in layers],
            colorscale="Reds",
            zmin=0,
            zmax=max(0.05, float(np.nanmax(z))),
            text=text,
            texttemplate="%{text}",
            colorbar=dict(title="newly failing"),
            hovertemplate="%{y}, %{x}: %{z:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(title="position ablated (mean)", tickangle=-45, tickfont=dict(size=10))
    return fig


def sign_map(flips: dict[str, float], roles: list[str], title: str) -> go.Figure:
    """Share of opposite-sign pairs whose sign flips when a node is patched, per position and
    component (heads, MLPs, the residual stream after each layer)."""
    from algolens.analysis.nodes import Node

    nodes = [Node.parse(k) for k in flips]
    comps = list(dict.fromkeys(n.component for n in nodes))
    positions = sorted({n.pos for n in nodes})
    z = np.full((len(comps), len(positions)), np.nan)
    for name, node in zip(flips, nodes, strict=True):
        z[comps.index(node.component), positions.index(node.pos)] = flips[name]
    labels = _pos_labels(roles)
    fig = _fig(title, height=160 + 26 * len(comps))
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=[labels[p] for p in positions],
            y=comps,
            colorscale="Purples",
            zmin=0,
            zmax=1,
            colorbar=dict(title="sign flipped"),
            hovertemplate="%{y} at %{x}: %{z:.0%}<extra></extra>",
        )
    )
    fig.update_xaxes(title="position patched", tickangle=-45, tickfont=dict(size=10))
    fig.update_yaxes(autorange="reversed")
    return fig
