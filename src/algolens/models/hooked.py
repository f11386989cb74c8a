"""Our transformer as a TransformerLens 3.x ``HookedTransformer``, with the same logits.

Our weights already carry HookedTransformer's names and shapes (``blocks.0.attn.W_Q: [n_heads,
d_model, d_head]``), so the export is a config and a strict ``load_state_dict``. It is for
environments on TransformerLens 3.x, which SAELens needs: 4.x removed ``HookedTransformer``
(there :func:`algolens.models.bridge.to_transformer_lens` gives its ``TransformerBridge``).

>>> model = load("zoo:add_d5_l1").to_hooked_transformer()      # doctest: +SKIP
>>> model.generate("00012+00034=", max_new_tokens=6, do_sample=False, stop_at_eos=False)
'00012+00034=000046'                                          # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from algolens.errors import AlgolensError
from algolens.models.tl_config import shared_config

if TYPE_CHECKING:
    from algolens.models.transformer import Transformer

# HookedTransformer's buffers that ours derive from the config
_BUFFERS = (".attn.mask", ".attn.IGNORE")


def hooked_config(model: Transformer) -> dict[str, Any]:
    """The ``HookedTransformerConfig`` fields of our transformer's configuration."""
    weight = model.embed.W_E
    return {
        **shared_config(model),
        "normalization_type": model.cfg.normalization_type,
        "positional_embedding_type": "standard",
        "default_prepend_bos": False,  # our sequences have no BOS token
        "tokenizer_prepends_bos": False,
        "device": str(weight.device),
        "dtype": weight.dtype,
    }


def to_hooked_transformer(model: Transformer) -> Any:
    """A TransformerLens ``HookedTransformer`` computing the same function as ``model``, in eval
    mode and with the model's tokenizer (``to_tokens``, ``to_str_tokens``, ``generate``)."""
    try:
        from transformer_lens import HookedTransformer, HookedTransformerConfig
    except ImportError:
        from importlib.metadata import version as installed

        version = installed("transformer-lens")
        raise AlgolensError(
            f"TransformerLens {version} has no HookedTransformer (4.0 removed it): use "
            "to_transformer_lens() for its TransformerBridge, or install 'transformer-lens<4'"
        ) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hooked = HookedTransformer(HookedTransformerConfig(**hooked_config(model)))
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    missing, unexpected = hooked.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith(_BUFFERS)]
    if missing or unexpected:  # a programming error: the two architectures drifted apart
        raise AlgolensError(
            f"HookedTransformer's weights differ from ours: missing {missing[:4]}, "
            f"unexpected {unexpected[:4]}"
        )
    hooked.eval()
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        hooked.tokenizer = tokenizer
    return hooked
