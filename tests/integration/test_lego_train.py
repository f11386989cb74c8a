"""LEGO end to end: mimic init, the compare command, the report; variants trained to 100% (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from algolens.analysis.lego import classify_heads, head_similarities, position_accuracies
from algolens.models.lego_mimic import MimicConfig, mimic_init
from algolens.models.lego_variants import VARIANTS, train_variant
from algolens.store import build_model, load_run
from algolens.tasks.lego import LegoTask
from algolens.train import TrainConfig

TINY = {"n_layers": 2, "n_heads": 2, "d_model": 32, "d_mlp": 64}


def _model(task: LegoTask, **kw: object) -> torch.nn.Module:
    spec = {"kind": "transformer", "n_ctx": task.n_ctx, "d_vocab": task.d_vocab, **TINY}
    return build_model({**spec, "causal": False, "d_vocab_out": 2, **kw})


def test_mimic_init_raises_the_similarity_it_targets() -> None:
    task = LegoTask(n_vars=4, eval_size=0)
    model = _model(task)
    tokens = task.sample(64, torch.Generator().manual_seed(1)).inputs
    before = head_similarities(model, tokens)
    mimic_init(model, task, MimicConfig(steps=40, batch_size=32, lr=1e-2))
    after = head_similarities(model, tokens)
    assoc0, manip0 = before["association"], before["manipulation"]
    assoc1, manip1 = after["association"], after["manipulation"]
    # head 0 of every layer was trained towards association, head 1 towards manipulation
    assert (assoc1[:, 0] > assoc0[:, 0] + 0.2).all(), (assoc0, assoc1)
    assert (manip1[:, 1] > manip0[:, 1] + 0.2).all(), (manip0, manip1)
    assert (assoc1[:, 0] > assoc1[:, 1]).all() and (manip1[:, 1] > manip1[:, 0]).all()


def test_mimic_init_trains_parent_heads() -> None:
    # the parent template needs the operand (+3) inside layer 0's query: conv kernel 7
    task = LegoTask(n_vars=4, eval_size=0)
    model = _model(task, n_heads=3, d_model=48, conv_kernel=7)
    tokens = task.sample(64, torch.Generator().manual_seed(1)).inputs
    before = head_similarities(model, tokens)["parent"]
    mimic_init(model, task, MimicConfig(steps=60, batch_size=32, lr=1e-2, n_parent=1))
    after = head_similarities(model, tokens)["parent"]
    assert (after[:, 2] > before[:, 2] + 0.3).all(), (before, after)  # head 2 of every layer
    assert (after[:, 2] > after[:, :2].max(-1).values).all()
    heads = classify_heads(model, task, 64, seed=2)
    assert [h.kind for h in heads if h.head == 2] == ["parent"] * 2


def test_train_command_takes_parent_heads_and_conv_kernel(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from algolens.cli import app

    out = tmp_path / "m"
    args = ["lego", "train", "--variant", "mimic", "--parent-heads", "1", "--conv-kernel", "7",
            "--n-vars", "4", "--train-k", "2", "--max-vars", "4", "--layers", "1", "--heads",
            "3", "--d-model", "24", "--d-mlp", "32", "--steps", "2", "--log-every", "1",
            "--mimic-steps", "2", "--out", str(out), "--no-progress"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    config = json.loads((out / "config.json").read_text())
    assert config["mimic_init"]["n_parent"] == 1 and config["model"]["conv_kernel"] == 7


def test_compare_command_and_report(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from algolens.cli import app

    out = tmp_path / "cmp"
    args = ["lego", "compare", "--n-vars", "4", "--train-k", "2", "--max-vars", "5",
            "--layers", "1", "--heads", "2", "--d-model", "16", "--d-mlp", "32", "--steps", "4",
            "--log-every", "2", "--mimic-steps", "2", "--n-eval", "64", "--out", str(out),
            "--no-progress"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    comparison = json.loads((out / "comparison.json").read_text())
    assert set(comparison["variants"]) == set(VARIANTS)
    for variant, rows in comparison["variants"].items():
        assert len(rows[0]["accuracy"]) == 4
        names = {p["name"] for p in rows[0]["probes"]}
        assert {"train", "unshuffled", "all_plus", "longer", "names_split"} <= names
        config = json.loads((out / f"{variant}_s0" / "config.json").read_text())
        assert config["variant"] == variant and config["model"]["causal"] is False
    mimic = json.loads((out / "mimic_s0" / "config.json").read_text())
    assert mimic["mimic_init"]["steps"] == 2
    assert mimic["train"]["init_from"] == str(out / "mimic_s0" / "mimic_init")
    assert json.loads((out / "tied_s0" / "config.json").read_text())["model"]["tie_layers"]
    assert json.loads((out / "conv_s0" / "config.json").read_text())["model"]["conv_kernel"] == 3
    assert "Encoder variants side by side" in (out / "report.html").read_text()
    # the analyse command's LEGO report on one of the runs
    res = CliRunner().invoke(
        app, ["analyse", str(out / "random_s0"), "--out", str(tmp_path / "rep"), "--questions",
              "64"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "Shortcut probes" in html and "Head classes" in html
    claims = json.loads((tmp_path / "rep" / "claims.json").read_text())
    assert any("association" in c["claim"] for c in claims)


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_learns_n4_to_full_accuracy(tmp_path: Path, variant: str) -> None:
    task_spec = {"name": "lego", "n_vars": 4, "eval_size": 2048}
    model = {"n_layers": 5, "n_heads": 2, "d_model": 64, "d_mlp": 128}
    cfg = TrainConfig(steps=3000, batch_size=128, lr=3e-3, weight_decay=0.0, warmup_frac=0.02,
                      log_every=50, stop_when="val_acc_trained>=1")  # fmt: skip
    out = train_variant(tmp_path / variant, variant, task_spec, model, cfg,
                        MimicConfig(steps=100), progress=False)  # fmt: skip
    run = load_run(out)
    assert run.metrics[-1]["val_acc_trained"] == 1.0  # every one of 2048 validation sentences
    assert min(position_accuracies(run.model, run.task, 2048, seed=7)) >= 0.999  # fresh ones
