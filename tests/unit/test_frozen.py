"""The screen's fast copy answers as the model does: layer 0's q/k/v from a table, ReLU on the
bits (algolens.models.frozen)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import algolens
from algolens.models import Transformer, TransformerConfig
from algolens.models.frozen import FrozenTransformer, relu_bits_
from algolens.verify import random_batches
from algolens.verify.screen import readout_logits, screen_for

CONFIGS = [
    {},
    {"n_layers": 1},  # the table's layer is the readout layer too
    {"causal": False, "conv_kernel": 3},  # the convolution runs on the table's q/k/v
    {"tie_layers": True},
    {"normalization_type": None, "act_fn": "gelu"},
]


def _model(**kw: object) -> Transformer:
    """Random weights, biases and LayerNorm gains too, so that no term of layer 0 is trivial."""
    spec: dict = {"n_layers": 2, "n_heads": 2, "d_model": 16, "n_ctx": 12} | kw
    model = Transformer(TransformerConfig(**spec)).eval()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return model


def _tokens(model: Transformer) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, model.cfg.d_vocab, (8, model.cfg.n_ctx), generator=gen)


@pytest.mark.parametrize("kw", CONFIGS)
@pytest.mark.parametrize("readout", [None, slice(5, 11)])
def test_a_float32_frozen_copy_gives_the_model_s_logits(kw: dict, readout: slice | None) -> None:
    model = _model(**kw)
    frozen = FrozenTransformer(model, torch.float32)
    tokens = _tokens(model)
    with torch.inference_mode():
        want = model(tokens, readout=readout)
        scale = float(want.abs().max())  # without LayerNorm the logits run to the hundreds
        got = frozen(tokens, readout=readout)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * max(1.0, scale))


def test_layer_0_attention_inputs_come_from_the_table() -> None:
    """The control: changing the copy's layer-0 q/k/v weights changes nothing (they are looked
    up), changing its layer-0 MLP does."""
    model = _model()
    frozen = FrozenTransformer(model, torch.float32)
    tokens = _tokens(model)
    with torch.inference_mode():
        before = frozen(tokens)
        first = frozen.model.blocks[0]
        for w in (first.attn.W_Q, first.attn.W_K, first.attn.W_V, first.ln1.w):
            w.add_(1.0)
        torch.testing.assert_close(frozen(tokens), before)
        first.mlp.W_in.add_(1.0)
        assert not torch.allclose(frozen(tokens), before, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_relu_on_the_bits_is_relu(dtype: torch.dtype) -> None:
    info = torch.finfo(dtype)
    special = [0.0, -0.0, float("inf"), float("-inf"), info.tiny / 4, -info.tiny / 4, info.max]
    x = torch.cat([torch.randn(10_000), torch.tensor(special)]).to(dtype)
    want = F.relu(x)
    got = relu_bits_(x.clone())
    assert got.dtype == dtype and torch.equal(got, want)
    assert not torch.signbit(got).any()  # -0.0 becomes +0.0


def test_bfloat16_frozen_copy_is_as_close_to_float32_as_a_plain_copy() -> None:
    """The screen's copy of the zoo's 5-digit model: its logits are no further from float32
    than a plain bfloat16 copy's, and its answers are the same on 4,096 questions."""
    run = algolens.load("zoo:add_d5_l2")
    model, task = run.model.eval(), run.task
    plain = _model_copy(model)
    frozen = FrozenTransformer(model)
    gaps = {"plain": 0.0, "frozen": 0.0}
    with torch.inference_mode():
        for batch in random_batches(
            task, questions=4096, distribution="training", seed=5, batch_size=1024
        ):
            full = readout_logits(model, task, batch.inputs)
            low = readout_logits(plain, task, batch.inputs).float()
            fast = readout_logits(frozen, task, batch.inputs).float()
            gaps["plain"] = max(gaps["plain"], float((full - low).abs().max()))
            gaps["frozen"] = max(gaps["frozen"], float((full - fast).abs().max()))
            assert torch.equal(fast.argmax(-1), low.argmax(-1))
    assert 0 < gaps["frozen"] <= gaps["plain"]  # 0.21 against 0.34: layer 0 rounded once


def _model_copy(model: Transformer) -> Transformer:
    import copy

    return copy.deepcopy(model).to(torch.bfloat16).eval()


def test_the_screen_of_a_transformer_is_its_frozen_copy() -> None:
    model = _model()
    screen = screen_for(model, "bfloat16")
    assert screen is not None and isinstance(screen.low, FrozenTransformer)
    assert next(screen.low.parameters()).dtype == torch.bfloat16
