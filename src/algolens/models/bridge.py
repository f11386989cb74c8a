"""Our transformer as a TransformerLens ``TransformerBridge``, with the same logits.

The bridge builder is in TransformerLens 3.9 (which SAELens needs) and 4.x; on a TransformerLens
without it, :func:`to_transformer_lens` gives the 3.x ``HookedTransformer`` instead
(:mod:`algolens.models.hooked`). Either comes back in eval mode (``transformer_lens.patching``
refuses a model in training mode) and with the model's tokenizer, so ``to_tokens``,
``to_str_tokens`` and ``generate`` work on it.

TransformerLens 4.x has no HookedTransformer; its models are ``TransformerBridge``s (3.9 has
both). This builds the bridge's native architecture (``TransformerLensNative``), copies our
weights into it and wraps it with ``build_bridge_from_module``, so every TransformerLens tool
that takes a bridge (``run_with_cache``, hooks, ``ActivationCache``, ``patching``) runs on the
same function.

>>> bridge = load("zoo:add_d5_l2").to_transformer_lens()        # doctest: +SKIP
>>> logits, cache = bridge.run_with_cache(tokens)               # doctest: +SKIP

The native model's unembedding has no bias; ours has one (``unembed.b_U``), so the head is
swapped for a biased linear layer before the bridge is built. Convolutional attention
(``conv_kernel``) has no native counterpart and is refused.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from algolens.models.tl_config import shared_config

if TYPE_CHECKING:
    from algolens.models.transformer import Transformer


def bridge_config(model: Transformer) -> dict[str, Any]:
    """The ``TransformerBridgeConfig`` fields of our transformer's configuration."""
    norm = "LN" if model.cfg.normalization_type == "LN" else None
    return {**shared_config(model), "normalization_type": norm}


def native_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """Our weights under the native model's names (``nn.Linear`` weights are [out, in])."""
    h, dh, d = model.cfg.n_heads, model.cfg.d_head, model.cfg.d_model
    sd: dict[str, torch.Tensor] = {
        "tok_embed.weight": model.embed.W_E,
        "pos.weight": model.pos_embed.W_pos,
        "head.weight": model.unembed.W_U.T,
        "head.bias": model.unembed.b_U,
    }
    if model.cfg.normalization_type == "LN":
        sd |= {"ln_out.weight": model.ln_final.w, "ln_out.bias": model.ln_final.b}
    for i, block in enumerate(model.blocks):
        at, attn, mlp = f"layers.{i}.", block.attn, block.mlp
        for name in ("q", "k", "v"):
            w, b = getattr(attn, f"W_{name.upper()}"), getattr(attn, f"b_{name.upper()}")
            sd[at + f"attn.{name}.weight"] = w.permute(0, 2, 1).reshape(h * dh, d)
            sd[at + f"attn.{name}.bias"] = b.reshape(h * dh)
        sd[at + "attn.o.weight"] = attn.W_O.reshape(h * dh, d).T
        sd[at + "attn.o.bias"] = attn.b_O
        sd[at + "mlp.fc_in.weight"], sd[at + "mlp.fc_in.bias"] = mlp.W_in.T, mlp.b_in
        sd[at + "mlp.fc_out.weight"], sd[at + "mlp.fc_out.bias"] = mlp.W_out.T, mlp.b_out
        if model.cfg.normalization_type == "LN":
            for ours, theirs in (("ln1", "ln1"), ("ln2", "ln2")):
                norm = getattr(block, ours)
                sd[at + f"{theirs}.weight"], sd[at + f"{theirs}.bias"] = norm.w, norm.b
    return {k: v.detach().clone() for k, v in sd.items()}


def has_bridge() -> bool:
    """True where the installed TransformerLens can build a bridge of a native model (4.x)."""
    try:
        from transformer_lens.model_bridge.sources._bridge_builder import (  # noqa: F401
            build_bridge_from_module,
        )
    except ImportError:
        return False
    return True


def to_transformer_lens(model: Transformer, name: str = "algolens") -> Any:
    """A TransformerLens model computing the same function as ``model``, in eval mode and with
    its tokenizer: the 4.x ``TransformerBridge``, or the 3.x ``HookedTransformer`` under 3.x."""
    if not has_bridge():
        from algolens.models.hooked import to_hooked_transformer

        return to_hooked_transformer(model)
    bridge = _build_bridge(model, name)
    bridge.eval()
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        bridge.tokenizer = tokenizer
        bridge.cfg.default_prepend_bos = False  # our sequences have no BOS token
        bridge.cfg.tokenizer_prepends_bos = False
    return bridge


def _build_bridge(model: Transformer, name: str) -> Any:
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module
    from transformer_lens.model_bridge.sources.native.model import NativeModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = TransformerBridgeConfig.from_dict(bridge_config(model))
        native = NativeModel(cfg)
        native.head = nn.Linear(model.cfg.d_model, model.cfg.d_vocab_out, bias=True)
        weight = next(model.parameters())
        native = native.to(device=weight.device, dtype=weight.dtype)
        native.load_state_dict(native_state_dict(model), strict=True)
        return build_bridge_from_module(
            native,
            architecture="TransformerLensNative",
            tl_config=cfg,
            dtype=weight.dtype,
            model_name=name,
        )
