"""The cosine MLP's algorithm as a causal model over its neurons' frequencies and phases.

Each neuron of a trained one-hot MLP has one frequency ``k`` (its input weights from ``a`` and
``b`` and its output weights are cosines of ``k``; Bussmann 2023), and the neurons of one
frequency together write a vote ``A_k cos(2 pi k (c - s) / p)`` for every answer ``c``, peaked
at ``s = (a + b) mod p`` (the key-frequency picture of Nanda et al. 2023). As a high-level causal
model: one variable ``F<k>`` per frequency, the sum as that frequency's neurons carry it, and the
answer ``argmax_c sum_k A_k cos(2 pi k (c - F<k>) / p)``. With every variable at its own value
the answer is the sum; set some of them from another question and the vote says what wins.

The interchange: the neurons of a random set of frequencies take their activations from a source
question, the rest keep the base's, and the model's answer is compared with the vote's. Where
the swapped frequencies hold a clear majority (or minority) of the vote, the answer is any model
whose neurons all push towards the sum; the test is the contested pairs, where the swapped
frequencies hold between 30% and 70% of the vote and only the amplitudes and phases decide.
A planted network whose neurons write exact cosine votes passes it (tests/unit); an untrained
copy does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from algolens.analysis.hypothesis import Hypothesis, Thresholds, Variable
from algolens.analysis.iia import IIAResult
from algolens.families.modular.mlp import fit_cosines
from algolens.tasks.base import Batch

SOURCE = "Bussmann 2023 (cosine neurons); Nanda et al. 2023 (the key-frequency vote)"
CONTESTED = (0.3, 0.7)  # the swapped frequencies' share of the vote in a contested pair
CLEAR = 0.8  # a clear pair: the swapped frequencies hold at least this share
BINS = 10
MAX_ROUNDS = 20  # rounds of draws for the contested pairs


def hidden_table(model: Any) -> Tensor:
    """The hidden activations of every question ``(a, b)`` (row ``a * p + b``), in float64."""
    p = model.cfg.d_out
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    w_in, b_in = model.W_in.detach().double().cpu(), model.b_in.detach().double().cpu()
    return model.act(w_in[a] + w_in[p + b] + b_in)


def logits_of(model: Any, hidden: Tensor) -> Tensor:
    return hidden @ model.W_out.detach().double().cpu() + model.b_out.detach().double().cpu()


@dataclass(frozen=True)
class Vote:
    """The frequencies of a one-hot MLP's neurons (by its output weights' cosine fits), which
    neurons each has, and the amplitude of each frequency's vote, measured on every question."""

    p: int
    freqs: list[int]
    members: Tensor  # [frequency, d_mlp] bool
    amplitude: Tensor  # [frequency] float64: the vote at the sum above the mean over answers

    @property
    def share(self) -> Tensor:
        return self.amplitude / self.amplitude.sum()

    def answers(self, carried: Tensor) -> Tensor:
        """The vote's answer for each row of per-frequency sums ``[n, frequency]``."""
        c = torch.arange(self.p, dtype=torch.float64)
        k = torch.tensor(self.freqs, dtype=torch.float64)
        out = []
        for rows in carried.double().split(2048):  # [rows, frequency, answer] stays small
            angle = 2 * math.pi * k[None, :, None] * (c[None, None] - rows[..., None]) / self.p
            out.append((self.amplitude[None, :, None] * torch.cos(angle)).sum(1).argmax(-1))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)

    def hypothesis(self) -> Hypothesis:
        """The vote as a :class:`Hypothesis`: one variable per frequency, the answer the
        vote's argmax (in plain Python: the oracle the vectorised :meth:`answers` is tested
        against)."""
        p, names = self.p, [f"F{k}" for k in self.freqs]
        weights = list(zip(self.freqs, self.amplitude.tolist(), names, strict=True))

        def answer(q: tuple[int, ...], v: Mapping[str, int]) -> tuple[int, ...]:
            def score(c: int) -> float:
                return sum(w * math.cos(2 * math.pi * k * (c - v[n]) / p) for k, w, n in weights)

            return (max(range(p), key=score),)

        variables = tuple(
            Variable(n, lambda q, v: (q[0] + q[1]) % p, (), f"the sum at frequency {k}", None,
                     (0, 1)) for k, n in zip(self.freqs, names, strict=True)
        )  # fmt: skip
        return Hypothesis(f"modadd_vote_p{p}", variables, answer, _questions, SOURCE)


def _questions(b: Batch) -> list[tuple[int, ...]]:
    return list(zip(b.labels["a"].tolist(), b.labels["b"].tolist(), strict=True))


def vote_of(model: Any) -> Vote:
    """Group the neurons by the frequency of their output weights and measure each group's
    vote: its logit at the sum above its mean logit, over every question (frequencies whose
    vote is not positive are left out: they do not push towards the sum)."""
    p = model.cfg.d_out
    hidden = hidden_table(model)
    answer = sums(torch.arange(p * p), p)
    freq = fit_cosines(model.W_out.detach().double().cpu()).freq
    w_out = model.W_out.detach().double().cpu()
    keep: list[tuple[int, Tensor, float]] = []
    for k in sorted(set(freq.tolist())):
        group = freq == k
        part = hidden[:, group] @ w_out[group]
        amp = float((part.gather(1, answer[:, None])[:, 0] - part.mean(1)).mean())
        if amp > 0:
            keep.append((k, group, amp))
    keep.sort(key=lambda t: -t[2])
    return Vote(
        p,
        [k for k, _, _ in keep],
        torch.stack([g for _, g, _ in keep]),
        torch.tensor([a for _, _, a in keep], dtype=torch.float64),
    )


def interchanged(model: Any, vote: Vote, base: Tensor, source: Tensor, chosen: Tensor) -> Tensor:
    """The model's answers with the neurons of the ``chosen`` frequencies (``[n, frequency]``)
    taking their activations from the source questions (rows of the question table)."""
    hidden = hidden_table(model)
    neurons = (chosen.double() @ vote.members.double()) > 0
    return logits_of(model, torch.where(neurons, hidden[source], hidden[base])).argmax(-1)


@dataclass
class Drawn:
    """Interchanges whose vote changes the answer: questions as rows of the table, the chosen
    frequencies, the share of the vote they hold, and the vote's counterfactual answer."""

    base: Tensor
    source: Tensor
    chosen: Tensor
    share: Tensor
    counterfactual: Tensor

    def rows(self, keep: Tensor) -> Drawn:
        return Drawn(*(t[keep] for t in vars(self).values()))


def sums(rows: Tensor, p: int) -> Tensor:
    """The sum ``(a + b) mod p`` of questions given as rows ``a * p + b`` of the table."""
    return (rows // p + rows % p) % p


def draw(vote: Vote, n: int, gen: torch.Generator) -> Drawn:
    """``n`` candidate interchanges, each frequency chosen with a per-pair probability drawn
    uniformly (so every share of the vote is drawn), kept where the vote changes the answer."""
    p, g = vote.p, len(vote.freqs)
    base = torch.randint(0, p * p, (n,), generator=gen)
    source = torch.randint(0, p * p, (n,), generator=gen)
    chosen = torch.rand(n, g, generator=gen) < torch.rand(n, 1, generator=gen)
    sum_b, sum_s = sums(base, p), sums(source, p)
    cf = vote.answers(torch.where(chosen, sum_s[:, None], sum_b[:, None]))
    out = Drawn(base, source, chosen, (chosen.double() * vote.share).sum(1), cf)
    return out.rows(cf != sum_b)


def _result(name: str, kind: str, got: Tensor, cf: Tensor, th: Thresholds) -> IIAResult:
    hits = int((got == cf).sum())
    return IIAResult(name, "frequency groups", kind, len(cf), hits, 0.0, th.confidence)


def measure_vote(model: Any, pairs: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """The vote's interchange on ``pairs`` contested pairs (and every clear pair drawn beside
    them), per tenth of the vote swapped, and the contested pairs in an untrained copy."""
    from algolens.analysis.iia import untrained_like

    vote, th = vote_of(model), Thresholds()
    gen = torch.Generator().manual_seed(seed)
    drawn = draw(vote, 8 * pairs, gen)
    lo, hi = CONTESTED
    contested = drawn.rows((drawn.share >= lo) & (drawn.share <= hi))
    for _ in range(MAX_ROUNDS):  # a vote of one dominant frequency has no contested pair
        if len(contested.base) >= pairs:
            break
        more = draw(vote, 8 * pairs, gen)
        contested = _cat(contested, more.rows((more.share >= lo) & (more.share <= hi)))
    contested = contested.rows(torch.arange(min(pairs, len(contested.base))))
    got = interchanged(model, vote, drawn.base, drawn.source, drawn.chosen)
    clear = drawn.share >= CLEAR  # a subset of the drawn pairs: their answers are in ``got``
    found = {
        "contested": _result("S", "contested", interchanged(model, vote, contested.base,
                             contested.source, contested.chosen), contested.counterfactual, th),
        "clear": _result("S", "clear", got[clear], drawn.counterfactual[clear], th),
    }  # fmt: skip
    control = untrained_like(model)
    answer = interchanged(control, vote, contested.base, contested.source, contested.chosen)
    return {
        "hypothesis": vote.hypothesis().name,
        "source": SOURCE,
        "thresholds": {"iia": th.iia, "control_margin": th.control_margin},
        "frequencies": [
            {"frequency": k, "neurons": int(m.sum()), "share": round(float(s), 4)}
            for k, m, s in zip(vote.freqs, vote.members, vote.share, strict=True)
        ],
        **{kind: r.to_json() for kind, r in found.items()},
        "untrained": _result("S", "contested", answer, contested.counterfactual, th).to_json(),
        "bins": _bins(vote, drawn, got),
        "contested_share": list(CONTESTED),
        "clear_share": CLEAR,
    }


def _cat(a: Drawn, b: Drawn) -> Drawn:
    return Drawn(
        *(torch.cat([x, y]) for x, y in zip(vars(a).values(), vars(b).values(), strict=True))
    )


def _bins(vote: Vote, drawn: Drawn, got: Tensor) -> list[dict[str, Any]]:
    """Per tenth of the vote swapped: pairs, the share the model answers as the vote does, and
    the share it answers neither the base's sum nor the source's."""
    sum_b, sum_s = sums(drawn.base, vote.p), sums(drawn.source, vote.p)
    neither = (got != sum_b) & (got != sum_s)
    out = []
    for i in range(BINS):
        lo, hi = i / BINS, (i + 1) / BINS
        m = (drawn.share >= lo) & ((drawn.share < hi) | (i == BINS - 1))
        n = int(m.sum())
        row: dict[str, Any] = {"share": [lo, hi], "pairs": n, "iia": None, "neither": None}
        if n:
            row["iia"] = round(float((got[m] == drawn.counterfactual[m]).double().mean()), 4)
            row["neither"] = round(float(neither[m].double().mean()), 4)
        out.append(row)
    return out
