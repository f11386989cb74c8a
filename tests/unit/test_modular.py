"""Modular addition: the task, the MLP, the Fourier basis, cosine fits, the cosine construction."""

from __future__ import annotations

import math

import pytest
import torch

from algolens.errors import AlgolensError
from algolens.families import make_task
from algolens.families import resolve_preset as resolve
from algolens.families.modular.fourier import (
    fourier_2d,
    fourier_basis,
    frequency_norms,
    grokking_phases,
    key_frequencies,
    neuron_frequencies,
    restricted_excluded_loss,
)
from algolens.families.modular.mlp import (
    construction_curve,
    cosine_network,
    fit_cosines,
    fit_mlp,
    mlp_accuracy,
    relations,
    replace_with_fits,
)
from algolens.models.mlp import MLP, MLPConfig


# ---- task --------------------------------------------------------------------------------------
def test_split_is_a_seeded_partition_of_all_pairs() -> None:
    task = make_task("modadd", p=11, train_frac=0.3, split_seed=4)
    assert task.n_train == round(0.3 * 121)
    both = torch.cat([task.train_idx, task.val_idx]).sort().values
    assert torch.equal(both, torch.arange(121))
    again = make_task("modadd", p=11, train_frac=0.3, split_seed=4)
    assert torch.equal(task.train_idx, again.train_idx)
    other = make_task("modadd", p=11, train_frac=0.3, split_seed=5)
    assert not torch.equal(task.train_idx, other.train_idx)


def test_onehot_and_token_inputs_encode_the_pair() -> None:
    onehot = make_task("modadd", p=7)
    batch = onehot.batch(torch.tensor([3 * 7 + 5]))
    assert batch.inputs.shape == (1, 14)
    assert batch.inputs[0].nonzero().flatten().tolist() == [3, 7 + 5]
    assert batch.targets.tolist() == [[(3 + 5) % 7]]
    tokens = make_task("modadd", p=7, input="tokens")
    assert tokens.batch(torch.tensor([3 * 7 + 5])).inputs.tolist() == [[3, 5, 7]]
    assert tokens.n_ctx == 3 and onehot.n_ctx is None
    assert tokens.model_defaults("transformer") == {"n_ctx": 3, "d_vocab": 8, "d_vocab_out": 7}
    assert onehot.model_defaults("mlp") == {"d_in": 14, "d_out": 7}


def test_sample_is_full_batch_or_a_minibatch_of_the_training_split() -> None:
    task = make_task("modadd", p=13, train_frac=0.5)
    gen = torch.Generator().manual_seed(0)
    full = task.sample(10_000, gen)
    assert len(full) == task.n_train
    mini = task.sample(32, gen)
    idx = mini.labels["a"] * 13 + mini.labels["b"]
    assert set(idx.tolist()) <= set(task.train_idx.tolist())
    assert torch.equal(mini.targets[:, 0], (mini.labels["a"] + mini.labels["b"]) % 13)
    rec = task.records(mini)[0]
    assert rec["answer"] == (rec["a"] + rec["b"]) % 13


def test_answer_logits_reads_the_last_position() -> None:
    task = make_task("modadd", p=5)
    assert task.answer_logits(torch.zeros(4, 5)).shape == (4, 1, 5)
    out = torch.arange(4 * 3 * 5.0).reshape(4, 3, 5)
    assert torch.equal(task.answer_logits(out)[:, 0], out[:, 2])


def test_evaluate_scores_an_oracle_model_perfectly() -> None:
    task = make_task("modadd", p=7, train_frac=0.6)

    class Oracle(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a, b = x[:, :7].argmax(-1), x[:, 7:].argmax(-1)
            return torch.nn.functional.one_hot((a + b) % 7, 7).float() * 50

    ev = task.evaluate(Oracle())
    assert ev["train_acc"] == ev["val_acc"] == 1.0
    assert ev["val_loss"] < 1e-12


@pytest.mark.parametrize("bad", [{"p": 1}, {"train_frac": 0.0}, {"input": "text"}])
def test_bad_task_options_raise_one_clear_error(bad: dict) -> None:
    with pytest.raises(AlgolensError):
        make_task("modadd", **bad)


def test_presets_resolve() -> None:
    bussmann, nanda = resolve("modadd", "bussmann"), resolve("modadd", "nanda")
    assert bussmann.model["kind"] == "mlp" and bussmann.train["weight_decay"] == 0.5
    assert nanda.model["normalization_type"] is None and nanda.task["train_frac"] == 0.3


@pytest.mark.parametrize("seed_preset", ["bussmann", "nanda"])
def test_fast_presets_keep_the_seeds_model_and_data(seed_preset: str) -> None:
    seeds, fast = resolve("modadd", seed_preset), resolve("modadd", f"{seed_preset}-fast")
    assert fast.task == seeds.task and fast.model == seeds.model
    assert fast.train["batch_size"] == seeds.train["batch_size"]
    assert fast.train["steps"] < seeds.train["steps"]


# ---- MLP ---------------------------------------------------------------------------------------
def test_mlp_names_shapes_and_hooks() -> None:
    model = MLP(MLPConfig(d_in=10, d_mlp=6, d_out=5))
    assert model.W_in.shape == (10, 6) and model.W_out.shape == (6, 5)
    x = torch.randn(3, 10)
    logits, cache = model.run_with_cache(x)
    assert logits.shape == (3, 5)
    assert cache["hook_pre"].shape == cache["hook_post"].shape == (3, 6)
    expect = torch.relu(x @ model.W_in + model.b_in) @ model.W_out + model.b_out
    torch.testing.assert_close(logits, expect)


# ---- Fourier -----------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [7, 10, 113])
def test_fourier_basis_is_orthonormal(p: int) -> None:
    basis, names = fourier_basis(p)
    torch.testing.assert_close(basis @ basis.T, torch.eye(p, dtype=torch.float64))
    assert names[0] == "const" and len(names) == p


def test_fourier_recovers_a_planted_sum_frequency() -> None:
    p, k = 113, 14
    a = torch.arange(p, dtype=torch.float64)
    table = torch.cos(2 * math.pi * k * (a[:, None] + a[None, :]) / p)  # cos(w(a + b))
    coeff = fourier_2d(table)
    big = (coeff.abs() > 1e-6).nonzero().tolist()
    cos_k, sin_k = 2 * k - 1, 2 * k  # rows of cos k and sin k
    assert sorted(map(tuple, big)) == [(cos_k, cos_k), (sin_k, sin_k)]
    clusters = neuron_frequencies(table[..., None].repeat(1, 1, 3))
    assert clusters.freq.tolist() == [k] * 3
    torch.testing.assert_close(clusters.fve, torch.ones(3, dtype=torch.float64))
    assert key_frequencies(clusters) == [k]


def test_frequency_norms_find_the_embedding_frequency() -> None:
    p = 31
    x = torch.arange(p, dtype=torch.float64)[:, None]
    w_e = torch.cat([torch.cos(2 * math.pi * 4 * x / p), torch.sin(2 * math.pi * 9 * x / p)], 1)
    norms = frequency_norms(w_e)
    assert torch.topk(norms, 2).indices.sort().values.tolist() == [3, 8]  # k = 4 and 9


def test_restricted_loss_keeps_and_excluded_loss_removes_the_key_frequencies() -> None:
    p = 23
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    c = torch.arange(p)
    diff = (a + b)[:, None] - c[None, :]
    logits = sum(5 * torch.cos(2 * math.pi * k * diff / p) for k in (3, 5, 8))
    targets = (a + b) % p
    full = float(torch.nn.functional.cross_entropy(logits.double(), targets))
    restricted, excluded = restricted_excluded_loss(logits, targets, [3, 5, 8], torch.arange(p * p))
    assert full < 0.05
    assert restricted == pytest.approx(full, rel=1e-4)
    assert excluded == pytest.approx(math.log(p))


def test_grokking_phases_from_the_log() -> None:
    rows = [
        {"step": 10, "train_acc": 0.5, "val_acc": 0.0, "val_loss": 5.0},
        {"step": 20, "train_acc": 1.0, "val_acc": 0.1, "val_loss": 4.0},
        {"step": 30, "train_acc": 1.0, "val_acc": 1.0, "val_loss": 0.01},
    ]
    assert grokking_phases(rows) == {"memorised": 20, "grokked": 30, "cleaned_up": None}


# ---- cosine fits and the construction ----------------------------------------------------------
@pytest.mark.parametrize(
    ("p", "k", "phase", "scale", "offset"),
    [
        (113, 1, 0.3, 1.0, 0.0),
        (113, 37, -2.9, 0.4, 0.2),
        (113, 56, 1.5, 2.0, -1.0),
        (31, 7, 3.0, 0.7, 0.1),
    ],
)
def test_cosine_fit_recovers_planted_frequency_and_phase(
    p: int, k: int, phase: float, scale: float, offset: float
) -> None:
    x = torch.arange(p, dtype=torch.float64)
    rows = offset + scale * torch.cos(2 * math.pi * k * x / p + phase)
    noisy = rows + 0.01 * torch.randn(p, dtype=torch.float64)
    fit = fit_cosines(torch.stack([rows, noisy]))
    assert fit.freq.tolist() == [k, k]
    assert fit.phase[0].item() == pytest.approx(phase, abs=1e-9)
    assert fit.scale[0].item() == pytest.approx(scale)
    assert fit.offset[0].item() == pytest.approx(offset)
    assert fit.fve[0].item() == pytest.approx(1.0)
    assert abs(fit.phase[1].item() - phase) < 0.05 and fit.fve[1].item() > 0.99


def test_fits_of_a_cosine_network_satisfy_the_seed_relations() -> None:
    p = 31
    net = cosine_network(p, 64, seed=1, phase_range=2 * math.pi)
    fits = fit_mlp(net.W_in, net.W_out, p)
    rel = relations(fits)
    nonconstant = (fits.a.fve > 0.99).nonzero().flatten()  # k = 0 or p neurons are constant
    assert bool(rel.same_freq[nonconstant].all())
    assert rel.phase_error[nonconstant].abs().max() < 1e-9
    # replacing every neuron by its fit changes nothing for a network made of cosines
    w_in, w_out = replace_with_fits(net.W_in, net.W_out, fits, nonconstant)
    assert mlp_accuracy(w_in, net.b_in, w_out) == mlp_accuracy(net.W_in, net.b_in, net.W_out)


def test_construction_of_random_cosine_neurons_p113() -> None:
    """Seeds: > 95% at 256, 100% at 512 neurons. We measure > 95% at 256 and > 99% at 512 with
    the seed's phases U[0, pi] (the misses cluster at a few sums), and 100% at 1024 with phases
    U[0, 2 pi]."""
    acc_256, acc_512 = construction_curve(113, [256, 512], seeds=1)
    assert acc_256 > 0.95
    assert acc_512 > 0.99
    assert construction_curve(113, [1024], seeds=1, phase_range=2 * math.pi) == [1.0]


def test_predict_answers_questions_and_rejects_bad_ones() -> None:
    task = make_task("modadd", p=7)

    class Oracle(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a, b = x[:, :7].argmax(-1), x[:, 7:].argmax(-1)
            return torch.nn.functional.one_hot((a + b) % 7, 7).float()

    assert task.predict(Oracle(), ["3+5", "6 6", "0+0"]) == ["1", "5", "0"]
    for bad in ("3+9", "3-1", "x+1", "1+2+3"):
        with pytest.raises(AlgolensError):
            task.predict(Oracle(), [bad])
