"""The verifier's forward pass: the same float32 arithmetic, minus what no answer depends on.

Teacher-forced verification needs the argmax at the ``n + 1`` positions that predict the
answer. So the fast pass

- drops the last input token (it predicts nothing),
- runs the last layer's attention queries, output, MLP, final LayerNorm and unembedding only
  at the answer-predicting positions (keys and values still come from every position),

which for the 5-digit, 2-layer model skips about a third of the multiply-adds. Everything is
float32 with autocast off. Rounding can differ from the full forward in the last bits only
(other matrix shapes), so the tests check that both give identical verdicts.

Any model it does not know (hooks attached, other classes, convolutions, bidirectional) takes
the plain path: ``task.answer_logits(model(tokens)).argmax(-1)``.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from algolens.models.transformer import Attention, Transformer, TransformerBlock
from algolens.tasks.arithmetic import ArithmeticTask


def can_use_fast_path(model: nn.Module) -> bool:
    """True for an unhooked, causal, float32 :class:`Transformer` without convolutions."""
    if not isinstance(model, Transformer):
        return False
    cfg = model.cfg
    if not cfg.causal or cfg.conv_kernel or model.embed.W_E.dtype != torch.float32:
        return False
    return not any(hp.fwd_hooks or hp.bwd_hooks for hp in model.hook_dict.values())


@torch.inference_mode()
def fast_answer_argmax(
    model: nn.Module, task: ArithmeticTask, tokens: Int[Tensor, "batch n_ctx"]
) -> Int[Tensor, "batch n_answer"]:
    """Teacher-forced argmax at every answer position, computing only what the answer needs."""
    with torch.autocast("cpu", enabled=False):
        if not can_use_fast_path(model):
            return task.answer_logits(model(tokens)).argmax(-1)
        assert isinstance(model, Transformer)
        return answer_logits(model, tokens[:, :-1], task.answer_start - 1).argmax(-1)


def answer_logits(
    model: Transformer, tokens: Int[Tensor, "batch pos"], first: int
) -> Float[Tensor, "batch n_query d_vocab_out"]:
    """Logits at positions ``first …`` of ``tokens`` only (a causal model's last positions)."""
    n_pos = tokens.shape[1]
    resid = model.embed.W_E[tokens] + model.pos_embed.W_pos[:n_pos]  # [batch, pos, d_model]
    blocks = cast(list[TransformerBlock], list(model.blocks))
    last = len(blocks) - 1
    for i, block in enumerate(blocks):
        x = block.ln1(resid)
        if i < last:
            resid = resid + block.attn(x)
        else:
            attn = cast(Attention, block.attn)
            resid = resid[:, first:] + _last_attention(attn, x, first)  # [batch, query, d_model]
        resid = resid + block.mlp(block.ln2(resid))
    return model.unembed(model.ln_final(resid))


def _last_attention(
    attn: Attention, x: Float[Tensor, "batch pos d_model"], first: int
) -> Float[Tensor, "batch n_query d_model"]:
    """Attention with queries from positions ``first …`` and keys/values from every position."""
    bsz, n_pos, _ = x.shape
    h, dh = attn.cfg.n_heads, attn.cfg.d_head
    w_kv = torch.cat([attn.W_K, attn.W_V]).permute(1, 0, 2).flatten(1)  # [d_model, 2 h dh]
    b_kv = torch.cat([attn.b_K, attn.b_V]).flatten()
    kv = (x @ w_kv + b_kv).view(bsz, n_pos, 2, h, dh)
    k, v = kv.unbind(2)  # [batch, pos, head, d_head]
    w_q = attn.W_Q.permute(1, 0, 2).flatten(1)  # [d_model, h dh]
    q = (x[:, first:] @ w_q + attn.b_Q.flatten()).view(bsz, n_pos - first, h, dh)
    mask = attn.mask[first:n_pos, :n_pos]  # query i (absolute first + i) sees keys <= itself
    z = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
    ).transpose(1, 2)  # [batch, query, head, d_head]
    return z.reshape(bsz, n_pos - first, h * dh) @ attn.W_O.flatten(0, 1) + attn.b_O
