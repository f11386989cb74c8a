"""The cosine algorithm of a modular-addition MLP (Bussmann 2023), fitted, checked and rebuilt.

Each hidden neuron ``n`` of a trained one-hot MLP computes, to a good approximation,
``ReLU(s cos(w a + phi_a) + s cos(w b + phi_b) + o)`` and writes ``cos(w c + phi_a + phi_b)`` to
the logit of ``c``, with ``w = 2 pi k / p``. The functions here fit those cosines with the
discrete Fourier transform (exact for integer frequencies), check the relations between the
fits, replace neurons by their fits, and build networks from random cosine neurons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from algolens.analysis.progress import Stages
from algolens.families.modular.gates import BROKEN, Rate


@dataclass
class CosineFit:
    """``w[x] ~ offset + scale * cos(2 pi freq x / p + phase)`` for each row of a weight table."""

    freq: Int[Tensor, " n"]
    phase: Float[Tensor, " n"]  # radians in (-pi, pi]
    scale: Float[Tensor, " n"]
    offset: Float[Tensor, " n"]
    fve: Float[Tensor, " n"]  # fraction of the row's variance the cosine explains

    def values(self, p: int) -> Float[Tensor, "n p"]:
        """The fitted cosines evaluated at ``x = 0 .. p-1``."""
        x = torch.arange(p, dtype=torch.float64)
        w = 2 * math.pi * self.freq.to(torch.float64)[:, None] / p
        return self.offset[:, None] + self.scale[:, None] * torch.cos(w * x + self.phase[:, None])


def fit_cosines(rows: Float[Tensor, "n p"]) -> CosineFit:
    """Fit one cosine per row: the largest DFT coefficient with ``k`` in ``1 .. p // 2``.

    For ``w[x] = o + s cos(2 pi k x / p + phi)`` the DFT at ``k`` is ``s p / 2 e^{i phi}``
    (``s p e^{i phi}`` at ``k = p / 2``), so frequency, phase and scale are read off exactly.
    """
    rows = rows.to(torch.float64)
    p = rows.shape[1]
    offset = rows.mean(1)
    spectrum = torch.fft.rfft(rows - offset[:, None], dim=1)  # [n, p // 2 + 1]
    power = spectrum.abs()[:, 1:]
    k = power.argmax(1) + 1
    coeff = spectrum.gather(1, k[:, None])[:, 0]
    norm = torch.full(k.shape, p / 2, dtype=torch.float64)
    norm[2 * k == p] = float(p)
    fit = CosineFit(k, coeff.angle(), coeff.abs() / norm, offset, torch.zeros_like(offset))
    resid = (rows - fit.values(p)).pow(2).sum(1)
    total = (rows - offset[:, None]).pow(2).sum(1).clamp_min(1e-30)
    fit.fve = 1 - resid / total
    return fit


@dataclass
class MLPFits:
    """Cosine fits of every neuron's input weights from a, from b, and its output weights."""

    a: CosineFit
    b: CosineFit
    out: CosineFit


def fit_mlp(W_in: Float[Tensor, "d_in d_mlp"], W_out: Float[Tensor, "d_mlp p"], p: int) -> MLPFits:
    """Fits for a one-hot MLP whose first ``p`` inputs are a and next ``p`` are b."""
    return MLPFits(fit_cosines(W_in[:p].T), fit_cosines(W_in[p : 2 * p].T), fit_cosines(W_out))


def wrap(angle: Tensor) -> Tensor:
    """Angles into ``(-pi, pi]``."""
    return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi


@dataclass
class Relations:
    """How well Bussmann's relations between the three fits hold, per neuron and overall."""

    same_freq: Tensor  # [n] bool: a, b and output fits share the frequency
    phase_error: Float[Tensor, " n"]  # wrap(phase_out - phase_a - phase_b), radians
    scale_ratio: Float[Tensor, " n"]  # scale_b / scale_a
    share_same_freq: float
    median_abs_phase_error: float


def relations(fits: MLPFits) -> Relations:
    """Same frequency in all three fits; output phase ~ the sum of the input phases."""
    same = (fits.a.freq == fits.b.freq) & (fits.a.freq == fits.out.freq)
    err = wrap(fits.out.phase - fits.a.phase - fits.b.phase)
    ratio = fits.b.scale / fits.a.scale.clamp_min(1e-12)
    med = float(err[same].abs().median()) if bool(same.any()) else float("nan")
    return Relations(same, err, ratio, float(same.double().mean()), med)


def replace_with_fits(
    W_in: Float[Tensor, "d_in d_mlp"],
    W_out: Float[Tensor, "d_mlp p"],
    fits: MLPFits,
    neurons: Int[Tensor, " m"],
) -> tuple[Tensor, Tensor]:
    """Copies of the weights with the chosen neurons' a, b and output weights set to their fits."""
    p = W_out.shape[1]
    W_in, W_out = W_in.detach().clone().double(), W_out.detach().clone().double()
    W_in[:p, neurons] = fits.a.values(p)[neurons].T
    W_in[p : 2 * p, neurons] = fits.b.values(p)[neurons].T
    W_out[neurons] = fits.out.values(p)[neurons]
    return W_in, W_out


def mlp_accuracy(
    W_in: Float[Tensor, "d_in d_mlp"],
    b_in: Float[Tensor, " d_mlp"],
    W_out: Float[Tensor, "d_mlp p"],
    b_out: Float[Tensor, " p"] | None = None,
) -> float:
    """Accuracy of a one-hot ReLU MLP on all ``p * p`` pairs (one-hot inputs index rows)."""
    p = W_out.shape[1]
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    W_in, W_out = W_in.double(), W_out.double()
    hidden = torch.relu(W_in[a] + W_in[p + b] + b_in.double())  # [pairs, d_mlp]
    logits = hidden @ W_out + (0 if b_out is None else b_out.double())
    return float((logits.argmax(-1) == (a + b) % p).double().mean())


def replacement_curve(
    W_in: Tensor,
    b_in: Tensor,
    W_out: Tensor,
    b_out: Tensor,
    fits: MLPFits,
    fractions: list[float],
    seeds: int = 3,
) -> list[float]:
    """Mean accuracy over ``seeds`` random neuron orders with each fraction of neurons replaced."""
    n = W_out.shape[0]
    out = []
    for frac in fractions:
        accs = []
        for s in range(seeds):
            order = torch.randperm(n, generator=torch.Generator().manual_seed(s), device="cpu")
            chosen = order[: round(frac * n)].to(W_out.device)
            w_in, w_out = replace_with_fits(W_in, W_out, fits, chosen)
            accs.append(mlp_accuracy(w_in, b_in, w_out, b_out))
        out.append(sum(accs) / len(accs))
    return out


REPLACED = 0.8  # the described neurons replaced by their fits must keep this accuracy (Bussmann)


@dataclass(frozen=True)
class NeuronEffect:
    """What the neurons a claim describes do to the answers over all pairs: accuracy with them
    replaced by their cosine fits (the description is sufficient) and with them zeroed (they
    are needed)."""

    neurons: int
    of: int
    replaced: Rate
    zeroed: Rate

    @property
    def holds(self) -> bool:
        return self.neurons > 0 and self.replaced.value >= REPLACED and self.zeroed.value <= BROKEN

    def expected(self) -> str:
        return (
            f"those neurons, replaced by their fits, keep accuracy >= {REPLACED}, "
            f"and zeroed leave it <= {BROKEN}"
        )

    def text(self) -> str:
        return (
            f"{self.neurons} of {self.of} neurons: replaced by their fits {self.replaced.text()}, "
            f"zeroed {self.zeroed.text()}"
        )


def neuron_effect(
    W_in: Tensor, b_in: Tensor, W_out: Tensor, b_out: Tensor, fits: MLPFits, chosen: Tensor
) -> NeuronEffect:
    """Replace the ``chosen`` neurons (a bool mask) by their fits, or zero their output."""
    idx = torch.nonzero(chosen).flatten()
    pairs = W_out.shape[1] ** 2

    def as_rate(acc: float) -> Rate:
        return Rate(round(acc * pairs), pairs)

    w_in, w_out = replace_with_fits(W_in, W_out, fits, idx)
    silent = W_out.detach().clone()
    silent[idx] = 0.0
    return NeuronEffect(
        neurons=len(idx),
        of=len(chosen),
        replaced=as_rate(mlp_accuracy(w_in, b_in, w_out, b_out)),
        zeroed=as_rate(mlp_accuracy(W_in, b_in, silent, b_out)),
    )


@dataclass
class CosineNetwork:
    """Weights of an untrained network of random cosine neurons (one-hot MLP layout)."""

    W_in: Float[Tensor, "d_in n"]
    b_in: Float[Tensor, " n"]
    W_out: Float[Tensor, "n p"]


def cosine_network(
    p: int, n: int, seed: int, scale: float = 0.5, phase_range: float = math.pi, rule: str = "sum"
) -> CosineNetwork:
    """Bussmann's construction: ``k ~ U{0..p}``, phases ``s1, s2 ~ U[0, phase_range]``.

    Input weights ``scale cos(w x + s1)`` from a and ``scale cos(w x + s2)`` from b, output
    weights ``cos(w c + s1 + s2)``, no biases; Bussmann 2023 draws the phases from [0, pi].
    ``rule="difference"`` uses ``s1 - s2`` for the output phase instead: the wrong algorithm,
    a negative control for the construction claims.
    """
    gen = torch.Generator().manual_seed(seed)  # drawn on the CPU: the same network on any device
    here = torch.get_default_device()
    k = torch.randint(0, p + 1, (n,), generator=gen, device="cpu").double().to(here)
    s1 = torch.rand(n, generator=gen, dtype=torch.float64, device="cpu").to(here) * phase_range
    s2 = torch.rand(n, generator=gen, dtype=torch.float64, device="cpu").to(here) * phase_range
    x = torch.arange(p, dtype=torch.float64)[:, None]
    w = 2 * math.pi * k / p  # [n]
    W_in = torch.cat([scale * torch.cos(w * x + s1), scale * torch.cos(w * x + s2)])  # [2p, n]
    out_phase = s1 + s2 if rule == "sum" else s1 - s2
    W_out = torch.cos(w * x + out_phase).T  # [n, p]
    return CosineNetwork(W_in, torch.zeros(n, dtype=torch.float64), W_out)


def construction_curve(
    p: int, sizes: list[int], seeds: int = 3, phase_range: float = math.pi, rule: str = "sum"
) -> list[float]:
    """Mean accuracy on all pairs of cosine networks of each size, over ``seeds`` draws."""
    out = []
    for n in sizes:
        accs = []
        for s in range(seeds):
            net = cosine_network(p, n, seed=s, phase_range=phase_range, rule=rule)
            accs.append(mlp_accuracy(net.W_in, net.b_in, net.W_out))
        out.append(sum(accs) / len(accs))
    return out


def failing_sums(net: CosineNetwork) -> Int[Tensor, " m"]:
    """The values ``(a + b) mod p`` of the pairs a cosine network gets wrong (sorted, unique)."""
    p = net.W_out.shape[1]
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    logits = torch.relu(net.W_in[a] + net.W_in[p + b] + net.b_in) @ net.W_out
    wrong = logits.argmax(-1) != (a + b) % p
    return torch.unique(((a + b) % p)[wrong])


@dataclass
class MLPAnalysis:
    """Everything the MLP report shows, computed from the weights and the full table."""

    p: int
    acts: Float[Tensor, "p p d_mlp"]  # hidden activations over all pairs
    fits: MLPFits
    weights: dict[str, Tensor]  # the fitted rows: 'a', 'b' [d_mlp, p] and 'out' [d_mlp, p]
    relations: Relations
    fractions: list[float]
    replacement: list[float]
    sizes: list[int]
    construction: list[float]  # Bussmann 2023's recipe, phases U[0, pi]
    construction_2pi: list[float]  # phases U[0, 2 pi]
    failing_sums_512: list[int]  # (a + b) mod p of the pairs the 512-neuron network misses
    same_freq_effect: NeuronEffect | None = None  # the neurons whose fits share a frequency
    phase_effect: NeuronEffect | None = None  # the neurons whose output phase ~ a + b
    seeds: int = 3  # random neuron orders (replacement) and draws (construction): seeds 0..n-1


PI8 = math.pi / 8  # "output phase ~ phase a + phase b": within this
FRACTIONS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]
SIZES = [16, 32, 64, 128, 256, 512, 1024]


def analyse_mlp(
    W_in: Tensor,
    b_in: Tensor,
    W_out: Tensor,
    b_out: Tensor,
    seeds: int = 3,
    progress: bool = False,
    sizes: list[int] | None = None,
) -> MLPAnalysis:
    """Fits, relations, the replacement curve and the construction curves of a one-hot MLP
    (``progress`` shows a labelled bar over these stages). ``sizes``: the construction's
    network sizes (:data:`SIZES`; ``[]`` skips the construction, which is not the model's)."""
    sizes = SIZES if sizes is None else sizes
    W_in, b_in, W_out, b_out = (t.detach() for t in (W_in, b_in, W_out, b_out))
    p = W_out.shape[1]
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    acts = torch.relu(W_in[a] + W_in[p + b] + b_in).reshape(p, p, -1)
    with Stages("modular MLP analysis", 5, progress) as stages:
        fits = stages.run("cosine fits", fit_mlp, W_in, W_out, p)
        replacement = stages.run(
            "replacement", replacement_curve, W_in, b_in, W_out, b_out, fits, FRACTIONS, seeds
        )
        construction = stages.run("construction U[0, pi]", construction_curve, p, sizes, seeds)
        construction_2pi = stages.run(
            "construction U[0, 2 pi]", construction_curve, p, sizes, seeds, phase_range=2 * math.pi
        )
        missed = (
            stages.run("missed sums", failing_sums, cosine_network(p, 512, seed=0)).tolist()
            if 512 in sizes
            else []
        )
    fits_rel = relations(fits)
    weights = (W_in, b_in, W_out, b_out, fits)
    return MLPAnalysis(
        p=p,
        acts=acts,
        fits=fits,
        weights={"a": W_in[:p].T, "b": W_in[p : 2 * p].T, "out": W_out},
        relations=fits_rel,
        fractions=FRACTIONS,
        replacement=replacement,
        sizes=sizes,
        construction=construction,
        construction_2pi=construction_2pi,
        failing_sums_512=missed,
        seeds=seeds,
        same_freq_effect=neuron_effect(*weights, fits_rel.same_freq),
        phase_effect=neuron_effect(
            *weights, fits_rel.same_freq & (fits_rel.phase_error.abs() < PI8)
        ),
    )
