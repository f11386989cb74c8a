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


# ---- TransformerLens 3 and 4: the bridge, HookedTransformer, text tools, OV and QK -----------
def _has_hooked_transformer() -> bool:
    try:
        from transformer_lens import HookedTransformer  # noqa: F401
    except ImportError:
        return False
    return True


def test_bridge_is_in_eval_mode(run) -> None:
    """transformer_lens.patching refuses a model in training mode; the bridge comes in eval."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = run.to_transformer_lens()
    assert not any(m.training for m in bridge.modules())
    bridge.train()  # negative control: the check sees training mode
    assert any(m.training for m in bridge.modules())


@pytest.mark.skipif(not _has_hooked_transformer(), reason="TransformerLens 4 has none")
@pytest.mark.parametrize("name", ["add_d5_l1", "add_d5_l2", "modadd_tf_p113"])
def test_hooked_transformer_gives_the_same_logits(name: str) -> None:
    run = load(f"zoo:{name}")
    tokens = torch.randint(0, run.model.cfg.d_vocab, (8, run.model.cfg.n_ctx))
    hooked = run.to_hooked_transformer()
    assert type(hooked).__name__ == "HookedTransformer" and not hooked.training
    with torch.no_grad():
        ours, theirs = run.model(tokens), hooked(tokens)
        model64 = copy.deepcopy(run.model).double()
        ours64, theirs64 = model64(tokens), model64.to_hooked_transformer()(tokens)
        assert (ours - theirs).abs().max() < 1e-5 * ours.abs().max()
        assert (ours64 - theirs64).abs().max() < 1e-10
        # negative control: one bias changed in ours and the logits part
        model64.unembed.b_U[0] += 1.0
        assert (model64(tokens) - theirs64).abs().max() > 1e-3


@pytest.mark.skipif(not _has_hooked_transformer(), reason="TransformerLens 4 has none")
def test_without_the_bridge_builder_the_form_is_hooked_transformer(run, monkeypatch) -> None:
    """A TransformerLens 3.x older than the native bridge builder gets HookedTransformer."""
    from algolens.models import bridge

    monkeypatch.setattr(bridge, "has_bridge", lambda: False)
    assert type(run.to_transformer_lens()).__name__ == "HookedTransformer"
    monkeypatch.undo()  # negative control: with the builder, the bridge
    assert type(run.to_transformer_lens()).__name__ == "TransformerBridge"


@pytest.mark.skipif(_has_hooked_transformer(), reason="TransformerLens 3 has HookedTransformer")
def test_hooked_transformer_under_transformer_lens_4_is_one_error(run) -> None:
    with pytest.raises(AlgolensError, match=r"has no HookedTransformer.*transformer-lens<4"):
        run.to_hooked_transformer()


def _lens_models(run) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = [run.to_transformer_lens()]
        if _has_hooked_transformer():
            models.append(run.to_hooked_transformer())
    return models


def test_text_tools_on_the_transformer_lens_models(run) -> None:
    """to_tokens, to_str_tokens and generate work on the bridge (and on HookedTransformer under
    TransformerLens 3); greedy generate gives the run's own (oracle-checked) predict answers."""
    questions = ["12+34", "99999+1", "50505+49495"]
    prompts = [run.to_str_tokens(q)[: run.task.answer_start] for q in questions]
    texts = ["".join(p) for p in prompts]
    want = [t + a for t, a in zip(texts, run.predict(questions), strict=True)]
    assert want[0] == "00012+00034=000046"  # the oracle's answer
    for tl_model in _lens_models(run):
        assert torch.equal(tl_model.to_tokens(texts), run.to_tokens(questions)[:, :12])
        assert tl_model.to_str_tokens(texts[0]) == prompts[0]
        out = tl_model.generate(texts, max_new_tokens=6, do_sample=False, stop_at_eos=False,
                                verbose=False)  # fmt: skip
        assert out == want, type(tl_model).__name__
        # negative control: with the last residual stream zeroed it generates something else
        last = f"blocks.{run.model.cfg.n_layers - 1}.hook_resid_post"
        with tl_model.hooks(fwd_hooks=[(last, lambda act, hook: act * 0)]):
            out = tl_model.generate(texts[0], max_new_tokens=6, do_sample=False,
                                    stop_at_eos=False, verbose=False)  # fmt: skip
        assert out != want[0]


def test_model_to_tokens_and_to_str_tokens(run) -> None:
    model = run.model
    tokens = model.to_tokens(["00012+00034=", "99999+00001="])
    assert torch.equal(tokens, run.to_tokens(["12+34", "99999+1"])[:, :12])
    assert model.to_str_tokens("12+34=") == ["1", "2", "+", "3", "4", "="]
    assert model.to_str_tokens(tokens[1]) == [*"99999+00001="]
    assert model.to_string(tokens[0]) == "00012+00034="
    with pytest.raises(AlgolensError, match="'x' in '12x' is not a token"):
        model.to_tokens("12x")
    with pytest.raises(AlgolensError, match="different numbers of tokens"):
        model.to_tokens(["1+2=", "12+34="])
    fresh = copy.deepcopy(model)
    fresh.tokenizer = None
    with pytest.raises(AlgolensError, match="no tokenizer"):
        fresh.to_tokens("1+2=")


def test_ov_and_qk_are_factored_matrices_of_each_head(run) -> None:
    from transformer_lens import FactoredMatrix

    model = run.model
    ov, qk = model.OV, model.QK
    assert isinstance(ov, FactoredMatrix) and isinstance(qk, FactoredMatrix)
    d = model.cfg.d_model
    assert ov.shape == qk.shape == (model.cfg.n_layers, model.cfg.n_heads, d, d)
    attn = model.blocks[1].attn
    by_hand_ov = attn.W_V[2] @ attn.W_O[2]  # [d_model, d_model]
    by_hand_qk = attn.W_Q[2] @ attn.W_K[2].T
    assert torch.allclose(ov[1, 2].AB, by_hand_ov, atol=1e-6)
    assert torch.allclose(qk[1, 2].AB, by_hand_qk, atol=1e-6)
    assert torch.equal(model.W_Q[1], attn.W_Q)
    # negative control: another head's OV is not this one's
    assert not torch.allclose(ov[1, 1].AB, by_hand_ov, atol=1e-3)
