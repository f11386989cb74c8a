"""A small transformer with TransformerLens's names, shapes and hooks, in one readable file.

Parts first, the model last. Parameter names and shapes are HookedTransformer's
(``W_Q: [n_heads, d_model, d_head]``), so a HookedTransformer state dict such as the papers'
published ``.pth`` files loads by name; hook names are module paths
(``blocks.0.attn.hook_pattern``), so ``run_with_cache``, ``run_with_hooks``, ``ActivationCache``
and ``transformer_lens.patching`` work unchanged.

Options beyond a plain decoder, used by the LEGO encoders: ``causal=False`` (bidirectional),
``tie_layers`` (one block applied ``n_layers`` times, ALBERT-style; hooks stay per layer) and
``conv_kernel`` (a depthwise convolution along positions inside the query/key/value maps).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from operator import attrgetter
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens import ActivationCache, HookedRootModule
from transformer_lens.hook_points import HookPoint

from algolens.errors import AlgolensError
from algolens.models.lens import TransformerLensParts
from algolens.options import check_seed, from_dict

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
}


SIZE_LIMITS = {"n_layers": 256, "n_heads": 1024, "d_model": 65_536, "n_ctx": 65_536,
               "d_vocab": 1_000_000, "d_head": 65_536, "d_mlp": 1_048_576}  # fmt: skip
# algolens trains small models on one machine; a mistyped size (d_model 1e5) is one line, not
# an out-of-memory crash minutes later
MAX_PARAMETERS = 1_000_000_000


def check_parameters(count: int, what: str) -> None:
    """Refuse a model of more than :data:`MAX_PARAMETERS` parameters, before it is allocated."""
    if count > MAX_PARAMETERS:
        raise AlgolensError(
            f"{what} would have {count:,} parameters, over algolens's limit of {MAX_PARAMETERS:,}"
        )


def affine(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """``x @ w + b`` as one fused multiply-add (``torch.addmm``): on the CPU 25-30% faster than
    a matrix multiply and a separate add over the activations; equal up to float rounding."""
    out = torch.addmm(b, x.reshape(-1, x.shape[-1]), w)
    return out.view(*x.shape[:-1], w.shape[-1])


@dataclass
class TransformerConfig:
    """Architecture, in HookedTransformerConfig's vocabulary. ``d_head`` and ``d_mlp`` derive."""

    n_layers: int = 2
    n_heads: int = 3
    d_model: int = 510
    n_ctx: int = 18
    d_vocab: int = 13
    d_head: int = 0  # 0: d_model // n_heads
    d_mlp: int = 0  # 0: 4 * d_model
    d_vocab_out: int = 0  # 0: d_vocab
    act_fn: str = "relu"
    normalization_type: str | None = "LN"
    causal: bool = True
    tie_layers: bool = False
    conv_kernel: int = 0  # 0: no convolution in q/k/v; otherwise an odd kernel size
    init_range: float = 0.0  # 0: 0.8 / sqrt(d_model), HookedTransformer's default
    seed: int = 0
    # read by TransformerLens utilities (patching, ActivationCache)
    device: str = "cpu"
    n_key_value_heads: int | None = None
    attn_only: bool = False

    def __post_init__(self) -> None:
        self._check_sizes()
        check_seed(self.seed, "the model's seed")
        if not self.d_head:
            if self.d_model % self.n_heads:
                raise AlgolensError(
                    f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}"
                )
            self.d_head = self.d_model // self.n_heads
        self.d_mlp = self.d_mlp or 4 * self.d_model
        self.d_vocab_out = self.d_vocab_out or self.d_vocab
        self.init_range = self.init_range or 0.8 / math.sqrt(self.d_model)
        if self.act_fn not in ACTIVATIONS:
            raise AlgolensError(f"act_fn must be one of {sorted(ACTIVATIONS)}, got {self.act_fn!r}")
        if self.normalization_type not in ("LN", None):
            raise AlgolensError("normalization_type must be 'LN' or None")
        if self.conv_kernel and self.conv_kernel % 2 == 0:
            raise AlgolensError(f"conv_kernel must be odd, got {self.conv_kernel}")
        if self.init_range < 0:
            raise AlgolensError(f"init_range must be 0 (derived) or more, got {self.init_range}")
        if self.n_key_value_heads not in (None, self.n_heads):
            raise AlgolensError(
                f"n_key_value_heads must be unset or n_heads ({self.n_heads}): this transformer "
                f"has no grouped-query attention, got {self.n_key_value_heads}"
            )
        check_parameters(self.parameter_count(), "this transformer")

    def parameter_count(self) -> int:
        """About how many parameters the model will have (its weight matrices), unbuilt."""
        attn = 4 * self.n_heads * self.d_head * self.d_model
        block = attn + 2 * self.d_model * self.d_mlp + 4 * self.d_model
        layers = 1 if self.tie_layers else self.n_layers
        ends = (self.d_vocab + self.n_ctx + self.d_vocab_out) * self.d_model
        return layers * block + ends

    def _check_sizes(self) -> None:
        for name in ("n_layers", "n_heads", "d_model", "n_ctx", "d_vocab"):
            if getattr(self, name) < 1:
                raise AlgolensError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("d_head", "d_mlp", "d_vocab_out", "conv_kernel"):
            if getattr(self, name) < 0:
                raise AlgolensError(
                    f"{name} must be 0 (derived) or more, got {getattr(self, name)}"
                )
        for name, limit in SIZE_LIMITS.items():
            if getattr(self, name) > limit:
                raise AlgolensError(f"{name} {getattr(self, name)} is over the limit of {limit}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TransformerConfig:
        """Strictly: an unknown key or a mistyped value is one clear line."""
        return from_dict(cls, d, "model")


class LayerNorm(nn.Module):
    """TransformerLens's LayerNorm: centre, divide by ``hook_scale``, then ``w`` and ``b``."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(d_model))
        self.b = nn.Parameter(torch.zeros(d_model))
        self.hook_scale = HookPoint()  # [batch, pos, 1]
        self.hook_normalized = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        if not any(hp.fwd_hooks or hp.bwd_hooks for hp in (self.hook_scale, self.hook_normalized)):
            return F.layer_norm(x, x.shape[-1:], self.w, self.b, self.eps)  # same numbers, fused
        x = x - x.mean(-1, keepdim=True)
        scale = self.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return self.hook_normalized(x / scale * self.w + self.b)


class Attention(nn.Module):
    """Multi-head attention with per-head weights and TransformerLens's hooks.

    When nothing hooks the scores or the pattern, the fused ``scaled_dot_product_attention``
    kernel runs instead of the explicit softmax; both paths give the same ``hook_z``.
    """

    mask: Tensor

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        h, d, dh = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q = nn.Parameter(torch.empty(h, d, dh))
        self.W_K = nn.Parameter(torch.empty(h, d, dh))
        self.W_V = nn.Parameter(torch.empty(h, d, dh))
        self.W_O = nn.Parameter(torch.empty(h, dh, d))
        self.b_Q = nn.Parameter(torch.zeros(h, dh))
        self.b_K = nn.Parameter(torch.zeros(h, dh))
        self.b_V = nn.Parameter(torch.zeros(h, dh))
        self.b_O = nn.Parameter(torch.zeros(d))
        if cfg.conv_kernel:  # depthwise convolution over positions, one per q/k/v channel
            self.conv_qkv = nn.Conv1d(
                3 * h * dh,
                3 * h * dh,
                cfg.conv_kernel,
                padding=cfg.conv_kernel // 2,
                groups=3 * h * dh,
            )
        mask = torch.tril(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool))
        self.register_buffer(
            "mask", mask if cfg.causal else torch.ones_like(mask), persistent=False
        )
        self.hook_q = HookPoint()  # [batch, pos, head, d_head]
        self.hook_k = HookPoint()
        self.hook_v = HookPoint()
        self.hook_attn_scores = HookPoint()  # [batch, head, query_pos, key_pos]
        self.hook_pattern = HookPoint()
        self.hook_z = HookPoint()  # [batch, pos, head, d_head]

    def _pattern_hooked(self) -> bool:
        return any(
            hp.fwd_hooks or hp.bwd_hooks for hp in (self.hook_attn_scores, self.hook_pattern)
        )

    def forward(
        self,
        x: Float[Tensor, "batch pos d_model"] | None,
        readout: slice | None = None,
        qkv: Float[Tensor, "batch pos 3 head d_head"] | None = None,
    ) -> Float[Tensor, "batch query d_model"]:
        """Attention output at every position, or only at the ``readout`` queries. Given
        ``qkv`` (q, k and v made already: see :mod:`algolens.models.frozen`), ``x`` is unused."""
        if qkv is None:
            assert x is not None
            qkv = self.project(x)
        bsz, n_pos, _, h, dh = qkv.shape
        q, k, v = qkv.unbind(2)
        if self.cfg.conv_kernel:
            q, k, v = self._convolve(q, k, v)
        q, k, v = self.hook_q(q), self.hook_k(k), self.hook_v(v)
        mask = self.mask[:n_pos, :n_pos]
        if readout is not None:
            q, mask = q[:, readout], mask[readout]
        n_q = q.shape[1]
        if self._pattern_hooked():
            scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(dh)
            scores = self.hook_attn_scores(scores.masked_fill(~mask, float("-inf")))
            pattern = self.hook_pattern(scores.softmax(-1))  # [batch, head, query, key]
            z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
        else:
            causal = self.cfg.causal
            z = F.scaled_dot_product_attention(
                q.transpose(1, 2),
                k.transpose(1, 2),
                v.transpose(1, 2),
                attn_mask=mask if causal and readout is not None else None,
                is_causal=causal and readout is None,
            ).transpose(1, 2)
        z = self.hook_z(z)  # [batch, query, head, d_head]
        return affine(z.reshape(bsz, n_q, h * dh), self.W_O.flatten(0, 1), self.b_O)

    def project(self, x: Float[Tensor, "batch pos d_model"]) -> Tensor:
        """q, k and v in one matrix multiply: ``[batch, pos, 3, head, d_head]``."""
        w_qkv = torch.cat([self.W_Q, self.W_K, self.W_V]).permute(1, 0, 2).flatten(1)
        b_qkv = torch.cat([self.b_Q, self.b_K, self.b_V]).flatten()
        return affine(x, w_qkv, b_qkv).unflatten(-1, (3, self.cfg.n_heads, self.cfg.d_head))

    def _convolve(self, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        bsz, n_pos, h, dh = q.shape
        qkv = torch.cat([q, k, v], dim=2).reshape(bsz, n_pos, 3 * h * dh).transpose(1, 2)
        qkv = self.conv_qkv(qkv).transpose(1, 2).reshape(bsz, n_pos, 3, h, dh)
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        self.act = ACTIVATIONS[cfg.act_fn]
        self.hook_pre = HookPoint()  # [batch, pos, d_mlp]
        self.hook_post = HookPoint()  # [batch, pos, d_mlp]

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        pre = self.hook_pre(affine(x, self.W_in, self.b_in))
        return affine(self.hook_post(self.act(pre)), self.W_out, self.b_out)


class TransformerBlock(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        norm = cfg.normalization_type == "LN"
        self.ln1: nn.Module = LayerNorm(cfg.d_model) if norm else nn.Identity()
        self.ln2: nn.Module = LayerNorm(cfg.d_model) if norm else nn.Identity()
        self.attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.hook_resid_pre = HookPoint()  # [batch, pos, d_model]
        self.hook_attn_out = HookPoint()
        self.hook_resid_mid = HookPoint()
        self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(
        self,
        resid: Float[Tensor, "batch pos d_model"],
        readout: slice | None = None,
        qkv: Tensor | None = None,
    ) -> Float[Tensor, "batch query d_model"]:
        """The block at every position, or only at ``readout`` (keys and values from all);
        ``qkv``: the attention's q, k and v made already (``ln1`` is then skipped)."""
        resid = self.hook_resid_pre(resid)
        attn_in = None if qkv is not None else self.ln1(resid)
        attn_out = self.hook_attn_out(self.attn(attn_in, readout, qkv))
        if readout is not None:
            resid = resid[:, readout]
        resid = self.hook_resid_mid(resid + attn_out)
        return self.hook_resid_post(resid + self.hook_mlp_out(self.mlp(self.ln2(resid))))


class Transformer(TransformerLensParts, HookedRootModule):
    """Embedding, ``n_layers`` blocks, final LayerNorm, unembedding; logits at every position.

    TransformerLens's conveniences (``to_tokens``, ``to_str_tokens``, ``OV``, ``QK``, stacked
    ``W_Q`` …, ``to_transformer_lens``, ``to_hooked_transformer``) come from
    :class:`~algolens.models.lens.TransformerLensParts`.

    >>> model = Transformer(TransformerConfig(n_layers=1, n_heads=2, d_model=8, n_ctx=4))
    >>> model(torch.zeros(1, 4, dtype=torch.long)).shape
    torch.Size([1, 4, 13])
    """

    supports_readout = True  # forward(tokens, readout=...): see forward

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = Embed(cfg)
        self.pos_embed = PosEmbed(cfg)
        self.hook_embed = HookPoint()  # [batch, pos, d_model]
        self.hook_pos_embed = HookPoint()
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layers))
        if cfg.tie_layers:  # ALBERT: every block uses block 0's weights, keeps its own hooks
            for block in self.blocks[1:]:
                for part in ("attn", "mlp", "ln1", "ln2"):
                    mine, first = getattr(block, part), getattr(self.blocks[0], part)
                    for name, param in first.named_parameters(recurse=False):
                        setattr(mine, name, param)
                    if hasattr(first, "conv_qkv"):
                        mine.conv_qkv = first.conv_qkv
        self.ln_final: nn.Module = (
            LayerNorm(cfg.d_model) if cfg.normalization_type == "LN" else nn.Identity()
        )
        self.unembed = Unembed(cfg)
        self.init_weights()
        self.setup()  # HookedRootModule: name every HookPoint by its module path

    def init_weights(self) -> None:
        """HookedTransformer's default: weights N(0, init_range), biases zero, LN at identity.

        The q/k/v convolution keeps PyTorch's Conv1d distribution, U(-1/sqrt(K), 1/sqrt(K)) for
        weight and bias, but drawn from the seeded generator too, so the seed fixes every weight.
        """
        gen = torch.Generator().manual_seed(self.cfg.seed)
        bound = 1 / math.sqrt(self.cfg.conv_kernel or 1)
        for name, p in self.named_parameters():
            with torch.no_grad(), torch.device("cpu"):  # drawn on the CPU: the same on any device
                if name.split(".")[-1].startswith("W_"):
                    p.copy_(torch.randn(p.shape, generator=gen) * self.cfg.init_range)
                elif ".conv_qkv." in name:
                    p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)

    def forward(
        self, tokens: Int[Tensor, "batch pos"], *, readout: slice | None = None
    ) -> Float[Tensor, "batch pos d_vocab_out"]:
        """Logits at every position; with ``readout``, at those positions only.

        ``readout`` is the speed path of training and verification: the last block's queries,
        attention output and MLP, the final LayerNorm and the unembedding run only at the
        positions that predict something (keys and values still come from every position).
        The last block's hooks then see those positions only, so analysis calls it without.
        Tokens on another device are moved to the model's, as TransformerLens does.
        """
        resid = self._embed(tokens.to(self.embed.W_E.device))
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            resid = block(resid, readout if i == last else None)
        return self.unembed(self.ln_final(resid))  # [batch, pos, d_vocab_out]

    def _embed(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        """Token plus position embeddings. A hook on ``hook_pos_embed`` sees ``[batch, pos,
        d_model]`` in its own memory (TransformerLens's tools expect that shape, and a hook may
        write into it); unhooked, the ``[1, pos, d_model]`` table broadcasts (8% faster)."""
        hp = self.hook_pos_embed
        if hp.fwd_hooks or hp.bwd_hooks:
            pos = self.pos_embed(tokens).contiguous()
        else:
            pos = self.pos_embed.W_pos[: tokens.shape[1]][None]
        return self.hook_embed(self.embed(tokens)) + hp(pos)

    def logit_lens(
        self, tokens: Int[Tensor, "batch pos"], *, readout: slice | None = None
    ) -> Float[Tensor, "layer batch pos d_vocab_out"]:
        """Every block's output read by the final LayerNorm and the unembedding (logit lens).

        Row ``l`` is what the model would answer if it stopped after block ``l``; the last row
        is :meth:`forward`'s output. With ``readout``, at those positions only (the last block
        then takes the readout path). The same as TransformerLens's
        ``cache.apply_ln_to_stack(cache.accumulated_resid()[1:], recompute_ln=True)`` followed by
        the unembedding (tested). Deep supervision trains through it (``TrainConfig.layer_loss``).
        """
        resid = self._embed(tokens)
        at = readout if readout is not None else slice(None)
        last = len(self.blocks) - 1
        layers = []
        for i, block in enumerate(self.blocks):
            resid = block(resid, readout if i == last else None)
            layers.append(resid if i == last and readout is not None else resid[:, at])
        return self.unembed(self.ln_final(torch.stack(layers)))  # [layer, batch, pos, d_vocab_out]

    def run_with_cache(self, *args: Any, **kwargs: Any) -> tuple[Tensor, ActivationCache]:  # type: ignore[override]
        """Like HookedTransformer's: the logits and an :class:`ActivationCache` of every hook."""
        out, cache_dict = super().run_with_cache(*args, **kwargs)
        has_batch = not kwargs.get("remove_batch_dim", False)
        return out, ActivationCache(cache_dict, self, has_batch_dim=has_batch)

    # ---- what TransformerLens's ActivationCache and tools read from a model -----------------
    W_E = property(attrgetter("embed.W_E"), doc="The embedding ``[d_vocab, d_model]``.")
    W_pos = property(attrgetter("pos_embed.W_pos"), doc="Positions ``[n_ctx, d_model]``.")
    W_U = property(attrgetter("unembed.W_U"), doc="The unembedding ``[d_model, d_vocab_out]``.")
    b_U = property(attrgetter("unembed.b_U"), doc="Its bias ``[d_vocab_out]``.")

    def tokens_to_residual_directions(self, tokens: int | Tensor) -> Tensor:
        """The unembedding column of each token: ``[..., d_model]`` (as TransformerLens's)."""
        if isinstance(tokens, Tensor) and tokens.numel() > 1:
            return self.W_U[:, tokens].movedim(0, -1)
        return self.W_U[:, int(tokens)]

    def accumulated_bias(
        self, layer: int, mlp_input: bool = False, include_mlp_biases: bool = True
    ) -> Float[Tensor, " d_model"]:
        """The attention (and MLP) output biases added to the residual stream before ``layer``;
        with ``mlp_input``, layer ``layer``'s attention bias too (TransformerLens's definition,
        which ``ActivationCache.get_full_resid_decomposition`` reads)."""
        total = torch.zeros(self.cfg.d_model, device=self.W_U.device, dtype=self.W_U.dtype)
        blocks: list[Any] = list(self.blocks)
        for block in blocks[:layer]:
            total = total + block.attn.b_O + (block.mlp.b_out if include_mlp_biases else 0)
        if mlp_input:
            if layer >= self.cfg.n_layers:
                raise AlgolensError(f"no attention bias beyond the last layer ({layer})")
            total = total + blocks[layer].attn.b_O
        return total

    def load_hooked_transformer_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        """Load a HookedTransformer state dict (same configuration) by name, strictly.

        HookedTransformer also saves its causal ``mask`` and ``IGNORE`` buffers; ours derive from
        the config, so those keys are dropped.
        """
        drop = (".attn.mask", ".attn.IGNORE")
        sd = {k: v for k, v in state_dict.items() if not k.endswith(drop)}
        try:
            missing, unexpected = self.load_state_dict(sd, strict=False)
        except RuntimeError as e:
            first = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
            raise AlgolensError(f"state dict does not fit this configuration: {first}") from None
        if missing or unexpected:
            raise AlgolensError(
                f"state dict does not fit this configuration: missing {missing[:4]}, "
                f"unexpected {unexpected[:4]}"
            )


def hooked_transformer_spec(state_dict: dict[str, Tensor]) -> dict[str, Any]:
    """The architecture a HookedTransformer state dict implies, read from its shapes:
    ``n_layers``, ``n_heads``, ``d_model``, ``d_head``, ``d_mlp``, ``n_ctx``, vocabularies and
    LayerNorm. The activation cannot be read from weights (ReLU, the papers' choice, is assumed
    unless given)."""
    need = ("embed.W_E", "pos_embed.W_pos", "unembed.W_U", "blocks.0.attn.W_Q")
    missing = [k for k in need if k not in state_dict]
    if missing:
        raise AlgolensError(f"not a HookedTransformer state dict: no {', '.join(missing)}")
    layers = {int(k.split(".")[1]) for k in state_dict if k.startswith("blocks.")}
    n_heads, d_model, d_head = state_dict["blocks.0.attn.W_Q"].shape
    spec: dict[str, Any] = {
        "n_layers": max(layers) + 1,
        "n_heads": n_heads,
        "d_model": d_model,
        "d_head": d_head,
        "n_ctx": state_dict["pos_embed.W_pos"].shape[0],
        "d_vocab": state_dict["embed.W_E"].shape[0],
        "d_vocab_out": state_dict["unembed.W_U"].shape[1],
        "normalization_type": "LN" if "blocks.0.ln1.w" in state_dict else None,
    }
    if "blocks.0.mlp.W_in" in state_dict:
        spec["d_mlp"] = state_dict["blocks.0.mlp.W_in"].shape[1]
    return {k: int(v) if isinstance(v, int) else v for k, v in spec.items()}


class Embed(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model))

    def forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        return self.W_E[tokens]


class PosEmbed(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.W_pos = nn.Parameter(torch.empty(cfg.n_ctx, cfg.d_model))

    def forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        """``[batch, pos, d_model]`` as TransformerLens's tools expect (a view; a copy when hooked,
        so a hook may write into it)."""
        bsz, n_pos = tokens.shape
        return self.W_pos[:n_pos].expand(bsz, n_pos, -1)


class Unembed(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab_out))
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab_out))

    def forward(
        self, x: Float[Tensor, "batch pos d_model"]
    ) -> Float[Tensor, "batch pos d_vocab_out"]:
        return affine(x, self.W_U, self.b_U)
