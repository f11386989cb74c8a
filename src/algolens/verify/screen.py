"""A reduced-precision screen for verification, with float32 re-checks: same verdicts, faster.

Verification's verdict is the float32 argmax at every answer position. The screen asks a
bfloat16 copy of the model first (for a transformer, the faster copy of
:mod:`algolens.models.frozen`); that copy's argmax is the float32 argmax wherever its top two
logits are further apart than twice the largest bfloat16-float32 logit gap. So every question
whose screen answer is wrong, or whose margin at some answer position is below the screen's
``margin``, is asked again in float32, and only the rest keep the screen's answer.

``margin`` is set on the first batch a screen sees: both precisions answer it and the margin is
:data:`SAFETY` times the largest logit gap between them (at least :data:`FLOOR`). A question
keeps a wrong screen answer only if some logit there moves by more than half the margin, four
times the worst gap seen; the tests and ``benchmarks/verify_speed.py`` check equal verdicts.

The screen is used where the hardware multiplies bfloat16 natively (CPUs with AVX-512 BF16 or
AMX through oneDNN, CUDA GPUs with bfloat16) and only for models with an answer-only readout
path; elsewhere, or with ``precision="float32"``, verification runs in float32 alone. A screen
that hands back more than half of a batch of 64 or more (a model that fails most questions)
steps aside.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from algolens.models.frozen import FrozenTransformer
from algolens.models.transformer import Transformer
from algolens.options import Precision, check_precision
from algolens.tasks.base import SequenceTask, answer_output, model_device, readout_ok

SAFETY = 8.0  # the re-check margin, in multiples of the largest bf16-fp32 logit gap seen
FLOOR = 1.0  # ... and never below this many logits
DECIDE_ROWS = 64  # the screen steps aside only on a batch of at least this many questions


@dataclass
class Screen:
    """A bfloat16 copy of ``model`` and the margin under which its answers are re-checked."""

    low: nn.Module
    versions: tuple[tuple[int, int], ...]  # the weights it was copied from (pointer, version)
    margin: float | None = None  # set by the first batch
    gap: float | None = None  # the largest logit gap on that batch
    useful: bool = True  # False once it hands back most of a batch (a model that mostly fails)


_SCREENS: weakref.WeakKeyDictionary[nn.Module, Screen] = weakref.WeakKeyDictionary()


def native_bf16(device: torch.device) -> bool:
    """True where bfloat16 matrix multiplies run natively (and so faster than float32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _versions(model: nn.Module) -> tuple[tuple[int, int], ...]:
    """Changes when any weight is trained in place, replaced or moved (a copy goes stale)."""
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


def screen_for(model: nn.Module, precision: Precision = "auto") -> Screen | None:
    """The model's screen (cached while its weights stay the same), or None for float32 alone."""
    precision = check_precision(precision)
    if precision == "float32" or not readout_ok(model):
        return None
    if precision == "auto" and not native_bf16(model_device(model)):
        return None
    versions = _versions(model)
    cached = _SCREENS.get(model)
    if cached is not None and cached.versions == versions:
        return cached if cached.useful else None
    low = (
        FrozenTransformer(model)  # faster still: see algolens.models.frozen
        if isinstance(model, Transformer)
        else copy.deepcopy(model).to(torch.bfloat16).eval()
    )
    _SCREENS[model] = screen = Screen(low, versions)
    return screen


def readout_logits(model: nn.Module, task: SequenceTask, tokens: Tensor) -> Tensor:
    """The answer positions' logits, computing only what they need (see ``answer_output``)."""
    if getattr(getattr(model, "cfg", None), "causal", False):
        tokens = tokens[:, :-1]  # a causal model never needs the last token
    return answer_output(task, model, tokens)


@torch.inference_mode()
def screened_argmax(
    model: nn.Module, screen: Screen, task: SequenceTask, tokens: Tensor, targets: Tensor
) -> tuple[Tensor, int]:
    """The float32 argmax at every answer position, and how many questions float32 answered."""
    low = readout_logits(screen.low, task, tokens).float()
    pred = low.argmax(-1)
    if screen.margin is None:  # calibrate on the first batch, answered in both precisions
        full = readout_logits(model, task, tokens)
        screen.gap = float((full - low).abs().max())
        screen.margin = max(FLOOR, SAFETY * screen.gap)
        return full.argmax(-1), len(tokens)
    top2 = low.topk(2, dim=-1).values
    unsure = (top2[..., 0] - top2[..., 1] < screen.margin).any(-1)
    again = unsure | (pred != targets).any(-1)
    rows = again.nonzero()[:, 0]
    if len(rows):
        pred[rows] = readout_logits(model, task, tokens[rows]).argmax(-1)
    if len(tokens) >= DECIDE_ROWS:  # a small last batch that happens to fail decides nothing
        screen.useful = 2 * len(rows) <= len(tokens)  # float32 alone is faster when most fail
    return pred, len(rows)
