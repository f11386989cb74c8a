"""TransformerLens on our models: its bridge computes our logits, and its ActivationCache tools
(decompose_resid, get_full_resid_decomposition, accumulated_resid, logit_attrs) run and add up."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from algolens.errors import AlgolensError
from algolens.runs import load

QUESTIONS = ["12345+54321", "99999+00001", "50000+50000", "31415+92653"]


@pytest.fixture(scope="module")
def run():
    return load("zoo:add_d5_l2")


@pytest.fixture(scope="module")
def cached(run):
    tokens = run.to_tokens(QUESTIONS)
    with torch.no_grad():
        logits, cache = run.model.run_with_cache(tokens)
    return tokens, logits, cache


@pytest.mark.parametrize("name", ["add_d5_l2", "mix_d6_l3", "modadd_tf_p113"])
def test_bridge_gives_the_same_logits(name: str) -> None:
    run = load(f"zoo:{name}")
    tokens = torch.randint(0, run.model.cfg.d_vocab, (16, run.model.cfg.n_ctx))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = run.to_transformer_lens()
        with torch.no_grad():
            ours, theirs = run.model(tokens), bridge(tokens)
            # in float64 the two are the same function up to rounding
            model64 = copy.deepcopy(run.model).double()
            ours64, theirs64 = model64(tokens), model64.to_transformer_lens()(tokens)
    assert (ours - theirs).abs().max() < 1e-5 * ours.abs().max()
    assert (ours64 - theirs64).abs().max() < 1e-10


def test_bridge_cache_matches_ours(run, cached) -> None:
    tokens, _, cache = cached
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = run.to_transformer_lens()
        with torch.no_grad():
            _, theirs = bridge.run_with_cache(tokens)
    for name in ("blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern", "blocks.1.hook_mlp_out"):
        assert torch.allclose(cache[name], theirs[name], atol=1e-4), name


def test_pos_embed_has_a_batch_dimension(run, cached) -> None:
    tokens, _, cache = cached
    assert cache["hook_pos_embed"].shape == (len(QUESTIONS), tokens.shape[1], run.model.cfg.d_model)


def test_decompositions_add_up_to_the_residual_stream(run, cached) -> None:
    _, _, cache = cached
    final = cache["blocks.1.hook_resid_post"][:, -1]
    parts = cache.decompose_resid(pos_slice=-1)
    assert parts.shape[0] == 2 + 2 * run.model.cfg.n_layers  # embed, pos, attn and mlp per layer
    assert torch.allclose(parts.sum(0), final, atol=1e-4)
    full = cache.get_full_resid_decomposition(expand_neurons=False, pos_slice=-1)
    assert torch.allclose(full.sum(0), final, atol=1e-4)
    neurons = cache.get_full_resid_decomposition(expand_neurons=True, pos_slice=-1)
    assert torch.allclose(neurons.sum(0), final, atol=1e-3)
    accumulated = cache.accumulated_resid(pos_slice=-1)
    assert torch.allclose(accumulated[-1], final)


def test_accumulated_bias_counts_the_biases_before_a_layer(run) -> None:
    m = run.model
    b0, b1 = m.blocks[0], m.blocks[1]
    assert torch.equal(m.accumulated_bias(0), torch.zeros(m.cfg.d_model))
    assert torch.allclose(m.accumulated_bias(1), b0.attn.b_O + b0.mlp.b_out)
    assert torch.allclose(
        m.accumulated_bias(1, mlp_input=True), b0.attn.b_O + b0.mlp.b_out + b1.attn.b_O
    )
    assert torch.allclose(m.accumulated_bias(1, include_mlp_biases=False), b0.attn.b_O)
    with pytest.raises(AlgolensError):
        m.accumulated_bias(2, mlp_input=True)


def test_logit_attributions_add_up_to_the_logit(run) -> None:
    """With the final LayerNorm's weight 1 and bias 0, the attributions plus b_U are the logit."""
    model = copy.deepcopy(run.model)
    with torch.no_grad():
        model.ln_final.w.fill_(1.0)
        model.ln_final.b.zero_()
        tokens = run.to_tokens(QUESTIONS)
        logits, cache = model.run_with_cache(tokens)
    pos = run.task.answer_start - 1  # predicts the first answer digit
    answer = tokens[:, pos + 1]
    stack = cache.decompose_resid(pos_slice=pos)
    attrs = cache.logit_attrs(stack, tokens=answer, pos_slice=pos)
    want = logits[:, pos].gather(1, answer[:, None])[:, 0] - model.b_U[answer]
    assert torch.allclose(attrs.sum(0), want, atol=1e-3)
    direction = model.tokens_to_residual_directions(answer)
    assert direction.shape == (len(QUESTIONS), model.cfg.d_model)
    assert torch.equal(model.tokens_to_residual_directions(3), model.W_U[:, 3])


def test_str_tokens_of_each_family() -> None:
    add = load("zoo:add_d5_l2")
    assert add.to_str_tokens("12345+54321") == [*"12345+54321=066666"]
    assert add.to_str_tokens(add.to_tokens(["1+2"])[0]) == [*"00001+00002=000003"]
    lego = load("zoo:lego_n12_k6")
    sentence = " ; ".join(f"{c} = +1" for c in "abcdefghijkl")
    assert lego.to_str_tokens(sentence)[:6] == ["a", "=", "+", "1", ";", "b"]
    mod = load("zoo:modadd_tf_p113")
    assert mod.to_str_tokens("5+110") == ["5", "110", "="]
    with pytest.raises(AlgolensError, match="not tokens"):
        load("zoo:modadd_mlp_p113").to_tokens("5+110")
    with pytest.raises(AlgolensError, match="below 13"):
        add.to_str_tokens([1, 99])
