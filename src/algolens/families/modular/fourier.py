"""The Fourier view of modular addition (Nanda et al. 2023): basis, key frequencies, progress.

Functions of ``x in 0..p-1`` are written in the orthonormal basis ``1, cos(wx), sin(wx)`` with
``w = 2 pi k / p`` for ``k = 1 .. (p-1)//2`` (and the alternating ``cos(pi x)`` when ``p`` is
even). A function of a pair ``(a, b)`` is a ``[p, p]`` table and transforms on both axes.

Progress measures over training (on the full table of answer logits ``L[a, b, c]``):

- restricted loss: keep only each logit's components along ``cos(w_k (a + b))`` and
  ``sin(w_k (a + b))`` for the key frequencies (plus its mean over pairs), loss on all pairs;
- excluded loss: remove exactly those components, loss on the training pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor


def fourier_basis(p: int) -> tuple[Float[Tensor, "p p"], list[str]]:
    """Orthonormal Fourier basis over ``0..p-1`` as rows, and the row names (``'cos 3'``)."""
    x = torch.arange(p, dtype=torch.float64)
    rows, names = [torch.ones(p, dtype=torch.float64)], ["const"]
    for k in range(1, (p - 1) // 2 + 1):
        w = 2 * math.pi * k / p
        rows += [torch.cos(w * x), torch.sin(w * x)]
        names += [f"cos {k}", f"sin {k}"]
    if p % 2 == 0:
        rows.append(torch.cos(math.pi * x))
        names.append(f"cos {p // 2}")
    basis = torch.stack(rows)
    return basis / basis.norm(dim=1, keepdim=True), names


def n_frequencies(p: int) -> int:
    """How many non-zero frequencies the basis has: ``k = 1 .. p // 2``."""
    return p // 2


def row_frequency(p: int) -> Int[Tensor, " p"]:
    """The frequency ``k`` of each basis row (0 for the constant)."""
    return (torch.arange(p) + 1) // 2


def fourier_2d(
    table: Float[Tensor, "p p *rest"], inverse: bool = False
) -> Float[Tensor, "p p *rest"]:
    """Transform a function of ``(a, b)`` on both axes: ``B @ table @ B.T`` per trailing index.

    ``inverse`` maps coefficients back to the table (``B.T @ coeff @ B``: the basis is
    orthonormal).
    """
    p = table.shape[0]
    basis, _ = fourier_basis(p)
    basis = basis.to(table.dtype)
    if inverse:
        basis = basis.T
    rest = table.shape[2:]
    x = (basis @ table.reshape(p, -1)).reshape(p, p, -1)  # transform a: [k_a, b, rest]
    x = (basis @ x.transpose(0, 1).reshape(p, -1)).reshape(
        p, p, -1
    )  # transform b: [k_b, k_a, rest]
    return x.transpose(0, 1).reshape(p, p, *rest)


def frequency_mask(p: int, freqs: list[int]) -> Tensor:
    """``[p, p]`` bools: the 2D Fourier terms that belong to the frequencies ``freqs``.

    A term belongs to frequency ``k`` when its row and column frequencies are ``k`` or 0
    (``cos(wa)``, ``cos(wa) sin(wb)``, ...); the constant term belongs to none.
    """
    k = row_frequency(p)
    mask = torch.zeros(p, p, dtype=torch.bool)
    for f in freqs:
        rows = (k == f) | (k == 0)
        mask |= rows[:, None] & rows[None, :]
    mask[0, 0] = False
    return mask


def remove_frequencies(
    table: Float[Tensor, "p p *rest"], freqs: list[int]
) -> Float[Tensor, "p p *rest"]:
    """``table`` with its 2D Fourier terms at ``freqs`` projected out (an ablation of those
    frequencies from, e.g., every neuron's activations over all pairs)."""
    coeff = fourier_2d(table)
    mask = frequency_mask(table.shape[0], freqs).to(table.device)
    return fourier_2d(coeff * ~mask.reshape(*mask.shape, *[1] * (table.dim() - 2)), inverse=True)


def frequency_norms(weights: Float[Tensor, "p d"]) -> Float[Tensor, " n_freq"]:
    """Norm of each frequency ``k = 1 .. p//2`` of a table over ``0..p-1`` (e.g. ``W_E[:p]``).

    Sums the squared cos and sin coefficients over the columns; a few large entries are the
    model's key frequencies.
    """
    p = weights.shape[0]
    basis, _ = fourier_basis(p)
    coeff = basis @ weights.to(torch.float64)  # [p, d]
    power = coeff.pow(2).sum(-1)
    k = row_frequency(p)
    return torch.zeros(p // 2 + 1, dtype=torch.float64).index_add_(0, k, power)[1:].sqrt()


@dataclass
class NeuronFrequencies:
    """Each neuron's dominant frequency (1-based) and the share of its variance it explains."""

    freq: Int[Tensor, " n"]
    fve: Float[Tensor, " n"]
    per_freq: Float[Tensor, "n n_freq"]  # share of each neuron's variance at each frequency


def neuron_frequencies(acts: Float[Tensor, "p p n"]) -> NeuronFrequencies:
    """Cluster neurons by frequency from their activations over all pairs ``(a, b)``.

    A term of the 2D transform belongs to frequency ``k`` when its row and column frequencies are
    ``k`` or 0 (``cos(wa)``, ``cos(wa) sin(wb)``, ...). The share of a neuron's non-constant
    variance in frequency ``k``'s terms, maximised over ``k``, gives its cluster; the paper
    counts a neuron when that share is above 0.85.
    """
    p = acts.shape[0]
    coeff = fourier_2d(acts.to(torch.float64)).pow(2)  # [p, p, n]
    coeff[0, 0] = 0.0
    total = coeff.sum((0, 1)).clamp_min(1e-30)  # [n]
    k = row_frequency(p)
    group = torch.zeros(p // 2 + 1, p, dtype=torch.float64, device=coeff.device)
    group[k, torch.arange(p)] = 1.0  # [freq, p]: which frequency each basis row has
    power = torch.einsum("fi,ijn,gj->fgn", group, coeff, group)  # [freq_a, freq_b, n]
    f = torch.arange(1, p // 2 + 1)
    # frequency k's terms: (k, k), (k, 0), (0, k) and (0, 0), which is 0 here
    per_freq = (power[f, f] + power[f, 0] + power[0, f] + power[0, 0]) / total  # [n_freq, n]
    per_freq = per_freq.T  # [n, n_freq]
    fve, idx = per_freq.max(dim=1)
    return NeuronFrequencies(freq=idx + 1, fve=fve, per_freq=per_freq)


def key_frequencies(
    clusters: NeuronFrequencies, threshold: float = 0.85, min_neurons: int = 2
) -> list[int]:
    """Frequencies that at least ``min_neurons`` neurons follow with share above ``threshold``."""
    good = clusters.freq[clusters.fve > threshold]
    counts = torch.bincount(good, minlength=int(clusters.per_freq.shape[1]) + 1)
    return [int(f) for f in torch.nonzero(counts >= min_neurons).flatten() if f > 0]


def sum_directions(p: int, freqs: list[int]) -> Float[Tensor, "pairs m"]:
    """Orthonormal columns ``cos(w_k (a + b))``, ``sin(w_k (a + b))`` over pairs ``a * p + b``."""
    a = torch.arange(p).repeat_interleave(p).to(torch.float64)
    b = torch.arange(p).repeat(p).to(torch.float64)
    cols = []
    for k in freqs:
        w = 2 * math.pi * k / p
        cols += [torch.cos(w * (a + b)), torch.sin(w * (a + b))]
    if not cols:
        return torch.zeros(p * p, 0, dtype=torch.float64)
    d = torch.stack(cols, dim=1)
    return d / d.norm(dim=0, keepdim=True)


def _loss(logits: Tensor, targets: Tensor) -> float:
    return float(-torch.log_softmax(logits, -1).gather(-1, targets[:, None]).mean())


def restricted_excluded_loss(
    logits: Float[Tensor, "pairs p"],
    targets: Int[Tensor, " pairs"],
    freqs: list[int],
    train_idx: Int[Tensor, " n_train"],
) -> tuple[float, float]:
    """(restricted loss on all pairs, excluded loss on the training pairs) of full-table logits."""
    p = math.isqrt(logits.shape[0])
    logits = logits.to(torch.float64)
    d = sum_directions(p, freqs)  # [pairs, m]
    key_part = d @ (d.T @ logits)  # [pairs, p]
    restricted = logits.mean(0, keepdim=True) + key_part
    excluded = logits - key_part
    return _loss(restricted, targets), _loss(excluded[train_idx], targets[train_idx])


@dataclass
class TransformerAnalysis:
    """The Fourier picture of a trained 1-layer modular-addition transformer."""

    p: int
    embed_norms: Float[Tensor, " n_freq"]  # per-frequency norm of W_E[:p]
    acts: Float[Tensor, "p p d_mlp"]  # MLP activations at the last position
    clusters: NeuronFrequencies
    key_freqs: list[int]
    neuron_spectrum: Float[Tensor, "p p"]  # mean squared 2D Fourier coefficient over neurons
    logit_norms: Float[Tensor, " n_freq"]  # per-frequency norm of the logits along c


def analyse_transformer(
    W_E: Tensor, acts: Float[Tensor, "pairs d_mlp"], logits: Tensor
) -> TransformerAnalysis:
    """Key frequencies from the embedding and the neurons, clusters and spectra."""
    p = logits.shape[1]
    acts = acts.detach().to(torch.float64).reshape(p, p, -1)
    clusters = neuron_frequencies(acts)
    spectrum = fourier_2d(acts).pow(2).mean(-1)
    spectrum[0, 0] = 0.0
    return TransformerAnalysis(
        p=p,
        embed_norms=frequency_norms(W_E[:p].detach()),
        acts=acts,
        clusters=clusters,
        key_freqs=key_frequencies(clusters),
        neuron_spectrum=spectrum,
        logit_norms=frequency_norms(logits.detach().T),
    )


@dataclass
class Progress:
    """Restricted and excluded loss at each saved checkpoint."""

    steps: list[int]
    restricted: list[float]
    excluded: list[float]
    val_loss: list[float]
    train_loss: list[float]


def progress_measures(
    checkpoints: list[tuple[int, Float[Tensor, "pairs p"]]],
    targets: Int[Tensor, " pairs"],
    freqs: list[int],
    train_idx: Tensor,
    val_idx: Tensor,
) -> Progress:
    """Restricted / excluded / train / val loss of full-table logits at each (step, logits)."""
    out = Progress([], [], [], [], [])
    for step, logits in checkpoints:
        r, e = restricted_excluded_loss(logits, targets, freqs, train_idx)
        out.steps.append(step)
        out.restricted.append(r)
        out.excluded.append(e)
        out.train_loss.append(_loss(logits[train_idx].double(), targets[train_idx]))
        out.val_loss.append(_loss(logits[val_idx].double(), targets[val_idx]))
    return out


def grokking_phases(metrics: list[dict[str, float]]) -> dict[str, int | None]:
    """Steps that end the phases: memorised (train acc >= 99%), grokked (val acc >= 99%),
    cleaned up (val loss < 1e-3). ``None`` when a phase never ends in the log."""

    def first(pred: Callable[[dict[str, float]], bool]) -> int | None:
        return next((int(r["step"]) for r in metrics if pred(r)), None)

    return {
        "memorised": first(lambda r: r.get("train_acc", 0.0) >= 0.99),
        "grokked": first(lambda r: r.get("val_acc", 0.0) >= 0.99),
        "cleaned_up": first(lambda r: r.get("val_loss", 1.0) < 1e-3),
    }
