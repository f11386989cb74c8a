"""Answer-digit activation patching, attribution patching and the logit lens on zoo adders.

Oracles: patching the last residual stream at the position that reads a digit restores exactly
that digit's clean metric and no other; our activation patching equals TransformerLens's own
``patching.get_act_patch_mlp_out``; attribution patching agrees with activation patching
(Pearson correlation over the (node, digit) pairs that causality lets interact); the logit lens's
last layer is the model's output.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from algolens.analysis.nodes import Node
from algolens.analysis.patching import (
    activation_patching,
    answer_metric,
    attribution_patching,
    logit_lens,
)
from algolens.errors import AlgolensError
from algolens.runs import load


@pytest.fixture(scope="module")
def run():
    return load("zoo:add_d5_l1")


def pairs(run, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean and corrupt questions drawn uniformly, ``[n, n_ctx]`` each."""
    gen = torch.Generator().manual_seed(seed)
    return run.task.sample_uniform(n, gen).inputs, run.task.sample_uniform(n, gen).inputs


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1])


def test_patching_the_last_residual_restores_exactly_its_digit(run) -> None:
    clean, corrupt = pairs(run, 8)
    task, last = run.task, run.model.cfg.n_layers - 1
    k = 3  # answer digit A2, read at position answer_start - 1 + 3
    at = task.answer_start - 1 + k
    nodes = [Node(at, last, "resid"), Node(at - 1, last, "resid")]
    res = activation_patching(run.model, task, clean, corrupt, nodes, metric="logprob")
    assert torch.allclose(res.restored()[0, k], torch.tensor(1.0, dtype=torch.float64))
    others = [i for i in range(task.n_answer) if i != k]
    assert torch.allclose(res.change()[0, others], torch.zeros(len(others), dtype=torch.float64))
    # negative control: the residual one position earlier does not restore digit k
    assert res.restored()[1, k].abs() < 0.5
    assert res.answer_names[k] == "A2" and res.reach[0].tolist() == [False] * 3 + [True] * 3


def test_activation_patching_equals_transformer_lens_patching(run) -> None:
    """Our per-digit patching of MLP outputs equals TransformerLens's get_act_patch_mlp_out with
    the same metric; a different digit's metric does not."""
    from transformer_lens import patching

    clean, corrupt = pairs(run, 4)
    k, at = 5, run.task.answer_start - 1 + 5  # A0
    want, other = clean[:, at + 1 : at + 2], corrupt[:, at + 1 : at + 2]

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return (logits[:, at].gather(-1, want) - logits[:, at].gather(-1, other)).mean()

    nodes = [Node(p, 0, "mlp") for p in range(11, 17)]
    ours = activation_patching(run.model, run.task, clean, corrupt, nodes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, cache = run.model.run_with_cache(clean)
        theirs = patching.get_act_patch_mlp_out(run.model, corrupt, cache, metric)[0, 11:17]
    assert torch.allclose(ours.patched[:, k], theirs.double(), atol=1e-3)
    assert not torch.allclose(ours.patched[:, k - 1], theirs.double(), atol=1e-1)


def test_attribution_patching_agrees_with_activation_patching_1_layer(run) -> None:
    """On add_d5_l1, 16 question pairs, logit difference: Pearson 0.77 over the 84 (node, digit)
    pairs where the node can reach the digit (MLPs 0.95, heads 0.54; 0.79 with 64 pairs)."""
    clean, corrupt = pairs(run, 16)
    exact = activation_patching(run.model, run.task, clean, corrupt)
    approx = attribution_patching(run.model, run.task, clean, corrupt)
    assert [n.name for n in exact.nodes] == [n.name for n in approx.nodes]
    assert torch.allclose(exact.corrupt, approx.corrupt) and torch.allclose(
        exact.clean, approx.clean
    )
    reach = exact.reach
    r = correlation(exact.change()[reach], approx.change()[reach])
    assert r > 0.7, r
    # negative control: the same estimates given to the wrong nodes do not agree (0.21)
    perm = torch.randperm(len(approx.nodes), generator=torch.Generator().manual_seed(1))
    assert correlation(exact.change()[reach], approx.change()[perm][reach]) < 0.5


@pytest.mark.slow
def test_attribution_patching_agrees_with_activation_patching_2_layer() -> None:
    """On add_d5_l2, 64 question pairs, logit difference: Pearson 0.83 over the reachable
    (node, digit) pairs (MLPs 0.93, heads 0.54)."""
    run = load("zoo:add_d5_l2")
    clean, corrupt = pairs(run, 64)
    exact = activation_patching(run.model, run.task, clean, corrupt)
    approx = attribution_patching(run.model, run.task, clean, corrupt)
    reach = exact.reach
    r = correlation(exact.change()[reach], approx.change()[reach])
    assert r > 0.75, r
    perm = torch.randperm(len(approx.nodes), generator=torch.Generator().manual_seed(1))
    assert correlation(exact.change()[reach], approx.change()[perm][reach]) < 0.5


def test_metrics_and_bad_arguments(run) -> None:
    logits = torch.tensor([[[0.0, 2.0, 1.0]]])
    clean, corrupt = torch.tensor([[1]]), torch.tensor([[2]])
    assert answer_metric(logits, clean, corrupt, "logit_diff").item() == 1.0
    assert answer_metric(logits, clean, corrupt, "prob").item() == pytest.approx(
        logits.softmax(-1)[0, 0, 1].item()
    )
    with pytest.raises(AlgolensError, match="metric must be one of"):
        answer_metric(logits, clean, corrupt, "accuracy")
    a, b = pairs(run, 2)
    with pytest.raises(AlgolensError, match="differ in shape"):
        activation_patching(run.model, run.task, a, b[:1])
    with pytest.raises(AlgolensError, match="method must be exact or attribution"):
        activation_patching(run.model, run.task, a, b, method="approximate")  # type: ignore[arg-type]
    with pytest.raises(AlgolensError, match="differ in shape"):  # the same check for both
        attribution_patching(run.model, run.task, a, b[:1])


def test_logit_lens_last_layer_is_the_output() -> None:
    run = load("zoo:add_d5_l2")
    questions = ["12345+54321", "99999+00001", "44445+55555", "50505+49495"]
    lens = run.logit_lens(questions)
    assert lens.logits.shape == (2, 4, 6, 13)
    with torch.no_grad():
        out = run.task.answer_logits(run.model(run.to_tokens(questions)))
    assert torch.allclose(lens.logits[-1], out, atol=1e-4)
    assert lens.accuracy()[-1].eq(1).all()  # the zoo model answers these right
    assert lens.target_prob().shape == (2, 4, 6)
    # negative control: after layer 0 alone some digit of these carries is wrong
    assert not lens.correct()[0].all()
    assert torch.equal(
        logit_lens(run.model, run.task, run.to_tokens(questions)).logits, lens.logits
    )
