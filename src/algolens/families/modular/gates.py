"""What ties a modular claim to what the model does: its measured accuracy, and the causal
effect of what the claim names.

A claim read from weights, activations or a log (key frequencies, cosine fits, "it groks")
can hold on a broken copy of a model: the activations of a transformer whose MLP output is
zeroed still show the key frequencies, and metrics.jsonl still says it grokked. So every such
claim is gated here on

- the accuracy of the model as loaded, from its own forward pass over the table (never read
  from metrics.jsonl), at least :data:`MIN_ACCURACY` on the validation pairs;
- the effect of what it names: projecting the key frequencies out of the MLP activations must
  break the answers (at most :data:`BROKEN`), while projecting out as many other frequencies
  must not (at least :data:`KEPT`); the neurons a fit describes must carry the accuracy when
  replaced by their fits and break it when zeroed.

Every rate is a :class:`Rate`: a count of questions with its Clopper-Pearson interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from algolens.analysis.claims import Claim
from algolens.families.modular.fourier import remove_frequencies, sum_directions
from algolens.verify.stats import clopper_pearson

MIN_ACCURACY = 0.9  # a claim about how a model works needs a model that works
LOG_MARGIN = 0.01  # the log's last validation accuracy may differ from the model's by this
BROKEN = 0.5  # ablating what a claim names must leave accuracy below this
KEPT = 0.9  # ablating as many other frequencies must leave accuracy at least this
ACTS = "blocks.0.mlp.hook_post"  # the MLP activations the transformer's claims read


@dataclass(frozen=True)
class Rate:
    """``hits`` of ``total`` questions, with the 95% Clopper-Pearson interval of the rate."""

    hits: int
    total: int

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return clopper_pearson(self.hits, self.total) if self.total else (0.0, 1.0)

    def text(self, unit: str = "pairs") -> str:
        """``0.9998 (8,938 of 8,939 pairs, 95% CI 0.9994-1.0000)``."""
        lo, hi = self.interval
        return (
            f"{self.value:.4f} ({self.hits:,} of {self.total:,} {unit}, 95% CI {lo:.4f}-{hi:.4f})"
        )


def rate(correct: Tensor) -> Rate:
    """The rate of a tensor of per-question bools."""
    return Rate(int(correct.sum()), int(correct.numel()))


def split_rates(logits: Float[Tensor, "pairs p"], task: Any) -> dict[str, Rate]:
    """Accuracy of full-table logits on the training pairs, the validation pairs and all."""
    right = (logits.argmax(-1) == task.all_targets().to(logits.device)).cpu()
    out = {"all": rate(right), "train": rate(right[task.train_idx])}
    if len(task.val_idx):
        out["val"] = rate(right[task.val_idx])
    return out


def works(rates: dict[str, Rate]) -> bool:
    """The model does the task: validation (or, with no validation pairs, all) accuracy is at
    least :data:`MIN_ACCURACY`."""
    return rates.get("val", rates["all"]).value >= MIN_ACCURACY


def accuracy_text(rates: dict[str, Rate], split_seed: int) -> str:
    """``validation accuracy 1.0000 (8,939 of 8,939 pairs, ..., split seed 0)``."""
    name, r = ("validation", rates["val"]) if "val" in rates else ("all-pairs", rates["all"])
    return f"{name} accuracy {r.text(f'pairs, split seed {split_seed}')}"


@dataclass(frozen=True)
class LogCheck:
    """The log's last validation accuracy against the model's, as loaded."""

    logged: float | None
    step: int | None
    measured: Rate

    @property
    def agrees(self) -> bool:
        return self.logged is not None and abs(self.logged - self.measured.value) <= LOG_MARGIN

    def text(self) -> str:
        if self.logged is None:
            return "the log has no validation accuracy"
        verdict = "agrees" if self.agrees else f"DISAGREES by more than {LOG_MARGIN}"
        return (
            f"the log's last validation accuracy {self.logged:.4f} (step {self.step:,}) "
            f"{verdict} with the model as loaded: {self.measured.text()}"
        )


def log_check(metrics: list[dict[str, Any]], measured: Rate) -> LogCheck:
    """Compare the last logged ``val_acc`` with the accuracy the model has now."""
    rows = [r for r in metrics if "val_acc" in r]
    if not rows:
        return LogCheck(None, None, measured)
    return LogCheck(float(rows[-1]["val_acc"]), int(rows[-1].get("step", 0)), measured)


# ---- the transformer's key frequencies ---------------------------------------------------
@dataclass(frozen=True)
class FrequencyAblation:
    """Accuracy over all pairs with frequencies projected out of the MLP activations at '='
    (the key ones, and as many others drawn with ``seed``), and of the logits restricted to
    the key frequencies' ``cos/sin(w (a + b))`` directions or with them excluded."""

    freqs: list[int]
    others: list[int]
    seed: int
    key: Rate
    other: Rate
    restricted: Rate
    excluded: Rate

    @property
    def causal(self) -> bool:
        """The key frequencies are what the model uses: removing them breaks the answers,
        removing as many others does not."""
        return bool(self.freqs) and self.key.value <= BROKEN and self.other.value >= KEPT

    def text(self) -> str:
        return (
            f"projecting them out of the MLP activations at '=' leaves {self.key.text()}; "
            f"projecting out {self.others} instead (drawn with seed {self.seed}) leaves "
            f"{self.other.text()}; logits restricted to them {self.restricted.text()}, "
            f"excluding them {self.excluded.text()}"
        )


def other_frequencies(p: int, freqs: list[int], seed: int) -> list[int]:
    """``len(freqs)`` frequencies that are not in ``freqs``, drawn with ``seed``."""
    pool = [k for k in range(1, p // 2 + 1) if k not in freqs]
    pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    return sorted(pool[int(i)] for i in pick[: len(freqs)])


@torch.no_grad()
def ablated_accuracy(
    model: nn.Module, task: Any, acts: Float[Tensor, "p p d_mlp"], freqs: list[int]
) -> Rate:
    """Accuracy on all pairs when the MLP activations at '=' are replaced by ``acts`` with
    ``freqs`` projected out (a forward pass with a patch hook, at the answer position only)."""
    new = remove_frequencies(acts.to(torch.float64), freqs).reshape(task.p**2, -1)

    def patch(value: Tensor, hook: Any) -> Tensor:
        value = value.clone()
        value[:, -1] = new.to(value.device, value.dtype)
        return value

    inputs = task.all_inputs().to(_device(model))
    out = model.run_with_hooks(  # type: ignore[operator]
        inputs, fwd_hooks=[(ACTS, patch)], readout=task.readout
    )
    logits = task.answer_logits(out)[:, 0]
    return rate((logits.argmax(-1) == task.all_targets().to(logits.device)).cpu())


def logit_rates(
    logits: Float[Tensor, "pairs p"], targets: Int[Tensor, " pairs"], freqs: list[int]
) -> tuple[Rate, Rate]:
    """(restricted, excluded) accuracy of full-table logits on all pairs (the progress
    measures' restriction, :func:`.fourier.restricted_excluded_loss`, scored by accuracy)."""
    p = logits.shape[1]
    logits = logits.detach().to(torch.float64)
    d = sum_directions(p, freqs).to(logits.device)
    key = d @ (d.T @ logits)
    targets = targets.to(logits.device)
    restricted = (logits.mean(0, keepdim=True) + key).argmax(-1) == targets
    excluded = (logits - key).argmax(-1) == targets
    return rate(restricted.cpu()), rate(excluded.cpu())


def frequency_ablation(
    model: nn.Module,
    task: Any,
    logits: Float[Tensor, "pairs p"],
    acts: Float[Tensor, "p p d_mlp"],
    freqs: list[int],
    seed: int = 0,
) -> FrequencyAblation:
    """Ablate the key frequencies, and as many others, from the activations; restrict and
    exclude them in the logits."""
    others = other_frequencies(task.p, freqs, seed)
    restricted, excluded = logit_rates(logits, task.all_targets(), freqs)
    return FrequencyAblation(
        freqs=list(freqs),
        others=others,
        seed=seed,
        key=ablated_accuracy(model, task, acts, freqs),
        other=ablated_accuracy(model, task, acts, others),
        restricted=restricted,
        excluded=excluded,
    )


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@dataclass
class Gates:
    """What every modular claim is gated on: the model's accuracy as loaded (per split, from
    its forward pass), and for the transformer the log's agreement and the key frequencies'
    ablation."""

    rates: dict[str, Rate]
    split_seed: int
    log: LogCheck | None = None
    ablation: FrequencyAblation | None = None

    @property
    def works(self) -> bool:
        return works(self.rates)

    def accuracy(self) -> str:
        text = accuracy_text(self.rates, self.split_seed)
        return text if self.works else f"GATE FAILED, {text} is below {MIN_ACCURACY}"


def gated(
    claim: str,
    expected: str,
    measured: str,
    passed: bool,
    gates: Gates,
    source: str,
    effect: tuple[bool, str, str] | None = None,
) -> Claim:
    """A claim that also needs the model to work and, with ``effect`` = (holds, what is
    expected of it, what was measured), the causal effect of what it names."""
    expected += f"; gated on the model's validation accuracy >= {MIN_ACCURACY}"
    measured += f"; {gates.accuracy()}"
    ok = passed and gates.works
    if effect is not None:
        holds, wanted, seen = effect
        expected += f" and {wanted}"
        measured += f"; {seen}" if holds else f"; GATE FAILED, {seen}"
        ok = ok and holds
    return Claim(claim, expected, measured, ok, source)
