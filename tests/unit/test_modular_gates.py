"""The modular claims are tied to what the model does (issue 33): each passes on the zoo model
and fails on a weight-edited copy of it that the claim, read from weights, activations or the
log alone, used to pass. The zoo-model tests run the full table through each copy several times
(about 20 s each on a busy 2-core machine), so they are in the slow tier; the fast tier checks
the same gates on the claim functions with measured inputs set by hand.

Transformer (zoo:modadd_tf_p113): MLP output zeroed (validation accuracy 3.8%) and positional
embedding permuted (14%); the key frequencies and "it groks" must fail on both, and the key
frequencies must fail when the wrong frequencies are named. MLP (zoo:modadd_mlp_p113): all
neurons silenced by their bias, or one class's output bias raised; the cosine-fit claims must
fail on both. The construction of random cosine neurons is never counted as the model's pass.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import algolens
from algolens.analysis.claims import tally
from algolens.families.modular.analysis import mlp_claims, tf_claims
from algolens.families.modular.fourier import (
    analyse_transformer,
    fourier_2d,
    frequency_mask,
    grokking_phases,
    neuron_frequencies,
    remove_frequencies,
)
from algolens.families.modular.gates import (
    ACTS,
    FrequencyAblation,
    Gates,
    Rate,
    frequency_ablation,
    log_check,
    other_frequencies,
    split_rates,
)
from algolens.families.modular.mlp import analyse_mlp


# ---- the parts -----------------------------------------------------------------------------------
def test_rate_carries_its_count_and_interval() -> None:
    r = Rate(8938, 8938)
    assert r.value == 1.0 and r.interval[0] > 0.999 and r.interval[1] == 1.0
    assert "8,938 of 8,938 pairs" in r.text() and "95% CI" in r.text()
    assert Rate(0, 10).interval[0] == 0.0 and Rate(5, 10).value == 0.5


def test_removing_frequencies_removes_exactly_their_terms() -> None:
    p = 11
    x = torch.arange(p, dtype=torch.float64)
    a, b = x[:, None], x[None, :]
    w = 2 * torch.pi / p
    table = torch.cos(w * 2 * (a + b)) + torch.sin(w * 3 * a) + 0.5  # frequencies 2 and 3
    assert torch.allclose(
        remove_frequencies(table, [2, 3]), torch.full((p, p), 0.5, dtype=torch.float64)
    )
    kept = remove_frequencies(table, [2])  # only frequency 2 goes; control: 3 stays
    assert torch.allclose(kept, torch.sin(w * 3 * a).expand(p, p) + 0.5)
    assert torch.allclose(fourier_2d(fourier_2d(table), inverse=True), table)
    assert not frequency_mask(p, [1])[0, 0] and frequency_mask(p, [1])[1, 0]


def test_neuron_frequencies_equal_the_per_frequency_loop() -> None:
    """The grouped sums give each neuron's share per frequency exactly as summing the masked
    2D spectrum one frequency at a time (the definition), for odd and even p."""
    for p in (7, 8):
        acts = torch.randn(p, p, 5, generator=torch.Generator().manual_seed(p)).double()
        coeff = fourier_2d(acts).pow(2)
        coeff[0, 0] = 0.0
        total = coeff.sum((0, 1))
        loop = torch.stack(
            [(coeff * frequency_mask(p, [f])[..., None]).sum((0, 1)) / total
             for f in range(1, p // 2 + 1)], dim=1,
        )  # fmt: skip
        assert torch.allclose(neuron_frequencies(acts).per_freq, loop)
    wrong = neuron_frequencies(acts).per_freq.roll(1, dims=1)  # control: shifted frequencies
    assert not torch.allclose(wrong, loop)


def test_log_check_fails_when_the_model_does_not_reach_the_logged_accuracy() -> None:
    logged = [{"step": 10, "val_acc": 0.5}, {"step": 20, "val_acc": 1.0}]
    assert log_check(logged, Rate(8938, 8938)).agrees
    assert log_check(logged, Rate(8900, 8938)).agrees  # within the margin
    broken = log_check(logged, Rate(341, 8938))
    assert not broken.agrees and "DISAGREES" in broken.text() and "341 of 8,938" in broken.text()
    assert not log_check([{"step": 1, "train_acc": 1.0}], Rate(1, 1)).agrees  # no val_acc


def test_other_frequencies_avoid_the_named_ones() -> None:
    others = other_frequencies(113, [1, 6, 21, 38], seed=0)
    assert len(others) == 4 and not set(others) & {1, 6, 21, 38}
    assert others == other_frequencies(113, [1, 6, 21, 38], seed=0)


# ---- the transformer: zoo model and broken copies ----------------------------------------------
@pytest.fixture(scope="module")
def tf() -> Any:
    return algolens.load("zoo:modadd_tf_p113")


def _tf_claims(run: Any, model: torch.nn.Module, freqs: list[int] | None = None) -> Any:
    """The three claims of ``model`` (a copy of the run's) with its own gates."""
    task = run.task
    with torch.no_grad():
        logits, cache = model.run_with_cache(task.all_inputs(), names_filter=ACTS)
    acts, logits = cache[ACTS][:, -1], logits[:, -1]
    res = analyse_transformer(model.embed.W_E, acts, logits)
    if freqs is not None:
        res.key_freqs = freqs  # a claim that names other frequencies
    rates = split_rates(logits, task)
    ablation = frequency_ablation(model, task, logits, res.acts, res.key_freqs)
    gates = Gates(rates, task.split_seed, log_check(run.metrics, rates["val"]), ablation)
    ev = task.evaluate(model)
    return tf_claims(res, ev, grokking_phases(run.metrics), run, gates)


@pytest.mark.slow
def test_transformer_claims_pass_on_the_zoo_model(tf: Any) -> None:
    claims = _tf_claims(tf, tf.model)
    assert all(c.passed for c in claims), claims
    assert "8,938 of 8,938 pairs" in claims[2].measured  # the gate's count, with its interval


@pytest.mark.slow
@pytest.mark.parametrize("edit", ["mlp_out_zeroed", "pos_embed_permuted"])
def test_transformer_claims_fail_on_a_broken_copy(tf: Any, edit: str) -> None:
    """Before issue 33 the key frequencies passed on both copies (the activations still show
    them) and "it groks" on every copy (it read metrics.jsonl)."""
    model = copy.deepcopy(tf.model)
    with torch.no_grad():
        if edit == "mlp_out_zeroed":
            model.blocks[0].mlp.W_out.zero_()
            model.blocks[0].mlp.b_out.zero_()
        else:
            model.pos_embed.W_pos.copy_(model.pos_embed.W_pos[[2, 0, 1]])
    generalises, groks, freqs = _tf_claims(tf, model)
    assert not generalises.passed and not groks.passed and not freqs.passed
    assert "DISAGREES" in groks.measured
    assert "GATE FAILED, validation accuracy" in freqs.measured
    assert freqs.measured.startswith("4: [1, 6, 21, 38]")  # the weights' reading is unchanged


@pytest.mark.slow
def test_key_frequencies_fail_when_the_named_ones_are_not_used(tf: Any) -> None:
    """The causal gate alone: a working model, but frequencies it does not use are named."""
    claims = _tf_claims(tf, tf.model, freqs=[2, 3, 4, 5])
    assert not claims[2].passed and "GATE FAILED, projecting" in claims[2].measured
    assert claims[0].passed and claims[1].passed  # the other claims do not depend on the names


def _gates(val: Rate, logged: float, key: Rate, other: Rate) -> Gates:
    rates = {"all": val, "train": Rate(3831, 3831), "val": val}
    full = Rate(12769, 12769)
    ablation = FrequencyAblation([1, 6, 21, 38], [7, 19, 30, 40], 0, key, other, full, full)
    return Gates(rates, 0, log_check([{"step": 2000, "val_acc": logged}], val), ablation)


def test_transformer_gates_decide_the_claims_fast() -> None:
    """The zoo model's measured numbers pass; its broken copies' numbers (validation accuracy
    3.8% against a log of 100%), and a named frequency set whose ablation does not break the
    answers, fail. The claims read only the gates here: no model is run."""
    res = SimpleNamespace(key_freqs=[1, 6, 21, 38])
    run = SimpleNamespace(
        task=SimpleNamespace(n_train=3831),
        config=SimpleNamespace(
            train=SimpleNamespace(batch_size=10**6, lr=3e-3, weight_decay=3.0, grokfast_lamb=0.0)
        ),
    )
    phases = {"memorised": 150, "grokked": 800, "cleaned_up": 1300}
    ev = {"val_loss": 2e-4}
    good = _gates(Rate(8938, 8938), 1.0, Rate(205, 12769), Rate(12767, 12769))
    assert all(c.passed for c in tf_claims(res, ev, phases, run, good))  # type: ignore[arg-type]
    broken = _gates(Rate(341, 8938), 1.0, Rate(517, 12769), Rate(517, 12769))
    _, groks, freqs = tf_claims(res, ev, phases, run, broken)  # type: ignore[arg-type]
    assert not groks.passed and not freqs.passed and "DISAGREES" in groks.measured
    unused = _gates(Rate(8938, 8938), 1.0, Rate(12760, 12769), Rate(12767, 12769))
    _, groks, freqs = tf_claims(res, ev, phases, run, unused)  # type: ignore[arg-type]
    assert groks.passed and not freqs.passed and "GATE FAILED, projecting" in freqs.measured
    no_log = Gates(good.rates, 0, log_check([], good.rates["val"]), good.ablation)
    assert not tf_claims(res, ev, phases, run, no_log)[1].passed  # type: ignore[arg-type]


# ---- the MLP: zoo model and broken copies ------------------------------------------------------
@pytest.fixture(scope="module")
def mlp() -> Any:
    return algolens.load("zoo:modadd_mlp_p113")


def _mlp_claims(run: Any, model: torch.nn.Module, sizes: list[int]) -> Any:
    res = analyse_mlp(model.W_in, model.b_in, model.W_out, model.b_out, seeds=1, sizes=sizes)
    gates = Gates(split_rates(run.task.all_logits(model), run.task), run.task.split_seed)
    return mlp_claims(res, gates)


@pytest.mark.slow
def test_mlp_claims_pass_on_the_zoo_model(mlp: Any) -> None:
    claims = _mlp_claims(mlp, mlp.model, sizes=[])
    assert len(claims) == 4 and all(c.passed for c in claims), claims


@pytest.mark.slow
@pytest.mark.parametrize("edit", ["neurons_silenced", "one_class_biased"])
def test_mlp_claims_fail_on_a_broken_copy(mlp: Any, edit: str) -> None:
    """The fits read the weights, which these edits leave alone: before issue 33 the frequency
    and phase claims passed on both copies."""
    model = copy.deepcopy(mlp.model)
    with torch.no_grad():
        if edit == "neurons_silenced":
            model.b_in.sub_(100.0)
        else:
            model.b_out[0] += 1000.0
    claims = _mlp_claims(mlp, model, sizes=[])
    assert not any(c.passed for c in claims), claims
    for c in claims[1:3]:
        assert c.measured.startswith(("100% of neurons", "median error"))  # fits unchanged
        assert "GATE FAILED, validation accuracy" in c.measured
        assert "GATE FAILED, 100 of 100 neurons" in c.measured  # replaced by fits: broken too


def test_the_construction_is_never_the_model_s_pass() -> None:
    """An untrained MLP: the construction's 256 random cosine neurons still reach > 95%, so its
    record is not applicable to the model, and the tally does not count it."""
    p = 7
    gen = torch.Generator().manual_seed(0)
    W_in, W_out = torch.randn(2 * p, 4, generator=gen), torch.randn(4, p, generator=gen)
    res = analyse_mlp(W_in, torch.zeros(4), W_out, torch.zeros(p), seeds=1, sizes=[256, 512])
    chance = {"all": Rate(7, p * p), "train": Rate(1, 39), "val": Rate(1, 10)}
    claims = mlp_claims(res, Gates(chance, 0))
    built = claims[4:]
    assert [c.verdict for c in built] == ["n/a", "n/a"] and not any(c.passed for c in built)
    assert built[0].measured.startswith("a property of Bussmann 2023's construction")
    assert "the construction fails: 0.8571" in built[0].measured  # its own verdict, kept
    assert "49 pairs per network, mean of 1 draws, seed 0" in built[0].measured
    assert tally(claims) == "0 / 4 (2 not applicable)"
