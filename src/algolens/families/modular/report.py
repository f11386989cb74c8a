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
    if a.transformer is not None:
        out += [spectra_section(a.transformer), tf_activations_section(a.transformer)]
        if a.progress is not None and a.progress.steps:
            out.append(progress_section(a.transformer, a.progress, a.phases or {}))
    return out


def phase_lines(fig: go.Figure, phases: dict[str, int | None], log_x: bool) -> None:
    """A labelled dotted line at the end of each phase (a log axis takes log10 positions)."""
    for name, step in phases.items():
        if step:
            x = math.log10(step) if log_x else step
            fig.add_vline(
                x=x,
                line_dash="dot",
                annotation_text=PHASE_NAMES.get(name, name),
                annotation_position="top",
            )


def loss_section(metrics: list[dict[str, Any]], phases: dict[str, int | None]) -> Section:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    steps = [r["step"] for r in metrics]
    for key, col in (("train_loss", 1), ("val_loss", 1), ("train_acc", 2), ("val_acc", 2)):
        ys = [r.get(key) for r in metrics]
        fig.add_trace(go.Scatter(x=steps, y=ys, name=key, mode="lines"), row=1, col=col)
    fig.update_yaxes(type="log", title="loss", row=1, col=1)
    fig.update_yaxes(title="accuracy", range=[0, 1.02], row=1, col=2)
    fig.update_xaxes(type="log", title="step")
    phase_lines(fig, phases, log_x=True)
    fig.update_layout(height=380)
    return Section(
        "Training curves",
        "Train and validation loss and accuracy from metrics.jsonl (log axes); dotted lines mark "
        "where the phases end: memorised (train accuracy >= 99%), grokked (validation accuracy "
        ">= 99%), cleaned up (validation loss < 1e-3).",
        [fig],
        names=["training-curves"],
    )


def heatmaps(acts: torch.Tensor, neurons: list[int], title: str) -> go.Figure:
    """Activations over all (a, b), one square panel per neuron; smoothed so that a p x p grid
    drawn smaller than p pixels does not alias into moire."""
    titles = [f"neuron {n}" for n in neurons]
    fig = make_subplots(rows=1, cols=len(neurons), subplot_titles=titles)
    for i, n in enumerate(neurons):
        heat = go.Heatmap(z=acts[:, :, n].tolist(), showscale=False, zsmooth="best")
        fig.add_trace(heat, row=1, col=i + 1)
    fig.update_xaxes(title="b", constrain="domain")
    fig.update_yaxes(title="a", col=1)
    fig.update_yaxes(scaleanchor="x", constrain="domain", col=1)
    fig.update_layout(title=title, height=340)
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
    )


def fit_figure(res: MLPAnalysis) -> go.Figure:
    """Each top neuron's weights from a, from b and to the output (dots) and their fits."""
    top, x = _top(res), list(range(res.p))
    titles = [f"neuron {n}: {part}" for n in top for part in ("from a", "from b", "to output")]
    fig = make_subplots(rows=len(top), cols=3, subplot_titles=titles)
    parts = ((res.fits.a, "a"), (res.fits.b, "b"), (res.fits.out, "out"))
    for row, n in enumerate(top, start=1):
        for col, (fit, key) in enumerate(parts, start=1):
            dots = go.Scatter(
                x=x,
                y=res.weights[key][n].tolist(),
                mode="markers",
                marker_size=3,
                name="weight",
                showlegend=row == col == 1,
                marker_color="#1f77b4",
            )
            line = go.Scatter(
                x=x,
                y=fit.values(res.p)[n].tolist(),
                mode="lines",
                name="cosine fit",
                showlegend=row == col == 1,
                line_color="#d62728",
            )
            fig.add_trace(dots, row=row, col=col)
            fig.add_trace(line, row=row, col=col)
    fig.update_xaxes(title="input value (a, b) or output c")
    fig.update_yaxes(title="weight", col=1)
    fig.update_layout(height=240 * len(top), title="weights (dots) and their cosine fits (lines)")
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
    fig.update_layout(height=380, barmode="overlay")
    return fig


def fits_section(res: MLPAnalysis) -> Section:
    rel = res.relations
    return Section(
        "Cosine fits",
        f"Each neuron's weights from a, from b and to the output, fitted by the DFT. "
        f"{rel.share_same_freq:.0%} of neurons have one frequency in all three fits; median "
        f"|output phase - (phase a + phase b)| = {rel.median_abs_phase_error:.3f} rad.",
        [fit_figure(res), relation_figure(res)],
        names=["mlp-cosine-fits", "mlp-fit-relations"],
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
        "Right: networks of N random cosine neurons with no training.",
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
    heat = go.Figure(go.Heatmap(z=res.neuron_spectrum.sqrt().tolist(), zsmooth="best"))
    heat.update_layout(
        title="2D Fourier spectrum of the neuron activations (rms over neurons; row = a, "
        "column = b; const, cos 1, sin 1, cos 2, ...)",
        height=560,
        xaxis_title="Fourier component over b",
        yaxis_title="Fourier component over a",
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
    )


def tf_activations_section(res: TransformerAnalysis) -> Section:
    top = [int(n) for n in torch.argsort(res.clusters.fve, descending=True)[:HEATMAP_NEURONS]]
    return Section(
        "Neuron activations over (a, b)",
        "MLP activations at the '=' position of the neurons closest to one frequency.",
        [heatmaps(res.acts, top, "activation")],
        names=["transformer-activations"],
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
    phase_lines(fig, phases, log_x=False)
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
    )
