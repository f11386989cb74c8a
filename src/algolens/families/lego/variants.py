"""The LEGO encoder variants of Zhang et al. (2022), as a model change and an initialisation.

- ``random``: a bidirectional encoder (``causal=False``) with a binary head read at each
  clause's assigned-variable token, from random initialisation;
- ``mimic``: the same, initialised by :func:`~algolens.families.lego.mimic.mimic_init` (heads
  trained towards the association and manipulation patterns), standing in for pretraining;
- ``tied``: one block applied ``n_layers`` times (ALBERT);
- ``conv``: a depthwise convolution along positions inside the query/key/value maps;
- ``parent`` (ours): ``mimic`` with a third template, each clause's name token attending to
  its parent clause's name token (one chain hop per layer), and a kernel-7 convolution in q/k/v
  so that layer 0's name token sees its operand. With deep supervision
  (``TrainConfig.layer_loss``) it is the recipe that solves n = 12, k = 6 in minutes on a CPU.

A run's variant lives in its config (``init.variant``, and the mimic settings in
``init.family['mimic']``): :func:`prepare_model` changes the model section for the variant
before the model is built, and :func:`initialise` runs the mimic init before training.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import nn

from algolens.errors import AlgolensError
from algolens.families.lego import VARIANTS as VARIANTS  # re-exported
from algolens.families.lego import check_variant
from algolens.families.lego.mimic import MimicConfig, mimic_init
from algolens.options import unknown_key

MIMIC_VARIANTS = ("mimic", "parent")
PARENT_CONV = 7  # the name token's query must reach its operand, OPERAND = 3 positions on


def variant_model(variant: str, model_spec: dict[str, Any], conv_kernel: int = 3) -> dict[str, Any]:
    """The model section of ``variant`` built on ``model_spec``."""
    check_variant(variant)
    spec = {"kind": "transformer", **model_spec, "causal": False, "d_vocab_out": 2}
    if variant == "tied":
        spec["tie_layers"] = True
    if variant == "conv":
        spec["conv_kernel"] = model_spec.get("conv_kernel") or conv_kernel
    if variant == "parent":
        spec["conv_kernel"] = model_spec.get("conv_kernel") or PARENT_CONV
    return spec


def variant_mimic(variant: str, cfg: MimicConfig) -> MimicConfig:
    """The mimic init a variant uses: ``cfg``, with at least one parent head for ``parent``."""
    return replace(cfg, n_parent=cfg.n_parent or 1) if variant == "parent" else cfg


def variant_init(variant: str, options: dict[str, Any], seed: int) -> dict[str, Any]:
    """``Family.variant_init``: the ``init.family`` options of ``variant`` for a run of ``seed``.

    ``options`` may hold ``mimic`` (:class:`MimicConfig` settings, checked here); a mimic init
    without its own seed takes the run's, as ``algolens lego train`` and ``compare`` do."""
    check_variant(variant)
    for key in options:
        if key != "mimic":
            raise AlgolensError(unknown_key(key, ["mimic"], "LEGO initialisation option"))
    mimic = dict(options.get("mimic", {}))
    mimic.setdefault("seed", seed)
    MimicConfig.from_dict(mimic)  # a mistyped setting is one line now, not after training starts
    return {"mimic": mimic} if variant in MIMIC_VARIANTS else {}


def prepare_model(spec: dict[str, Any], init: dict[str, Any]) -> dict[str, Any]:
    """``Family.prepare_model``: the model section for the run's variant (if it names one)."""
    variant = init.get("variant")
    if variant is None:
        return spec
    if variant in MIMIC_VARIANTS:
        mimic = variant_mimic(variant, MimicConfig.from_dict(init.get("mimic", {})))
        heads = mimic.n_assoc + mimic.n_manip + mimic.n_parent
        if heads > spec.get("n_heads", heads):
            raise AlgolensError(f"the {variant} variant's mimic init needs {heads} heads per "
                                "layer, "
                                f"the model has {spec['n_heads']}")  # fmt: skip
    return variant_model(variant, spec)


def initialise(model: nn.Module, task: Any, init: Any, *, progress: bool = False) -> dict[str, Any]:
    """``Family.initialise``: the mimic init of the ``mimic`` and ``parent`` variants, in place.

    It starts from the model's own initial weights (seeded by the model's seed), so a retrain
    from the recorded config redoes it exactly. Returns the mimic loss log.
    """
    if init.variant not in MIMIC_VARIANTS:
        return {}
    if init.source is not None:
        raise AlgolensError(
            f"the {init.variant} variant makes its own initialisation: no --init-from"
        )
    cfg = variant_mimic(init.variant, MimicConfig.from_dict(init.family.get("mimic", {})))
    return {"mimic_log": mimic_init(model, task, cfg, progress=progress)}
