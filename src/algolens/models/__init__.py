"""Models. ``MODEL_KINDS`` maps a run config's ``model.kind`` to (config class, model class)."""

from typing import Any

from algolens.models.transformer import Transformer, TransformerConfig

MODEL_KINDS: dict[str, tuple[Any, Any]] = {
    "transformer": (TransformerConfig, Transformer),
}

__all__ = ["MODEL_KINDS", "Transformer", "TransformerConfig"]
