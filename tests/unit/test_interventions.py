"""The patch primitive against TransformerLens's own activation patching, and its controls."""

from __future__ import annotations

import pytest
import torch
from transformer_lens import patching

from algolens.analysis.interventions import (
    Patch,
    Site,
    activations,
    interchange_patch,
    intervention_values,
    patch_hooks,
    run_patched,
)
from algolens.analysis.nodes import Node
from algolens.runs import load


@pytest.fixture(scope="module")
def run():
    return load("zoo:add_d5_l2")


@pytest.fixture(scope="module")
def pair(run):
    gen = torch.Generator().manual_seed(0)
    return run.task.sample_uniform(8, gen).inputs, run.task.sample_uniform(8, gen).inputs


def _metric(task):
    """A scalar that every answer logit moves: the mean answer log-probability of token 3."""
    return lambda logits: task.answer_logits(logits).log_softmax(-1)[..., 3].mean()


# a few nodes of each kind, both layers, before and after '=' (TransformerLens's patching runs
# one forward per node and is slow on the whole grid)
HEADS = [(0, 11, 2), (0, 13, 1), (1, 16, 2)]
MLPS = [(0, 14), (1, 15)]


@pytest.mark.parametrize(
    ("tl_fn", "kind", "rows"),
    [
        (patching.get_act_patch_attn_head_out_by_pos, "head", HEADS),
        (patching.get_act_patch_mlp_out, "mlp", MLPS),
    ],
)
def test_matches_transformer_lens_patching(run, pair, tl_fn, kind, rows) -> None:
    """A head's hook_z (an MLP's output) at one position, patched from the source into the
    base: the same metric as transformer_lens.patching, to float precision."""
    import pandas as pd

    model, task = run.model, run.task
    base, source = pair
    _, cache = model.run_with_cache(source)
    metric = _metric(task)
    names = ["layer", "pos", "head"] if kind == "head" else ["layer", "pos"]
    with torch.inference_mode():
        index = pd.DataFrame(rows, columns=names)
        theirs = tl_fn(model, base, cache, metric, index_df=index, index_axis_names=None)
        nodes = [Node(r[1], r[0], kind, r[2] if kind == "head" else None) for r in rows]
        patches = [interchange_patch(model, source, (Site(n),)) for n in nodes]
        logits = run_patched(model, base, patches)  # [node, batch, pos, vocab]
    ours = torch.stack([metric(lg) for lg in logits])
    assert torch.allclose(ours, theirs.flatten(), atol=1e-5)
    # negative control: the source taken from other questions gives other numbers
    with torch.inference_mode():
        wrong = [interchange_patch(model, base.flip(0), (Site(n),)) for n in nodes]
        other = torch.stack([metric(lg) for lg in run_patched(model, base, wrong)])
    assert not torch.allclose(other, theirs.flatten(), atol=1e-3)


def test_full_subspace_is_the_node_and_empty_subspace_is_nothing(run, pair) -> None:
    """A subspace spanning the whole node patches as the node; a rank-0 one changes nothing;
    a half-rank one lands in between (the node's other half keeps the base's value)."""
    model = run.model
    base, source = pair
    node = Node(11, 0, "resid")  # the residual stream after layer 0 at '='
    eye = torch.eye(model.cfg.d_model)
    with torch.inference_mode():
        whole = run_patched(model, base, [interchange_patch(model, source, (Site(node),))])
        values = intervention_values(model, "interchange", (Site(node),), source=source)
        full, empty, half = (
            Patch((Site(node, b),), values) for b in (eye, eye[:, :0], eye[:, :48])
        )
        out = run_patched(model, base, [full, empty, half])
        clean = model(base)
    assert torch.allclose(out[0], whole[0], atol=1e-5)
    assert torch.allclose(out[1], clean, atol=1e-6)
    assert not torch.allclose(out[2], clean, atol=1e-3)
    assert not torch.allclose(out[2], whole[0], atol=1e-3)


def test_kinds_of_value(run, pair) -> None:
    """Zero writes zeros, mean writes the reference mean, resample writes some reference
    question's activation: read back from the patched run's own cache."""
    model = run.model
    base, source = pair
    site = Site(Node(13, 0, "head", 1))
    with torch.inference_mode():
        zero = intervention_values(model, "zero", (site,))
        mean = intervention_values(model, "mean", (site,), reference=source)
        resample = intervention_values(
            model, "resample", (site,), reference=source, generator=torch.Generator()
        )
        src = activations(model, source, (site,))[0]
    assert torch.equal(zero[0], torch.zeros(model.cfg.d_head))
    assert torch.allclose(mean[0], src.mean(0), atol=1e-6)
    assert all(any(torch.equal(r, s) for s in src) for r in resample[0])
    assert not torch.equal(resample[0], src)  # a permutation, not the same order
    seen: dict[str, torch.Tensor] = {}

    def keep(act, hook):
        seen["z"] = act[:, 13, 1].clone()

    with torch.inference_mode():
        model.run_with_hooks(
            base,
            fwd_hooks=[*patch_hooks([Patch((site,), mean)], len(base)), (site.hook, keep)],
        )
    assert torch.allclose(seen["z"], mean[0].expand(len(base), -1))


def test_subspace_basis_gets_a_gradient(run, pair) -> None:
    """A learnable basis (what distributed alignment search trains) receives gradients
    through the hooks; the model's weights are not needed to."""
    model = run.model
    base, source = pair
    node = Node(11, 0, "resid")
    basis = torch.linalg.qr(torch.randn(model.cfg.d_model, 2))[0].requires_grad_(True)
    with torch.no_grad():
        values = intervention_values(model, "interchange", (Site(node),), source=source)
    logits = run_patched(model, base, [Patch((Site(node, basis),), values)])
    logits.sum().backward()
    assert basis.grad is not None and float(basis.grad.abs().sum()) > 0


@pytest.mark.parametrize("conv_kernel", [0, 3])
def test_source_activations_equal_the_full_run(conv_kernel: int) -> None:
    """The source run stops at the last site's position in a causal model; a q/k/v convolution
    looks ahead, so there every position runs (negative control: cut short, it differs)."""
    from algolens.models import build_model

    spec = {"kind": "transformer", "n_layers": 2, "n_heads": 2, "d_model": 16, "n_ctx": 8}
    model = build_model({**spec, "conv_kernel": conv_kernel}).eval()
    tokens = torch.randint(0, 13, (4, 8))
    sites = (Site(Node(3, 1, "head", 1)), Site(Node(2, 0, "mlp")))
    with torch.inference_mode():
        _, cache = model.run_with_cache(tokens)
        got = activations(model, tokens, sites)
        _, short = model.run_with_cache(tokens[:, :4])
    for site, act in zip(sites, got, strict=True):
        assert torch.allclose(act, site.read(cache[site.hook]), atol=1e-6)
    cut = sites[0].read(short[sites[0].hook])
    assert torch.allclose(cut, got[0], atol=1e-6) == (conv_kernel == 0)
