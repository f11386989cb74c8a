"""The configuration fields TransformerLens's two forms of our transformer share (the 4.x
``TransformerBridge`` in :mod:`.bridge`, the 3.x ``HookedTransformer`` in :mod:`.hooked`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from algolens.errors import AlgolensError

if TYPE_CHECKING:
    from algolens.models.transformer import Transformer


def shared_config(model: Transformer) -> dict[str, Any]:
    """Sizes, activation, attention direction and LayerNorm epsilon of our transformer; one line
    for a model TransformerLens has no counterpart of (attention with q/k/v convolution)."""
    cfg = model.cfg
    if cfg.conv_kernel:
        raise AlgolensError(
            "a transformer with convolutional attention (conv_kernel) has no TransformerLens "
            "counterpart"
        )
    return {
        "n_layers": cfg.n_layers,
        "n_heads": cfg.n_heads,
        "d_model": cfg.d_model,
        "d_head": cfg.d_head,
        "d_mlp": cfg.d_mlp,
        "n_ctx": cfg.n_ctx,
        "d_vocab": cfg.d_vocab,
        "d_vocab_out": cfg.d_vocab_out,
        "act_fn": cfg.act_fn,
        "attention_dir": "causal" if cfg.causal else "bidirectional",
        "eps": 1e-5,
        "init_weights": False,
    }
