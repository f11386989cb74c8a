"""The causal units' report sections, drawn from their JSON alone (nothing here runs a model):
the variable x node IIA heatmap and table, DAS per variable, the circuit diagram (with the
measured edges as arrows), sufficiency beside the model's own verification, and minimality."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from algolens.analysis.nodes import Node
from algolens.sections import Section, Table


def _ci(r: dict[str, Any], digits: int = 3) -> str:
    lo, hi = r["interval"]
    return f"{r['iia']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _order(name: str) -> tuple[int, int, int, int]:
    n = Node.parse(name)
    return (n.pos, n.layer, n.kind != "head", n.head or 0)


def heatmap_columns(data: dict[str, Any], top: int = 3) -> list[str]:
    """Every variable's best node and the others of its ``top`` above 0.05, in the model's
    order (nodes at 0 for every variable say nothing and crowd the axis)."""
    names = {v["best"] for v in data["variables"]}
    names |= {
        r["alignment"] for v in data["variables"] for r in v["search"][:top] if r["iia"] > 0.05
    }
    return sorted(names, key=_order)


def iia_heatmap(data: dict[str, Any]) -> go.Figure:
    """IIA on the search pairs, variable x node (blank: not among the variable's candidates)."""
    cols = heatmap_columns(data)
    rows = [v["variable"] for v in data["variables"]]
    z: list[list[float | None]] = []
    for v in data["variables"]:
        got = {r["alignment"]: r["iia"] for r in v["search"]}
        z.append([got.get(c) for c in cols])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=cols,
            y=rows,
            zmin=0,
            zmax=1,
            colorscale="Viridis",
            colorbar={"title": "IIA"},
            hovertemplate="%{y} at %{x}: IIA %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title="IIA per variable and node (search pairs)",
        height=max(260, 26 * len(rows) + 170),
        width=max(560, 34 * len(cols) + 200),
        margin={"l": 70, "r": 30, "t": 40, "b": 120},
        xaxis={
            "title": "node (position, layer, head or MLP)",
            "tickangle": -60,
            "type": "category",
        },
        yaxis={"title": "variable", "type": "category", "autorange": "reversed"},
    )
    return fig


def iia_table(data: dict[str, Any]) -> Table:
    kinds = [r["kind"] for r in data["variables"][0]["iia"]] if data["variables"] else []
    rows = []
    for v in data["variables"]:
        by = {r["kind"]: r for r in v["iia"]}
        rows.append(
            [
                v["variable"],
                v["best"],
                *(_ci(by[k]) if k in by else "" for k in kinds),
                f"{v['iia'][0]['pairs']:,}",
                f"{v['untrained']['iia']:.3f}",
                f"{v['wrong']['iia']:.3f}",
            ]
        )
    columns = [
        "variable",
        "best node",
        *(f"IIA, {k} [95% CI]" for k in kinds),
        "random pairs",
        "untrained copy",
        "node one over",
    ]
    caption = (
        "inert (no pair changes the answer): " + ", ".join(data["inert"]) if data["inert"] else ""
    )
    return Table(columns, rows, caption)


def iia_sections(data: dict[str, Any]) -> list[Section]:
    th = data["thresholds"]
    text = (
        f"The hypothesis {data['hypothesis']} ({data['source']}) as a causal model: for each "
        "variable, base/source pairs whose counterfactual answer differs from the base's "
        "(so an answer that ignores the patch scores 0), the node's activation patched from "
        "the source into the base, and the model's answer compared with the counterfactual. "
        f"A variable is held where the lower bound reaches {th['iia']}. Controls: the same node "
        "in an untrained copy, and the node one position over."
    )
    return [
        Section(
            "Interchange: where each variable lives",
            text,
            [iia_heatmap(data)],
            [iia_table(data)],
            ["iia-heatmap"],
            key="iia",
        )
    ]


def set_sections(data: dict[str, Any]) -> list[Section]:
    rows = []
    for v in data["variables"]:
        by_kind = ", ".join(f"{r['kind']} {_ci(r)}" for r in v["iia"])
        growth = " -> ".join(f"{r['iia']:.3f}" for r in v["steps"])
        untrained, wrong = v["untrained"], v["wrong"]
        rows.append(
            [
                v["variable"],
                f"{v['single_node_iia']:.3f}",
                " + ".join(v["set"]),
                growth,
                by_kind,
                f"{v['iia'][0]['pairs']:,}",
                f"{untrained['iia']:.3f}",
                f"{wrong['iia']:.3f}",
            ]
        )
    columns = [
        "variable",
        "best single node",
        "node set",
        "search IIA as it grew",
        "IIA [95% CI] per pair kind",
        "random pairs",
        "untrained copy",
        "set one position over",
    ]
    text = (
        "Node sets for the variables no single node holds: the best node, then the node whose "
        "joint interchange raises IIA most, while it rises, on the search pairs; the set is then "
        "measured on fresh pairs. A set is no subspace: each node is swapped whole, so it also "
        "moves whatever else those nodes carry. Controls: the same set in an untrained copy, "
        "and every node one position over."
    )
    return [Section("Node sets: variables held jointly", text, tables=[Table(columns, rows)],
                    key="sets")]  # fmt: skip


def group_sections(data: dict[str, Any]) -> list[Section]:
    """A hypothesis measured over groups of neurons: IIA per tenth of the vote swapped, and
    the groups (frequency, neurons, share of the vote)."""
    bins = Table(
        ["share of the vote swapped", "pairs", "IIA (the vote's answer)", "neither sum"],
        [
            [f"{b['share'][0]:.1f}-{b['share'][1]:.1f}", f"{b['pairs']:,}",
             "-" if b["iia"] is None else f"{b['iia']:.3f}",
             "-" if b["neither"] is None else f"{b['neither']:.3f}"]
            for b in data["bins"]
        ],
    )  # fmt: skip
    groups = Table(
        ["frequency", "neurons", "share of the vote"],
        [[g["frequency"], g["neurons"], f"{g['share']:.3f}"] for g in data["frequencies"]],
    )
    lo, hi = data["contested_share"]
    text = (
        f"The hypothesis {data['hypothesis']} ({data['source']}): the neurons of each frequency "
        "vote for the sum with a cosine, and the answer is the vote's argmax. The neurons of "
        "a random set of frequencies take their activations from a source question; a pair "
        "counts where the vote's answer then differs from the base's. Contested pairs (the "
        f"swapped frequencies hold {lo:.0%}-{hi:.0%} of the vote): "
        f"{_ci(data['contested'])} of {data['contested']['pairs']:,}; clear pairs: "
        f"{_ci(data['clear'])} of {data['clear']['pairs']:,}; the untrained copy on the "
        f"contested pairs: {data['untrained']['iia']:.3f}."
    )
    title = "Interchange: the neurons' frequencies as a vote"
    return [Section(title, text, tables=[bins, groups], key="iia")]


def das_sections(data: dict[str, Any]) -> list[Section]:
    rows = []
    for v in data["variables"]:
        b, c = v["best"], v["untrained"]
        rows.append(
            [
                v["variable"],
                f"{v['single_node_iia']:.3f}",
                b["nodes"][0],
                b["rank"],
                _ci(b),
                f"{b['pairs']:,}",
                f"{b['baseline']:.3f}",
                f"{c['iia']:.3f}",
                f"{b['train_iia']:.3f}",
            ]
        )
    columns = [
        "variable",
        "best single node",
        "location (residual)",
        "rank",
        "held-out IIA [95% CI]",
        "held-out pairs",
        "baseline",
        "untrained copy",
        "training IIA",
    ]
    text = (
        "Distributed alignment search for the variables no single node holds: a rank-k "
        "orthonormal subspace of the residual stream is learned briefly at every location where "
        "the variable could live, then fully at the best ones on training pairs; the location "
        "best on its training pairs is kept and its IIA measured on held-out pairs. The control "
        "learns the same location in an untrained copy."
    )
    return [
        Section(
            "Distributed alignment: variables in a subspace",
            text,
            tables=[Table(columns, rows)],
            key="das",
        )
    ]


def _slots(names: list[str]) -> tuple[dict[str, tuple[float, float]], int]:
    """Each node's (x, y) in the diagram: x its position, y its layer's band (heads then MLP)."""
    nodes = [Node.parse(n) for n in names]
    heads = max((n.head or 0 for n in nodes if n.kind == "head"), default=0) + 1
    band = heads + 1
    where = {}
    for n in nodes:
        slot = n.head if n.kind == "head" else heads
        where[n.name] = (float(n.pos), float(n.layer * (band + 1) + (slot or 0)))
    return where, band


def _arrows(fig: go.Figure, where: dict[str, tuple[float, float]], edges: list[list[Any]]) -> None:
    """One arrow per measured edge, sender to receiver, its width and opacity its effect."""
    for sender, receiver, effect in edges:
        (x0, y0), (x1, y1) = where[sender], where[receiver]
        fig.add_annotation(
            x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
            showarrow=True, arrowhead=2, arrowwidth=0.5 + 4 * effect,
            arrowcolor=f"rgba(200,80,40,{0.25 + 0.7 * effect:.2f})",
        )  # fmt: skip


def circuit_diagram(
    names: list[str],
    variables: dict[str, list[str]],
    edges: list[list[Any]] | None = None,
    title: str = "The circuit",
) -> go.Figure:
    """The circuit on a position x (layer, head/MLP) grid; aligned nodes labelled with their
    variables; measured edges as arrows whose width is their effect."""
    where, band = _slots(names)
    fig = go.Figure()
    _arrows(fig, where, edges or [])
    aligned = [n for n in names if n in variables]
    for group, colour in (
        (aligned, "#d62728"),
        ([n for n in names if n not in variables], "#1f77b4"),
    ):
        fig.add_trace(
            go.Scatter(
                x=[where[n][0] for n in group],
                y=[where[n][1] for n in group],
                mode="markers+text" if group is aligned else "markers",
                marker={"size": 11, "color": colour},
                name="holds a variable" if group is aligned else "other circuit node",
                text=[", ".join(variables.get(n, [])) for n in group],
                textposition="middle right",
                textfont={"size": 10, "color": colour},
                hovertext=[f"{n}: {', '.join(variables.get(n, [])) or '-'}" for n in group],
                hoverinfo="text",
            )
        )
    layers = sorted({Node.parse(n).layer for n in names})
    fig.update_layout(
        title=title,
        height=160 + 24 * band * len(layers),
        width=900,
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        xaxis={"title": "position", "dtick": 1},
        yaxis={
            "title": "layer and node",
            "tickvals": [lay * (band + 1) + k for lay in layers for k in range(band)],
            "ticktext": [
                f"L{lay} {'MLP' if k == band - 1 else f'H{k}'}"
                for lay in layers
                for k in range(band)
            ],
        },
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def _rate(r: dict[str, Any]) -> str:
    lo, hi = r["interval"]
    return f"{r['failures']:,} ({r['failures_per_million']:.1f} per million, {lo:.1f}-{hi:.1f})"


def circuit_sections(data: dict[str, Any]) -> list[Section]:
    suff = Table(
        ["distribution", "questions", "the model: wrong (95% CI)", "the circuit alone: wrong"],
        [
            [d, f"{r['questions']:,}", _rate(data["model"][d]), _rate(r)]
            for d, r in data["results"].items()
        ],
        f"The circuit alone: every head and MLP outside it {data['mode']}-ablated; sufficient: "
        f"{'yes' if data['sufficient'] else 'no'} (at most {data['max_failures_per_million']:g} "
        "per million more than the model, and at least "
        f"{data.get('min_accuracy', 0.9):.0%} right)",
    )
    tables = [suff]
    if "minimality" in data:
        m = data["minimality"]
        tables.append(
            Table(
                ["node", "wrong with it ablated too", "rate [95% CI]", "needed"],
                [
                    [
                        r["node"],
                        f"{r['failures']:,}",
                        f"{r['failure_rate']:.4f} [{r['interval'][0]:.4f}, {r['interval'][1]:.4f}]",
                        "yes" if r["needed"] else "no",
                    ]
                    for r in m["nodes"]
                ],
                f"Minimality on {m['questions']:,} training questions; the circuit "
                f"alone gets {m['circuit_failures']:,} wrong",
            )
        )
    c = data["counts"]
    text = (
        f"A circuit of {c['circuit']} of the model's {c['model']} nodes ({c['model_reachable']} "
        "can reach an answer at all): the hypothesis's aligned nodes and the nodes whose ablation "
        "alone breaks answers, grown until the circuit alone answers like the model. Verified "
        "alone beside the model's own verification on the same questions."
    )
    fig = circuit_diagram(data["circuit"], data.get("variables", {}))
    return [
        Section(
            "The circuit: sufficient and minimal",
            text,
            [fig],
            tables,
            ["circuit-diagram"],
            key="circuit",
        )
    ]


def edge_sections(data: dict[str, Any]) -> list[Section]:
    edges = sorted(data["edges"], key=lambda e: -e[2])
    text = (
        f"Path patching between circuit nodes ({data['measured']:,} sender/receiver pairs, "
        f"{data['pairs']:,} base/source pairs): the sender's output from the source reaches "
        "only the receiver, every other head and MLP held; an arrow for each edge that changes "
        f"more than {data['min_changed']:.0%} of answers, its width the share changed."
    )
    fig = circuit_diagram(
        data["circuit"], data.get("variables", {}), edges, "The circuit and its measured edges"
    )
    table = Table(
        ["sender", "receiver", "answers changed"],
        [[s, r, f"{e:.3f}"] for s, r, e in edges[:40]],
        f"the {min(40, len(edges))} strongest of {len(edges)} edges",
    )
    return [
        Section("The algorithm map's edges", text, [fig], [table], ["circuit-edges"], key="edges")
    ]


def reuse_sections(data: dict[str, Any]) -> list[Section]:
    rows = data["nodes"]
    text = (
        f"{data['shared']} of this circuit's {len(rows)} nodes are also in the circuit of "
        f"{data['compare']} ({len(data['compare_circuit'])} nodes), found the same way on "
        f"{data['find_questions']:,} and {4 * data['find_questions']:,} questions. A shared "
        "node is the same head or MLP at the same position; whether it keeps its job is what "
        "the interchange results say."
    )
    table = Table(
        ["node", "variables aligned to it", f"also in {data['compare']}'s circuit"],
        [
            [r["node"], ", ".join(r["variables"]) or "-", "yes" if r["shared"] else "no"]
            for r in rows
        ],
        f"{data['shared']} of {len(rows)} nodes shared",
    )
    title = "Reuse: the circuit beside another model's"
    return [Section(title, text, [], [table], [], key="reuse")]
