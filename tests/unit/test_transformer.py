"""The transformer: TransformerLens names, hooks, state-dict mapping and utilities."""

from __future__ import annotations

import pytest
import torch
from transformer_lens import ActivationCache, patching

from algolens.errors import AlgolensError
from algolens.models import Transformer, TransformerConfig


def small(**kw: object) -> Transformer:
    cfg = {"n_layers": 2, "n_heads": 3, "d_model": 24, "n_ctx": 9, "d_vocab": 13, "seed": 1}
    cfg.update(kw)
    return Transformer(TransformerConfig(**cfg)).eval()  # type: ignore[arg-type]


def tokens(batch: int = 4, n_ctx: int = 9) -> torch.Tensor:
    return torch.randint(0, 13, (batch, n_ctx), generator=torch.Generator().manual_seed(0))


def test_hook_names_are_transformer_lens_names() -> None:
    names = set(small().hook_dict)
    for layer in range(2):
        for hook in (
            "hook_resid_pre",
            "hook_resid_mid",
            "hook_resid_post",
            "hook_attn_out",
            "hook_mlp_out",
            "attn.hook_q",
            "attn.hook_k",
            "attn.hook_v",
            "attn.hook_attn_scores",
            "attn.hook_pattern",
            "attn.hook_z",
            "mlp.hook_pre",
            "mlp.hook_post",
            "ln1.hook_scale",
            "ln2.hook_normalized",
        ):
            assert f"blocks.{layer}.{hook}" in names
    assert {"hook_embed", "hook_pos_embed", "ln_final.hook_scale"} <= names


def test_parameter_shapes_match_hooked_transformer() -> None:
    m = small()
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes["blocks.0.attn.W_Q"] == (3, 24, 8)
    assert shapes["blocks.0.attn.W_O"] == (3, 8, 24)
    assert shapes["blocks.0.attn.b_Q"] == (3, 8)
    assert shapes["blocks.0.mlp.W_in"] == (24, 96)
    assert shapes["unembed.W_U"] == (24, 13)
    assert shapes["embed.W_E"] == (13, 24)
    assert shapes["pos_embed.W_pos"] == (9, 24)


def hooked_transformer_state_dict(cfg: TransformerConfig) -> dict[str, torch.Tensor]:
    """A state dict with exactly HookedTransformer's keys, built by hand (as in the seeds' .pth)."""
    g = torch.Generator().manual_seed(5)
    h, d, dh, m, v, n = cfg.n_heads, cfg.d_model, cfg.d_head, cfg.d_mlp, cfg.d_vocab, cfg.n_ctx

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    sd = {"embed.W_E": r(v, d), "pos_embed.W_pos": r(n, d)}
    for i in range(cfg.n_layers):
        p = f"blocks.{i}."
        sd |= {p + "ln1.w": r(d), p + "ln1.b": r(d), p + "ln2.w": r(d), p + "ln2.b": r(d)}
        for w in "QKV":
            sd[p + f"attn.W_{w}"] = r(h, d, dh)
            sd[p + f"attn.b_{w}"] = r(h, dh)
        sd |= {
            p + "attn.W_O": r(h, dh, d),
            p + "attn.b_O": r(d),
            p + "attn.mask": torch.tril(torch.ones(n, n)).bool(),
            p + "attn.IGNORE": torch.tensor(-1e5),
            p + "mlp.W_in": r(d, m),
            p + "mlp.b_in": r(m),
            p + "mlp.W_out": r(m, d),
            p + "mlp.b_out": r(d),
        }
    sd |= {"ln_final.w": r(d), "ln_final.b": r(d), "unembed.W_U": r(d, v), "unembed.b_U": r(v)}
    return sd


def test_hooked_transformer_state_dict_loads_with_weights_only(tmp_path) -> None:
    m = small()
    sd = hooked_transformer_state_dict(m.cfg)
    torch.save(sd, tmp_path / "model.pth")
    m.load_hooked_transformer_state_dict(torch.load(tmp_path / "model.pth", weights_only=True))
    for k, v in m.state_dict().items():
        assert torch.equal(v, sd[k]), k
    with pytest.raises(AlgolensError, match="does not fit"):
        small(d_model=30).load_hooked_transformer_state_dict(sd)


def test_fast_attention_path_agrees_with_explicit_path() -> None:
    for causal in (True, False):
        m = small(causal=causal)
        x = tokens()
        fast = m(x)
        slow, cache = m.run_with_cache(x)  # hooks on the pattern force the explicit path
        assert "blocks.0.attn.hook_pattern" in cache
        torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_causal_model_ignores_later_tokens() -> None:
    m = small()
    x = tokens()
    y = x.clone()
    y[:, -1] = (y[:, -1] + 1) % 13
    torch.testing.assert_close(m(x)[:, :-1], m(y)[:, :-1])
    pattern = m.run_with_cache(x)[1]["blocks.1.attn.hook_pattern"]
    assert torch.all(pattern.triu(1) == 0)


def test_activation_cache_and_patching_work_on_our_model() -> None:
    m = small()
    clean, corrupt = tokens(), tokens().flip(0)
    _, cache = m.run_with_cache(clean)
    assert isinstance(cache, ActivationCache)
    resid = cache.accumulated_resid(layer=-1, incl_mid=True)
    assert resid.shape[0] == 2 * m.cfg.n_layers + 1

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return logits[:, -1, 0].mean()

    result = patching.get_act_patch_resid_pre(m, corrupt, cache, metric)
    assert result.shape == (2, 9)

    # one cell by hand: layer 1, position 4 patched from the clean run
    def hook(act: torch.Tensor, hook: object) -> torch.Tensor:
        act[:, 4] = cache["blocks.1.hook_resid_pre"][:, 4]
        return act

    manual = metric(m.run_with_hooks(corrupt, fwd_hooks=[("blocks.1.hook_resid_pre", hook)]))
    torch.testing.assert_close(result[1, 4], manual)


def test_tied_layers_share_weights_but_not_hooks() -> None:
    m = small(tie_layers=True)
    assert m.blocks[0].attn.W_Q is m.blocks[1].attn.W_Q
    n_untied = sum(p.numel() for p in small().parameters())
    assert sum(p.numel() for p in m.parameters()) < n_untied
    _, cache = m.run_with_cache(tokens())
    assert not torch.equal(cache["blocks.0.attn.hook_pattern"], cache["blocks.1.attn.hook_pattern"])


def test_conv_qkv_variant_runs_and_mixes_neighbours() -> None:
    m = small(conv_kernel=3, causal=False)
    out = m(tokens())
    assert out.shape == (4, 9, 13)
    assert any("conv_qkv" in k for k in m.state_dict())


@pytest.mark.parametrize(
    "bad", [{"d_model": 25}, {"act_fn": "tanh"}, {"conv_kernel": 2}, {"n_layers": 0}]
)
def test_impossible_configs_are_refused(bad: dict) -> None:
    with pytest.raises(AlgolensError):
        small(**bad)


@pytest.mark.parametrize("kw", [{}, {"conv_kernel": 7}])
def test_same_seed_same_weights(kw: dict) -> None:
    a = small(seed=3, **kw)
    torch.manual_seed(123)  # the global generator does not enter (conv included)
    b, c = small(seed=3, **kw), small(seed=4, **kw)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.embed.W_E, c.embed.W_E)


def test_layer_norm_off() -> None:
    m = small(normalization_type=None)
    assert not any(".ln" in k or k.startswith("ln_final") for k in m.state_dict())
    assert m(tokens()).shape == (4, 9, 13)


# ---- the readout path ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("causal", "conv_kernel", "readout"),
    [(True, 0, slice(5, 11)), (False, 0, slice(None, None, 3)), (False, 3, slice(2, 3))],
)
def test_readout_equals_the_full_forward_at_those_positions(
    causal: bool, conv_kernel: int, readout: slice
) -> None:
    cfg = TransformerConfig(
        n_layers=2, n_heads=2, d_model=16, n_ctx=12, causal=causal, conv_kernel=conv_kernel
    )
    model = Transformer(cfg)
    tokens = torch.randint(0, cfg.d_vocab, (4, 12), generator=torch.Generator().manual_seed(0))
    full = model(tokens)[:, readout]
    torch.testing.assert_close(model(tokens, readout=readout), full, rtol=1e-5, atol=1e-5)
    # the explicit-softmax path (taken when the pattern is hooked) agrees too
    model.blocks[-1].attn.hook_pattern.add_hook(lambda t, hook: t)
    torch.testing.assert_close(model(tokens, readout=readout), full, rtol=1e-5, atol=1e-5)
    model.reset_hooks()


@pytest.mark.parametrize("kw", [{}, {"causal": False, "conv_kernel": 3}, {"tie_layers": True}])
def test_logit_lens_is_transformer_lens_recomputed_ln_stack(kw: dict) -> None:
    """Our logit lens against TransformerLens's own: the accumulated residual stream after each
    block, the final LayerNorm recomputed per layer, then the unembedding."""
    m = small(n_layers=3, **kw)
    toks = tokens()
    with torch.no_grad():
        lens = m.logit_lens(toks)  # [layer, batch, pos, d_vocab]
        logits, cache = m.run_with_cache(toks)
        stack = cache.accumulated_resid()[1:]  # after blocks 0, 1, 2
        ref = cache.apply_ln_to_stack(stack, recompute_ln=True) @ m.unembed.W_U + m.unembed.b_U
        strided = m.logit_lens(toks, readout=slice(1, None, 3))
    assert lens.shape == (3, 4, 9, 13)
    torch.testing.assert_close(lens, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lens[-1], logits, atol=1e-5, rtol=1e-5)  # last row: forward's
    torch.testing.assert_close(strided, lens[:, :, 1::3], atol=1e-5, rtol=1e-5)  # readout path


def test_affine_is_the_matmul_plus_bias_for_any_leading_shape() -> None:
    from algolens.models.transformer import affine

    gen = torch.Generator().manual_seed(0)
    w, b = torch.randn(40, 24, generator=gen), torch.randn(24, generator=gen)
    for x in (
        torch.randn(3, 5, 40, generator=gen),
        torch.randn(5, 3, 40, generator=gen).transpose(0, 1),
    ):
        out = affine(x, w, b)
        assert out.shape == (3, 5, 24)
        torch.testing.assert_close(out, x @ w + b, rtol=1e-5, atol=1e-5)
