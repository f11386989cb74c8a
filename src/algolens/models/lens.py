"""What a TransformerLens user reaches for on a model, for our :class:`Transformer`.

HookedTransformer users write ``model.to_tokens(text)``, ``model.to_str_tokens(tokens)``,
``model.OV[layer, head]`` and ``model.QK[layer, head]`` (``FactoredMatrix``), and
``model.W_Q`` stacked over layers; this mixin gives our transformer the same, and its two
TransformerLens forms (:meth:`to_transformer_lens`, :meth:`to_hooked_transformer`).

Text needs a vocabulary, which is the task's, not the model's: a loaded run sets
``model.tokenizer`` (a :class:`~algolens.models.tokenizer.VocabTokenizer`). ``model.to_tokens``
is TransformerLens's: the tokens of the text as written (``"00012+00034="``), while
``run.to_tokens("12+34")`` pads the operands and fills in the answer from the oracle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from jaxtyping import Int
from torch import Tensor

from algolens.errors import AlgolensError

if TYPE_CHECKING:
    from transformer_lens import FactoredMatrix


def _stacked(part: str, name: str, shape: str) -> Any:
    """A property stacking every block's ``<part>.<name>`` over the layers, as
    HookedTransformer's ``model.W_Q`` (one definition for the six weights)."""

    def stack(self: Any) -> Tensor:
        return torch.stack([getattr(getattr(block, part), name) for block in self.blocks])

    return property(stack, doc=f"``blocks[l].{part}.{name}`` stacked: ``[n_layers {shape}]``.")


class TransformerLensParts:
    """TransformerLens conveniences: text to tokens and back, stacked weights, OV and QK."""

    tokenizer: Any = None  # a VocabTokenizer, set by ``algolens.load`` from the run's task
    blocks: Any
    cfg: Any

    def _tokenizer(self) -> Any:
        if self.tokenizer is None:
            raise AlgolensError(
                "this model has no tokenizer: load it with algolens.load (which sets "
                "model.tokenizer from the task's vocabulary), or set one"
            )
        return self.tokenizer

    def to_tokens(self, text: str | list[str]) -> Int[Tensor, "batch pos"]:
        """The tokens of each text as written, ``[batch, pos]``, on the model's device:
        ``model.to_tokens("00012+00034=")`` (no BOS token: our models have none)."""
        ids = self._tokenizer()(text, return_tensors="pt")["input_ids"]
        return ids.to(self.blocks[0].attn.W_Q.device)

    def to_str_tokens(self, tokens: str | Tensor | list[int]) -> list[str]:
        """The text of each token of one sequence (text, or a row of token ids), like
        TransformerLens's: ``model.to_str_tokens("12+34=") == ["1", "2", "+", "3", "4", "="]``."""
        if isinstance(tokens, str):
            tokens = self.to_tokens(tokens)[0]
        if isinstance(tokens, Tensor):
            if tokens.dim() > 1 and tokens.shape[0] != 1:
                raise AlgolensError(f"to_str_tokens takes one sequence, got {tuple(tokens.shape)}")
            tokens = tokens.flatten().tolist()
        out = self._tokenizer().convert_ids_to_tokens(list(tokens))
        return [out] if isinstance(out, str) else out

    def to_string(self, tokens: Tensor | list[int]) -> str:
        """The text of a row of token ids."""
        return str(self._tokenizer().decode(tokens))

    # ---- weights stacked over layers, as HookedTransformer's properties ----------------------
    W_Q = _stacked("attn", "W_Q", "n_heads d_model d_head")
    W_K = _stacked("attn", "W_K", "n_heads d_model d_head")
    W_V = _stacked("attn", "W_V", "n_heads d_model d_head")
    W_O = _stacked("attn", "W_O", "n_heads d_head d_model")
    W_in = _stacked("mlp", "W_in", "d_model d_mlp")
    W_out = _stacked("mlp", "W_out", "d_mlp d_model")

    @property
    def QK(self) -> FactoredMatrix:
        """Each head's ``W_Q @ W_K.T`` as a ``FactoredMatrix`` ``[n_layers, n_heads, d_model,
        d_model]`` (HookedTransformer's ``QK``): the bilinear form of query and key residuals."""
        from transformer_lens import FactoredMatrix

        return FactoredMatrix(self.W_Q, self.W_K.transpose(-2, -1))

    @property
    def OV(self) -> FactoredMatrix:
        """Each head's ``W_V @ W_O`` as a ``FactoredMatrix`` ``[n_layers, n_heads, d_model,
        d_model]`` (HookedTransformer's ``OV``): what a head writes for the residual it reads."""
        from transformer_lens import FactoredMatrix

        return FactoredMatrix(self.W_V, self.W_O)

    # ---- the TransformerLens forms --------------------------------------------------------
    def to_transformer_lens(self) -> Any:
        """The same function as a TransformerLens ``TransformerBridge`` (TransformerLens 3.9 and
        4.x), in eval mode, with the tokenizer; a ``HookedTransformer`` on a TransformerLens
        without the native bridge (see :mod:`algolens.models.bridge`)."""
        from algolens.models.bridge import to_transformer_lens

        return to_transformer_lens(self)  # type: ignore[arg-type]

    def to_hooked_transformer(self) -> Any:
        """The same function as a TransformerLens 3.x ``HookedTransformer`` (see
        :mod:`algolens.models.hooked`); TransformerLens 4 has none (one clear error)."""
        from algolens.models.hooked import to_hooked_transformer

        return to_hooked_transformer(self)  # type: ignore[arg-type]
