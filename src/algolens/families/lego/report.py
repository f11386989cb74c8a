"""LEGO report sections: accuracy by chain position, the logit lens, head classes, probes.

Numbers come from :mod:`.analysis` (or a comparison of variants); this module only draws and
words them.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from algolens.families.base import Analysis
from algolens.families.lego.analysis import TEMPLATES
from algolens.sections import Section, Table


def sections(run: Any, analysis: Analysis) -> list[Section]:
    """``Family.sections`` for a LEGO run."""
    data = analysis.data
    return run_sections(data["result"], data["metrics"], data["k"])


def _position_figure(series: dict[str, list[float]], k: int, title: str) -> go.Figure:
    fig = go.Figure()
    for name, acc in series.items():
        fig.add_trace(go.Scatter(x=list(range(1, len(acc) + 1)), y=acc, mode="lines+markers",
                                 name=name))  # fmt: skip
    fig.add_vrect(x0=0.5, x1=k + 0.5, fillcolor="lightgreen", opacity=0.2, line_width=0,
                  annotation_text="trained", annotation_position="top left")  # fmt: skip
    fig.update_layout(title=title, xaxis_title="chain position", yaxis_title="accuracy",
                      yaxis_range=[0, 1.02], height=380)  # fmt: skip
    return fig


def _curve_figure(metrics: list[dict[str, Any]], n: int) -> go.Figure:
    fig = go.Figure()
    rows = [r for r in metrics if "val_acc_pos1" in r]
    steps = [r["step"] for r in rows]
    for d in range(1, n + 1):
        fig.add_trace(go.Scatter(x=steps, y=[r[f"val_acc_pos{d}"] for r in rows],
                                 mode="lines", name=f"position {d}"))  # fmt: skip
    fig.update_layout(title="Validation accuracy per chain position during training",
                      xaxis_title="step", yaxis_title="accuracy", height=380)  # fmt: skip
    return fig


def _heads_figure(heads: list[dict[str, Any]]) -> go.Figure:
    n_layers = max(h["layer"] for h in heads) + 1
    n_heads = max(h["head"] for h in heads) + 1
    fig = go.Figure()
    for i, key in enumerate(TEMPLATES):
        z = [[0.0] * n_heads for _ in range(n_layers)]
        for h in heads:
            z[h["layer"]][h["head"]] = h.get(key, 0.0)
        fig.add_trace(go.Heatmap(z=z, x=[f"H{j}" for j in range(n_heads)],
                                 y=[f"L{j}" for j in range(n_layers)], zmin=0, zmax=1,
                                 colorscale="Viridis", xaxis=f"x{i + 1}", yaxis="y",
                                 showscale=i == len(TEMPLATES) - 1))  # fmt: skip
    fig.update_layout(
        title="Similarity of each head to the association, manipulation and parent templates",
        xaxis={"domain": [0, 0.3], "title": "association"},
        xaxis2={"domain": [0.35, 0.65], "title": "manipulation"},
        xaxis3={"domain": [0.7, 1], "title": "parent"}, height=360,
    )  # fmt: skip
    return fig


def _lens_figure(layers: list[list[float]], k: int) -> go.Figure:
    n, rows = len(layers[0]), [f"after L{i}" for i in range(len(layers))]
    fig = go.Figure(go.Heatmap(
        z=layers, x=[str(d) for d in range(1, n + 1)], y=rows,
        zmin=0.5, zmax=1, colorscale="Viridis", text=[[f"{a:.2f}" for a in r] for r in layers],
        texttemplate="%{text}", colorbar={"title": "accuracy"}))  # fmt: skip
    if k < n:  # categories sit at 0 .. n-1: the line between positions k and k + 1
        fig.add_vline(x=k - 0.5, line_dash="dot", line_color="white", line_width=3)
    fig.update_layout(title="Which layer knows which chain position (logit lens; chance 0.5; "
                            "trained positions left of the dotted line)",
                      xaxis_title="chain position", height=120 + 40 * len(layers))  # fmt: skip
    return fig


ATT_ROW_PX, ATT_GAP_PX = 200, 90


def _attention_figure(attention: list[list[list[list[float]]]]) -> go.Figure:
    """Every head's mean attention pattern, one heatmap per layer (rows) and head (columns)."""
    n_layers, n_heads = len(attention), len(attention[0])
    plot_px = n_layers * ATT_ROW_PX + (n_layers - 1) * ATT_GAP_PX
    fig = make_subplots(
        rows=n_layers,
        cols=n_heads,
        subplot_titles=[f"L{i}H{j}" for i in range(n_layers) for j in range(n_heads)],
        horizontal_spacing=0.06,
        vertical_spacing=ATT_GAP_PX / plot_px if n_layers > 1 else 0.0,
    )
    for i in range(n_layers):
        for j in range(n_heads):
            fig.add_trace(go.Heatmap(
                z=attention[i][j], coloraxis="coloraxis",
                hovertemplate=f"L{i}H{j}<br>query %{{y}}, key %{{x}}: %{{z:.3f}}<extra></extra>",
            ), row=i + 1, col=j + 1)  # fmt: skip
    fig.update_yaxes(autorange="reversed", title={"text": "query", "standoff": 2})
    fig.update_xaxes(title={"text": "key", "standoff": 2})
    fig.update_layout(title="Mean attention of every head (positions: 5 tokens per clause)",
                      height=plot_px + 150, margin={"t": 100, "b": 50},
                      coloraxis={"colorscale": "Blues", "cmin": 0,
                                 "colorbar": {"title": "mean attention", "len": 0.3, "y": 1,
                                              "yanchor": "top"}})  # fmt: skip
    return fig


def _heads_table(heads: list[dict[str, Any]]) -> Table:
    rows = [[f"L{h['layer']}.H{h['head']}", *(f"{h.get(k, 0.0):.2f}" for k in TEMPLATES),
             h["kind"]] for h in heads]  # fmt: skip
    return Table(["head", *TEMPLATES, "class"], rows,
                 "1 - mean total-variation distance to each template; class at >= 0.4")  # fmt: skip


def _probes_table(probes: list[dict[str, Any]]) -> Table:
    rows = [[p["name"], p["description"], p["n_vars"], f"{p['acc_trained']:.4f}",
             f"{p['acc_all']:.4f}", p["drop_at"] or "-"] for p in probes]  # fmt: skip
    return Table(["probe", "distribution", "n", "acc. trained positions", "acc. all",
                  "first drop (position)"], rows,
                 "first drop: first chain position more than 5 points below training")  # fmt: skip


def _root_rule_table(result: dict[str, Any]) -> Table:
    agree = result.get("root_rule_agreement") or []
    rows = [[d + 1, f"{a:.4f}", f"{result['accuracy'][d]:.4f}"] for d, a in enumerate(agree)]
    return Table(["position", "agreement with root rule", "accuracy"], rows,
                 "root rule: value = own sign x the root clause's sign (no chain following); "
                 "right at positions 1-2 only")  # fmt: skip


def _order_table(result: dict[str, Any]) -> list[Table]:
    """Accuracy by chain position on shuffled and on in-order sentences (the order shortcut
    check), with the sentences' count and seed."""
    order = result.get("order")
    if not order:
        return []
    rows = [
        [d + 1, f"{s:.4f}", f"{o:.4f}"]
        for d, (s, o) in enumerate(
            zip(order["shuffled_by_position"], order["in_order_by_position"], strict=True)
        )
    ]
    return [
        Table(
            ["position", "shuffled", "in chain order"],
            rows,
            f"{order['sentences']:,} fresh sentences of each (seed {order['seed']}); a model "
            "that answers by the clauses' order in the text gets only the in-order ones right",
        )
    ]


def run_sections(result: dict[str, Any], metrics: list[dict[str, Any]], k: int) -> list[Section]:
    """Sections for one run's evaluation dict (see ``lego_variants.evaluate_run``)."""
    n = len(result["accuracy"])
    acc_rows = [
        [d + 1, "yes" if d < k else "no", f"{a:.4f}"] for d, a in enumerate(result["accuracy"])
    ]
    probe_series = {p["name"]: p["accuracy"] for p in result["probes"]}
    return [
        Section("Accuracy by chain position",
                f"Loss on chain positions 1..{k}; accuracy on all {n}.",
                [_position_figure({"accuracy": result["accuracy"]}, k, "Accuracy by position"),
                 _curve_figure(metrics, n)],
                [Table(["position", "trained", "accuracy"], acc_rows)],
                names=["accuracy-by-position", "accuracy-during-training"], key="accuracy"),
        *([Section("Layer by layer",
                   "The answers read after each layer (final LayerNorm and head on that "
                   "layer's residual stream): a model that follows the chain one hop per layer "
                   "knows chain position l + 2 after layer l.",
                   [_lens_figure(result["layer_accuracy"], k)], names=["layer-by-layer"],
                   key="layer-by-layer")]
          if result.get("layer_accuracy") else []),
        Section("Head classes",
                "Association: a name token attends to the other occurrence of the same name. "
                "Manipulation: attention to a window of nearby positions. Parent: a clause's "
                "name token attends to its parent clause's name token (one chain hop).",
                [_heads_figure(result["heads"])], [_heads_table(result["heads"])],
                names=["head-classes"], key="head-classes"),
        *([Section("Attention of every head",
                   "Each head's attention pattern (query position down, key position across) "
                   "averaged over fresh sentences. The clauses are shuffled, so a head that "
                   "reads its own clause or a window of neighbours shows a band along the "
                   "diagonal, and one that looks up another clause is spread over its columns.",
                   [_attention_figure(result["attention"])], names=["attention-per-head"],
                   key="attention")]
          if result.get("attention") else []),
        Section("Shortcut probes",
                "Distributions a true chain-follower still solves; where accuracy drops, the "
                "model uses something other than the chain.",
                [_position_figure(probe_series, k, "Accuracy by chain position per probe")],
                [_probes_table(result["probes"]), _root_rule_table(result),
                 *_order_table(result)],
                names=["shortcut-probes"], key="shortcut-probes"),
    ]  # fmt: skip


def comparison_section(comparison: dict[str, Any]) -> Section:
    """Variants side by side: mean accuracy by chain position over seeds, and a table."""
    k = comparison["task"].get("train_k") or comparison["task"]["n_vars"]
    series, rows = {}, []
    for variant, runs in comparison["variants"].items():
        n = len(runs[0]["accuracy"])
        series[variant] = [sum(r["accuracy"][d] for r in runs) / len(runs) for d in range(n)]
        for r in runs:
            heads = [h["kind"] for h in r["heads"]]
            rows.append([variant, r["seed"], f"{r['acc_trained']:.4f}",
                         "-" if r["acc_untrained"] is None else f"{r['acc_untrained']:.4f}",
                         " ".join(f"{a:.2f}" for a in r["accuracy"][k:]),
                         "/".join(str(heads.count(kind)) for kind in TEMPLATES),
                         _mean_past_two(r.get("root_rule_agreement")),
                         f"{r['total_seconds']:.0f}"])  # fmt: skip
    return Section(
        "Encoder variants side by side",
        f"Same seeds {comparison['seeds']}; loss on chain positions 1..{k}.",
        [_position_figure(series, k, "Mean accuracy by chain position per variant")],
        [Table(["variant", "seed", "acc. trained", "acc. untrained", "untrained positions",
                "assoc./manip./parent heads", "root rule (pos. 3+)", "seconds"], rows)],
        names=["variants-accuracy-by-position"], key="variants",
    )  # fmt: skip


def _mean_past_two(agree: list[float] | None) -> str:
    return f"{sum(agree[2:]) / len(agree[2:]):.3f}" if agree and len(agree) > 2 else "-"
