"""Modular addition end to end: a small p trains to 100%; its report shows the cosine algorithm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from algolens.config import TrainConfig
from algolens.report import report_run
from algolens.runs import load_run, resume_run, train
from algolens.store import WEIGHTS

P = 31
TASK = {"name": "modadd", "p": P, "train_frac": 0.8, "input": "onehot"}
MLP = {"kind": "mlp", "d_mlp": 128}
RECIPE = {
    "steps": 1500,
    "batch_size": 100_000,  # full batch
    "lr": 1e-2,
    "weight_decay": 1.0,
    "beta2": 0.98,
    "warmup_frac": 0.0,
    "min_lr_frac": 1.0,
    "log_every": 50,
    "keep_every": 500,
    "seed": 0,
    "stop_when": "val_acc>=1",
}


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("modadd") / "modadd_mlp_p31"
    return train(out, TASK, MLP, TrainConfig(**RECIPE), progress=False)


def test_small_p_mlp_trains_to_100_percent(mlp_run: Path) -> None:
    run = load_run(mlp_run)
    ev = run.task.evaluate(run.model)
    assert ev["train_acc"] == 1.0 and ev["val_acc"] == 1.0
    # the answers match the plain-Python oracle on every pair
    a, b = run.task.pairs()
    pred = run.task.all_logits(run.model).argmax(-1)
    assert pred.tolist() == [(x + y) % P for x, y in zip(a.tolist(), b.tolist(), strict=True)]
    rows = [json.loads(line) for line in (mlp_run / "metrics.jsonl").read_text().splitlines()]
    assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= set(rows[-1])
    kept = sorted(p.name for p in (mlp_run / "checkpoints").iterdir())
    assert kept[:2] == ["step_000000.safetensors", "step_000500.safetensors"]


def test_report_shows_the_cosine_algorithm(mlp_run: Path, tmp_path: Path) -> None:
    path = report_run(load_run(mlp_run), tmp_path)
    assert path.exists() and "Cosine fits" in path.read_text()
    claims = {c["claim"]: c for c in json.loads((tmp_path / "claims.json").read_text())}
    same = claims["input weights from a and b and the output weights share one frequency"]
    assert same["passed"], same


def test_grokfast_resume_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    cfg = {**RECIPE, "steps": 40, "keep_every": 0, "grokfast_lamb": 2.0, "batch_size": 64}
    cfg["stop_when"] = ""
    whole = train(tmp_path / "whole", TASK, MLP, TrainConfig(**cfg), progress=False)
    part = train(tmp_path / "part", TASK, MLP, TrainConfig(**cfg), progress=False, stop_after=13)
    resume_run(part, progress=False)
    w_whole, w_part = load_file(whole / WEIGHTS), load_file(part / WEIGHTS)
    for k in w_whole:
        assert torch.equal(w_whole[k], w_part[k]), k
    plain = train(
        tmp_path / "plain", TASK, MLP, TrainConfig(**{**cfg, "grokfast_lamb": 0.0}), progress=False
    )
    assert not torch.equal(load_file(plain / WEIGHTS)["W_in"], w_whole["W_in"])


def test_stop_when_ends_the_run_at_the_first_matching_row(tmp_path: Path) -> None:
    cfg = {**RECIPE, "steps": 300, "keep_every": 0, "stop_when": "train_acc>=1"}
    out = train(tmp_path / "r", TASK, MLP, TrainConfig(**cfg), progress=False)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["train_acc"] >= 1.0
    assert all(r["train_acc"] < 1.0 for r in rows[:-1])
    assert rows[-1]["step"] < 300


def test_transformer_run_and_report_follow_the_checkpoints(tmp_path: Path) -> None:
    task = {"name": "modadd", "p": 13, "train_frac": 0.3, "input": "tokens"}
    model = {"kind": "transformer", "n_layers": 1, "n_heads": 2, "d_model": 32,
             "normalization_type": None}  # fmt: skip
    cfg = {**RECIPE, "steps": 20, "lr": 1e-3, "keep_every": 10, "log_every": 10, "stop_when": ""}
    out = train(tmp_path / "tf", task, model, TrainConfig(**cfg), progress=False)
    run = load_run(out)
    assert run.config.model["d_vocab"] == 14 and run.config.model["d_vocab_out"] == 13
    assert run.task.all_logits(run.model).shape == (169, 13)
    path = report_run(run, tmp_path / "report")
    text = path.read_text()
    assert "Progress measures over the checkpoints" in text and "Fourier spectra" in text


@pytest.mark.slow
def test_small_p_transformer_groks_with_the_fast_recipe(tmp_path: Path) -> None:
    """``--preset nanda-fast`` on p = 31 (60% of the pairs train): the model memorises first and
    generalises over a thousand steps later (about 2 minutes; the zoo's p = 113 model is the
    full-size record)."""
    from algolens.families import resolve_preset as resolve
    from algolens.families.modular.fourier import grokking_phases

    recipe = resolve("modadd", "nanda-fast")
    task = {**recipe.task, "p": P, "train_frac": 0.6}
    cfg = {**recipe.train, "steps": 3000, "keep_every": 0, "stop_when": "val_acc>=0.99"}
    out = train(tmp_path / "tf31", task, recipe.model, TrainConfig(**cfg), progress=False)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    phases = grokking_phases(rows)
    assert rows[-1]["val_acc"] >= 0.99
    assert phases["memorised"] is not None and phases["grokked"] is not None
    assert phases["grokked"] - phases["memorised"] >= 1000  # grokking: a long gap
