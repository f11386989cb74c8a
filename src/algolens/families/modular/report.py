"""The modular report's sections: the cosine MLP or the grokking transformer, drawing only."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from algolens.families.base import Analysis
from algolens.families.modular.analysis import ModularAnalysis
from algolens.families.modular.fourier import Progress, TransformerAnalysis, grokking_phases
from algolens.families.modular.gates import BROKEN, KEPT, MIN_ACCURACY, Gates, Rate
from algolens.families.modular.mlp import MLPAnalysis
from algolens.sections import Section, Table

HEATMAP_NEURONS = 4
PHASE_NAMES = {"memorised": "memorised", "grokked": "grokked", "cleaned_up": "cleaned up"}


def sections(run: Any, analysis: Analysis) -> list[Section]:
    """The training curves, then the MLP's or the transformer's sections."""
    a: ModularAnalysis = analysis.data
    out = [loss_section(a.metrics, a.phases or grokking_phases(a.metrics))]
    if a.mlp is not None:
        out += [activations_section(a.mlp), fits_section(a.mlp), replacement_section(a.mlp)]
    if a.gates is not None:
        out.append(gates_section(a.gates, a.mlp))
    if a.transformer is not None:
        out += [spectra_section(a.transformer), tf_activations_section(a.transformer)]
        if a.progress is not None and a.progress.steps:
            out.append(progress_section(a.transformer, a.progress, a.phases or {}))
    return out


PHASE_COLOURS = {"memorised": "#e8590c", "grokked": "#2b8a3e", "cleaned_up": "#7048e8"}


def phase_lines(
    fig: go.Figure,
    phases: dict[str, int | None],
    y_span: tuple[float, float],
    log_x: bool,
    cell: tuple[int, int] | None = None,
) -> None:
    """A dotted vertical line at the step where each phase ends, labelled beside it.

    The line is a trace, so its x is a step in data coordinates on any axis type (a shape's
    x on a log axis is log10 in some plotly.js versions and the step in others). The label is
    an annotation, whose x on a log axis is log10(step). ``cell`` = (row, col) of a subplot;
    the legend lists each phase once.
    """
    row, col = cell or (None, None)
    for name, step in phases.items():
        if step is None or step <= 0:
            continue
        label, colour = PHASE_NAMES.get(name, name), PHASE_COLOURS.get(name, "#495057")
        fig.add_trace(
            go.Scatter(
                x=[step, step],
                y=list(y_span),
                mode="lines",
                line=dict(dash="dot", color=colour, width=1.5),
                name=f"{label} (step {step:,})",
                legendgroup=f"phase-{name}",
                showlegend=cell is None or cell == (1, 1),
                hovertemplate=f"{label} at step {step:,}<extra></extra>",
            ),
            row=row,
            col=col,
        )
        fig.add_annotation(
            x=math.log10(step) if log_x else step,
            y=1,
            yref="y domain",
            text=label,
            textangle=-90,
            xanchor="right",
            yanchor="top",
            showarrow=False,
            font=dict(size=11, color=colour),
            row=row,
            col=col,
        )


def _positive_span(series: list[list[Any]]) -> tuple[float, float]:
    """Smallest and largest positive value over the series (a log axis shows only those)."""
    values = [float(v) for ys in series for v in ys if v is not None and v > 0]
    return (min(values), max(values)) if values else (1e-3, 1.0)


def loss_section(metrics: list[dict[str, Any]], phases: dict[str, int | None]) -> Section:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    steps = [r["step"] for r in metrics]
    for key, col in (("train_loss", 1), ("val_loss", 1), ("train_acc", 2), ("val_acc", 2)):
        ys = [r.get(key) for r in metrics]
        fig.add_trace(go.Scatter(x=steps, y=ys, name=key, mode="lines"), row=1, col=col)
    losses = [[r.get(k) for r in metrics] for k in ("train_loss", "val_loss")]
    phase_lines(fig, phases, _positive_span(losses), log_x=True, cell=(1, 1))
    phase_lines(fig, phases, (0.0, 1.0), log_x=True, cell=(1, 2))
    fig.update_yaxes(type="log", title="loss", row=1, col=1)
    fig.update_yaxes(title="accuracy", range=[0, 1.02], row=1, col=2)
    fig.update_xaxes(type="log", title="step")
    fig.update_layout(height=400, margin=dict(t=70))
    return Section(
        "Training curves",
        "Train and validation loss and accuracy from metrics.jsonl (log axes); dotted lines mark "
        "where the phases end: memorised (train accuracy >= 99%), grokked (validation accuracy "
        ">= 99%), cleaned up (validation loss < 1e-3).",
        [fig],
        names=["training-curves"],
        key="training-curves",
    )


def _rate_row(what: str, r: Rate) -> list[Any]:
    lo, hi = r.interval
    return [what, f"{r.value:.4f}", f"{r.hits:,} of {r.total:,}", f"{lo:.4f}-{hi:.4f}"]


def gates_section(gates: Gates, mlp: MLPAnalysis | None = None) -> Section:
    """What every claim about weights, activations or the log is gated on: the model's own
    accuracy as loaded, the log's agreement with it, and the effect of ablating what the
    claims name."""
    rows = [_rate_row(f"{name} pairs, model as loaded", r) for name, r in gates.rates.items()]
    if gates.ablation is not None:
        ab = gates.ablation
        rows += [
            _rate_row(f"key frequencies {ab.freqs} projected out of the MLP", ab.key),
            _rate_row(f"as many others {ab.others} (seed {ab.seed}) projected out", ab.other),
            _rate_row("logits restricted to the key frequencies", ab.restricted),
            _rate_row("logits with the key frequencies excluded", ab.excluded),
        ]
    for label, effect in (
        ("neurons sharing one frequency", mlp.same_freq_effect if mlp else None),
        ("neurons with output phase ~ a + b", mlp.phase_effect if mlp else None),
    ):
        if effect is not None:
            rows += [
                _rate_row(f"{label} ({effect.neurons}), replaced by fits", effect.replaced),
                _rate_row(f"{label} ({effect.neurons}), zeroed", effect.zeroed),
            ]
    log = f" {gates.log.text()}." if gates.log is not None else ""
    return Section(
        "What the claims are gated on",
        f"A claim read from weights, activations or the log counts only if the model as loaded "
        f"reaches validation accuracy >= {MIN_ACCURACY} (split seed {gates.split_seed}) and "
        f"what it names is used: ablating it leaves accuracy <= {BROKEN}, ablating as many other "
        f"frequencies leaves it >= {KEPT}.{log} Intervals are 95% Clopper-Pearson.",
        [],
        [Table(["accuracy of", "rate", "count", "95% interval"], rows)],
        key="claim-gates",
    )


CELL_PX = 3  # at least this many screen pixels per (a, b) cell of a p x p heatmap
PANEL_PX = 340  # a small p gets bigger cells, up to a panel of about this size


def pixel_grid(p: int, panels: int, cols: int, panel_px: int = PANEL_PX) -> dict[str, Any]:
    """make_subplots arguments and a layout in which each of ``panels`` p x p heatmaps spans
    exactly ``cell * p`` pixels each way (``cell`` a whole number, at least :data:`CELL_PX`):
    every cell is a whole number of pixels, so a heatmap drawn without smoothing shows each
    (a, b) as one block of the same size, with no moire."""
    cell = max(CELL_PX, panel_px // p)
    rows, side, gap_x, gap_y = math.ceil(panels / cols), cell * p, 80, 90
    margin = dict(l=70, r=110 if panels == 1 else 30, t=100, b=60)
    plot_w, plot_h = cols * side + (cols - 1) * gap_x, rows * side + (rows - 1) * gap_y
    return {
        "rows": rows,
        "cols": cols,
        "horizontal_spacing": gap_x / plot_w if cols > 1 else 0.0,
        "vertical_spacing": gap_y / plot_h if rows > 1 else 0.0,
        "layout": dict(
            autosize=False,
            width=plot_w + margin["l"] + margin["r"],
            height=plot_h + margin["t"] + margin["b"],
            margin=margin,
        ),
    }


def heatmaps(acts: torch.Tensor, neurons: list[int], title: str) -> go.Figure:
    """Activations over all (a, b), one square panel per neuron (two a row), drawn without
    smoothing at a whole number of pixels per cell (:func:`pixel_grid`)."""
    grid = pixel_grid(acts.shape[0], len(neurons), cols=min(2, len(neurons)))
    layout = grid.pop("layout")
    fig = make_subplots(subplot_titles=[f"neuron {n}" for n in neurons], **grid)
    for i, n in enumerate(neurons):
        heat = go.Heatmap(
            z=acts[:, :, n].tolist(),
            showscale=False,
            zsmooth=False,
            hovertemplate="a = %{y}, b = %{x}: %{z:.3g}<extra></extra>",
        )
        fig.add_trace(heat, row=i // grid["cols"] + 1, col=i % grid["cols"] + 1)
    fig.update_xaxes(title="b")
    fig.update_yaxes(title="a")
    fig.update_layout(title=title, **layout)
    return fig


# ---- MLP -------------------------------------------------------------------------------------
def _top(res: MLPAnalysis) -> list[int]:
    return torch.argsort(res.fits.a.fve, descending=True)[:HEATMAP_NEURONS].tolist()


def activations_section(res: MLPAnalysis) -> Section:
    return Section(
        "Hidden activations over (a, b)",
        "ReLU activations of the neurons with the best cosine fits, over all pairs.",
        [heatmaps(res.acts, _top(res), "activation")],
        names=["mlp-activations"],
        key="mlp-activations",
    )


FIT_PARTS = (("a", "from a", "a"), ("b", "from b", "b"), ("out", "to output", "c"))
FIT_ROW_PX, FIT_GAP_PX = 200, 110


def fit_panel(x: list[int], weights: list[float], fitted: list[float], k: int, var: str) -> list:
    """One fit panel's traces: the weights (dots) and the fitted cosine (line) against
    ``k * x mod p``, the input's phase at the neuron's frequency, where a cosine of frequency k
    is a single period (against x itself it would zigzag k times across the panel)."""
    p = len(x)
    order = sorted(x, key=lambda v: (k * v) % p)
    u = [(k * v) % p for v in order]
    hover = f"{var} = %{{customdata}}<br>{k}·{var} mod {p} = %{{x}}<br>%{{y:.3f}}<extra></extra>"
    dots = go.Scatter(
        x=u,
        y=[weights[v] for v in order],
        customdata=order,
        mode="markers",
        marker=dict(size=4, color="#1f77b4"),
        name="weight",
        hovertemplate=hover,
    )
    line = go.Scatter(
        x=u,
        y=[fitted[v] for v in order],
        mode="lines",
        name="cosine fit",
        line=dict(color="#d62728"),
        hoverinfo="skip",
    )
    return [dots, line]


def fit_figure(res: MLPAnalysis) -> go.Figure:
    """Each top neuron's weights from a, from b and to the output (dots) and their cosine
    fits (lines); every panel has its own title and axis titles."""
    top, x = _top(res), list(range(res.p))
    fits = {"a": res.fits.a, "b": res.fits.b, "out": res.fits.out}
    titles = [
        f"neuron {n} {part}, k = {int(fits[key].freq[n])}"
        for n in top
        for key, part, _ in FIT_PARTS
    ]
    plot_px = len(top) * FIT_ROW_PX + (len(top) - 1) * FIT_GAP_PX
    fig = make_subplots(
        rows=len(top),
        cols=3,
        subplot_titles=titles,
        horizontal_spacing=0.08,
        vertical_spacing=FIT_GAP_PX / plot_px if len(top) > 1 else 0.0,
    )
    for row, n in enumerate(top, start=1):
        for col, (key, part, var) in enumerate(FIT_PARTS, start=1):
            fit, k = fits[key], int(fits[key].freq[n])
            weights, fitted = res.weights[key][n].tolist(), fit.values(res.p)[n].tolist()
            for trace in fit_panel(x, weights, fitted, k, var):
                trace.showlegend = row == col == 1
                fig.add_trace(trace, row=row, col=col)
            fig.update_xaxes(title=f"k·{var} mod {res.p}", row=row, col=col)
            fig.update_yaxes(title=f"weight {part}", row=row, col=col)
    fig.update_layout(
        height=plot_px + 150,
        margin=dict(t=100, b=50),
        title="Weights (dots) and their cosine fits (lines), inputs ordered by k·x mod p",
    )
    return fig


def relation_figure(res: MLPAnalysis) -> go.Figure:
    fits = res.fits
    names = ("frequency: a vs b", "output phase vs a + b phase", "fraction of variance explained")
    fig = make_subplots(rows=1, cols=3, subplot_titles=names)
    same = go.Scatter(
        x=fits.a.freq.tolist(), y=fits.b.freq.tolist(), mode="markers", showlegend=False
    )
    fig.add_trace(same, row=1, col=1)
    wrapped = torch.remainder(fits.a.phase + fits.b.phase + math.pi, 2 * math.pi) - math.pi
    phase = go.Scatter(
        x=wrapped.tolist(), y=fits.out.phase.tolist(), mode="markers", showlegend=False
    )
    fig.add_trace(phase, row=1, col=2)
    for name, fit in (("a", fits.a), ("b", fits.b), ("out", fits.out)):
        fig.add_trace(go.Histogram(x=fit.fve.tolist(), name=name, opacity=0.6), row=1, col=3)
    fig.update_xaxes(title="frequency from a", row=1, col=1)
    fig.update_yaxes(title="frequency from b", row=1, col=1)
    fig.update_xaxes(title="phase a + phase b (rad)", row=1, col=2)
    fig.update_yaxes(title="output phase (rad)", row=1, col=2)
    fig.update_xaxes(title="share of variance", row=1, col=3)
    fig.update_yaxes(title="neurons", row=1, col=3)
    fig.update_layout(
        height=420, barmode="overlay", title="How the three fits of each neuron relate"
    )
    return fig


def fits_section(res: MLPAnalysis) -> Section:
    rel = res.relations
    return Section(
        "Cosine fits",
        f"Each neuron's weights from a, from b and to the output, fitted by the DFT. A panel "
        f"orders the inputs x by k·x mod p (k: the fitted frequency), where a cosine of "
        f"frequency k is one period. {rel.share_same_freq:.0%} of neurons have one frequency "
        f"in all three fits; median "
        f"|output phase - (phase a + phase b)| = {rel.median_abs_phase_error:.3f} rad.",
        [fit_figure(res), relation_figure(res)],
        names=["mlp-cosine-fits", "mlp-fit-relations"],
        key="cosine-fits",
    )


def replacement_section(res: MLPAnalysis) -> Section:
    curves = make_subplots(rows=1, cols=2, subplot_titles=("replacement", "construction"))
    curves.add_trace(
        go.Scatter(x=res.fractions, y=res.replacement, name="replaced by fits"), row=1, col=1
    )
    curves.add_trace(
        go.Scatter(x=res.sizes, y=res.construction, name="phases U[0, pi] (paper)"), row=1, col=2
    )
    curves.add_trace(
        go.Scatter(x=res.sizes, y=res.construction_2pi, name="phases U[0, 2 pi]"), row=1, col=2
    )
    curves.update_xaxes(title="fraction of neurons replaced", row=1, col=1)
    curves.update_xaxes(title="random cosine neurons", type="log", row=1, col=2)
    curves.update_yaxes(title="accuracy on all pairs", range=[0, 1.02])
    curves.update_layout(height=380)
    rows = [[f"{f:.0%}", f"{a:.4f}"] for f, a in zip(res.fractions, res.replacement, strict=True)]
    built = zip(res.sizes, res.construction, res.construction_2pi, strict=True)
    return Section(
        "Replacement and construction",
        "Left: accuracy when a growing share of neurons is replaced by its cosine fits. "
        "Right: networks of N random cosine neurons with no training. The construction is "
        "Bussmann 2023's, not this model's: the same networks are built for any model, so its "
        "claims are reported as not applicable to the model and never counted as its passes.",
        [curves],
        [
            Table(["neurons replaced", "accuracy"], rows, "mean over 3 random neuron orders"),
            Table(
                ["neurons", "accuracy, phases U[0, pi]", "accuracy, phases U[0, 2 pi]"],
                [[n, f"{a:.4f}", f"{b:.4f}"] for n, a, b in built],
                f"mean over 3 draws; the 512-neuron U[0, pi] network (seed 0) fails only where "
                f"(a + b) mod p is in {res.failing_sums_512}",
            ),
        ],
        names=["mlp-replacement-construction"],
        key="replacement-construction",
    )


# ---- transformer -----------------------------------------------------------------------------
def spectra_section(res: TransformerAnalysis) -> Section:
    ks = list(range(1, res.p // 2 + 1))
    spec = make_subplots(rows=1, cols=2, subplot_titles=("embedding W_E", "logits (over c)"))
    spec.add_trace(go.Bar(x=ks, y=res.embed_norms.tolist(), showlegend=False), row=1, col=1)
    spec.add_trace(go.Bar(x=ks, y=res.logit_norms.tolist(), showlegend=False), row=1, col=2)
    spec.update_xaxes(title="frequency k")
    spec.update_yaxes(title="norm")
    spec.update_layout(height=340, title="norm of each Fourier frequency")
    grid = pixel_grid(res.p, 1, cols=1, panel_px=452)
    layout = grid.pop("layout")
    heat = make_subplots(**grid)
    heat.add_trace(
        go.Heatmap(
            z=res.neuron_spectrum.sqrt().tolist(),
            zsmooth=False,
            colorbar=dict(title="rms"),
            hovertemplate="component %{y} over a, %{x} over b: %{z:.3g}<extra></extra>",
        )
    )
    heat.update_layout(
        title="2D Fourier spectrum of the neuron activations<br><sub>rms over neurons; "
        "components const, cos 1, sin 1, cos 2, ...</sub>",
        xaxis_title="Fourier component over b",
        yaxis_title="Fourier component over a",
        **layout,
    )
    counts = torch.bincount(res.clusters.freq[res.clusters.fve > 0.85], minlength=res.p // 2 + 1)
    clus = go.Figure(go.Bar(x=ks, y=counts[1:].tolist()))
    clus.update_layout(
        title="neurons per frequency cluster (share of variance > 0.85)",
        xaxis_title="frequency k",
        yaxis_title="neurons",
        height=320,
    )
    return Section(
        "Fourier spectra and key frequencies",
        f"Key frequencies (>= 2 neurons whose variance is > 85% in one frequency): "
        f"{res.key_freqs}. {int(counts[1:].sum())} of {res.acts.shape[-1]} neurons cluster.",
        [spec, clus, heat],
        names=["fourier-norms", "frequency-clusters", "neuron-spectrum"],
        key="fourier",
    )


def tf_activations_section(res: TransformerAnalysis) -> Section:
    top = [int(n) for n in torch.argsort(res.clusters.fve, descending=True)[:HEATMAP_NEURONS]]
    return Section(
        "Neuron activations over (a, b)",
        "MLP activations at the '=' position of the neurons closest to one frequency.",
        [heatmaps(res.acts, top, "activation")],
        names=["transformer-activations"],
        key="transformer-activations",
    )


def progress_section(
    res: TransformerAnalysis, prog: Progress, phases: dict[str, int | None]
) -> Section:
    fig = go.Figure()
    series = (
        ("train loss", prog.train_loss),
        ("val loss", prog.val_loss),
        ("restricted loss", prog.restricted),
        ("excluded loss", prog.excluded),
    )
    for name, ys in series:
        fig.add_trace(go.Scatter(x=prog.steps, y=ys, name=name, mode="lines+markers"))
    phase_lines(fig, phases, _positive_span([ys for _, ys in series]), log_x=False)
    fig.update_yaxes(type="log", title="loss")
    fig.update_layout(height=420, xaxis_title="step")
    columns = zip(
        prog.steps, prog.train_loss, prog.val_loss, prog.restricted, prog.excluded, strict=True
    )
    rows = [[s, f"{a:.3g}", f"{b:.3g}", f"{c:.3g}", f"{d:.3g}"] for s, a, b, c, d in columns]
    return Section(
        "Progress measures over the checkpoints",
        "Restricted loss keeps only the logits' cos/sin(w_k (a + b)) components at the final "
        f"key frequencies {res.key_freqs} (all pairs); excluded loss removes them (training "
        "pairs). Restricted loss falls before validation loss does and excluded loss rises as "
        "the circuit forms: the phases of grokking.",
        [fig],
        [Table(["step", "train", "val", "restricted", "excluded"], rows)],
        names=["progress-measures"],
        key="progress-measures",
    )
