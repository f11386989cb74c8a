"""Models. ``MODEL_KINDS`` maps a run config's ``model.kind`` to (config class, model class)."""

from typing import Any

import torch
from torch import nn

from algolens.errors import AlgolensError
from algolens.models.mlp import MLP, MLPConfig
from algolens.models.transformer import Transformer, TransformerConfig

# Flush subnormal floats (below 1.2e-38) to zero. Weight-decayed runs whose loss nears zero
# (grokking) produce them, and the CPU computes with them up to 2x slower. It is set when the
# models are first imported, before any model runs, because torch's worker threads copy the
# flag when they start and never again.
torch.set_flush_denormal(True)

MODEL_KINDS: dict[str, tuple[Any, Any]] = {
    "transformer": (TransformerConfig, Transformer),
    "mlp": (MLPConfig, MLP),
}


ModelConfig = TransformerConfig | MLPConfig


def model_config(spec: dict[str, Any]) -> ModelConfig:
    """The typed, validated config of the ``model`` section of a run config (``kind`` picks the
    class): every field filled in, nothing built."""
    if not isinstance(spec, dict):
        raise AlgolensError(f"the model section must be a table, got {spec!r}")
    kind = spec.get("kind", "transformer")
    if kind not in MODEL_KINDS:
        raise AlgolensError(f"unknown model kind {kind!r}: choose from {', '.join(MODEL_KINDS)}")
    cfg: ModelConfig = MODEL_KINDS[kind][0].from_dict(
        {k: v for k, v in spec.items() if k != "kind"}
    )
    return cfg


def model_kind(cfg: ModelConfig) -> str:
    return next(k for k, (cfg_cls, _) in MODEL_KINDS.items() if isinstance(cfg, cfg_cls))


def build_model(spec: dict[str, Any] | ModelConfig) -> nn.Module:
    """A fresh model from the ``model`` section of a run config, or its typed config."""
    cfg = spec if isinstance(spec, TransformerConfig | MLPConfig) else model_config(spec)
    module: nn.Module = MODEL_KINDS[model_kind(cfg)][1](cfg)
    return module


def model_spec(model: nn.Module) -> dict[str, Any]:
    """The ``model`` section that rebuilds ``model``: its kind and every config field."""
    kind = next(k for k, (_, cls) in MODEL_KINDS.items() if isinstance(model, cls))
    cfg: Any = model.cfg
    return {"kind": kind, **cfg.to_dict()}


__all__ = [
    "MLP",
    "MODEL_KINDS",
    "MLPConfig",
    "ModelConfig",
    "Transformer",
    "TransformerConfig",
    "build_model",
    "model_config",
    "model_kind",
    "model_spec",
]
