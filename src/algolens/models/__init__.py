"""Models. ``MODEL_KINDS`` maps a run config's ``model.kind`` to (config class, model class)."""

from typing import Any

from algolens.models.mlp import MLP, MLPConfig
from algolens.models.transformer import Transformer, TransformerConfig

MODEL_KINDS: dict[str, tuple[Any, Any]] = {
    "transformer": (TransformerConfig, Transformer),
    "mlp": (MLPConfig, MLP),
}

__all__ = ["MLP", "MODEL_KINDS", "MLPConfig", "Transformer", "TransformerConfig"]
