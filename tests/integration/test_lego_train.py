"""LEGO end to end: mimic init, the compare command, the report; every variant trained on n = 4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from algolens.config import TrainConfig
from algolens.families.lego.analysis import (
    classify_heads,
    fresh_batch,
    head_similarities,
    position_accuracies,
)
from algolens.families.lego.mimic import MimicConfig, mimic_init
from algolens.families.lego.task import LegoTask
from algolens.families.lego.variants import MIMIC_VARIANTS, VARIANTS
from algolens.models import build_model
from algolens.runs import load_run, train

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
    heads = classify_heads(model, fresh_batch(model, task, 64, seed=2).inputs)
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
    assert (
        config["init"]["family"]["mimic"]["n_parent"] == 1 and config["model"]["conv_kernel"] == 7
    )
    # real reuse: a random-init variant starts from that run; a mimic variant refuses to
    same = ["--n-vars", "4", "--train-k", "2", "--max-vars", "4", "--layers", "1", "--heads", "3",
            "--d-model", "24", "--d-mlp", "32", "--steps", "2", "--no-progress"]  # fmt: skip
    res = CliRunner().invoke(app, ["lego", "train", "--variant", "random", "--conv-kernel", "7",
                                   *same, "--init-from", str(out), "--out",
                                   str(tmp_path / "reuse")])  # fmt: skip
    assert res.exit_code == 0, res.output
    copied = json.loads((tmp_path / "reuse" / "config.json").read_text())["init"]["copied"]
    assert "blocks.0.attn.conv_qkv.weight" in copied and "embed.W_E" in copied
    res = CliRunner().invoke(app, ["lego", "train", "--variant", "parent", *same, "--init-from",
                                   str(out), "--out", str(tmp_path / "no")])  # fmt: skip
    assert res.exit_code == 2 and "no --init-from" in res.stderr


def test_compare_command_and_report(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from algolens.cli import app

    out = tmp_path / "cmp"
    args = ["lego", "compare", "--n-vars", "4", "--train-k", "2", "--max-vars", "5",
            "--layers", "1", "--heads", "3", "--d-model", "24", "--d-mlp", "32", "--steps", "4",
            "--log-every", "2", "--mimic-steps", "2", "--n-eval", "64", "--out", str(out),
            "--no-progress"]  # fmt: skip
    two_heads = [a if a != "3" else "2" for a in args]  # parent needs 3: refused up front
    res = CliRunner().invoke(app, [*two_heads[:-3], "--out", str(tmp_path / "no")])
    assert res.exit_code == 2 and "needs 3 heads" in res.stderr
    assert not (tmp_path / "no").exists()
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    comparison = json.loads((out / "comparison.json").read_text())
    assert set(comparison["variants"]) == set(VARIANTS)
    for variant, rows in comparison["variants"].items():
        assert len(rows[0]["accuracy"]) == 4
        names = {p["name"] for p in rows[0]["probes"]}
        assert {"train", "unshuffled", "all_plus", "longer", "names_split"} <= names
        config = json.loads((out / f"{variant}_s0" / "config.json").read_text())
        assert config["init"]["variant"] == variant and config["model"]["causal"] is False
    mimic = json.loads((out / "mimic_s0" / "config.json").read_text())
    assert mimic["init"]["family"]["mimic"]["steps"] == 2 and mimic["init"]["source"] is None
    assert json.loads((out / "tied_s0" / "config.json").read_text())["model"]["tie_layers"]
    assert json.loads((out / "conv_s0" / "config.json").read_text())["model"]["conv_kernel"] == 3
    parent = json.loads((out / "parent_s0" / "config.json").read_text())
    assert parent["model"]["conv_kernel"] == 7 and parent["init"]["variant"] == "parent"
    assert parent["train"]["layer_loss"] == 1.0  # deep supervision is the default
    assert "Encoder variants side by side" in (out / "report.html").read_text()
    # the analyse command's LEGO report on one of the runs
    res = CliRunner().invoke(
        app, ["analyse", str(out / "random_s0"), "--out", str(tmp_path / "rep"), "--questions",
              "64"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "Shortcut probes" in html and "Head classes" in html and "Layer by layer" in html
    claims = json.loads((tmp_path / "rep" / "claims.json").read_text())
    assert any("association" in c["claim"] for c in claims)
    # static figures through the shared exporter: files with Chromium, one clear line without
    from algolens.report.figures_export import find_chromium

    svg = tmp_path / "svg"
    res = CliRunner().invoke(app, ["analyse", str(out / "parent_s0"), "--out", str(svg),
                                   "--questions", "64", "--format", "svg"])  # fmt: skip
    if find_chromium() is None:
        assert res.exit_code == 2 and "needs Chromium" in res.stderr
    else:
        assert res.exit_code == 0, res.output
        assert any(p.name.startswith("layer-by-layer") for p in (svg / "figures").iterdir())


N4_TASK = {"name": "lego", "n_vars": 4, "eval_size": 2048}
N4_MODEL = {"n_layers": 4, "n_heads": 3, "d_model": 48, "d_mlp": 96}


def _train_n4(tmp_path: Path, variant: str, steps: int, **kw: object) -> Path:
    cfg = TrainConfig(steps=steps, batch_size=128, lr=3e-3, weight_decay=0.0, warmup_frac=0.02,
                      log_every=50, layer_loss=1.0, **kw)  # type: ignore[arg-type]  # fmt: skip
    init = {
        "variant": variant,
        "family": {"mimic": {"steps": 60}} if variant in MIMIC_VARIANTS else {},
    }
    return train(tmp_path / variant, N4_TASK, N4_MODEL, cfg, init=init, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("variant", MIMIC_VARIANTS)
def test_initialised_variant_learns_n4_to_full_accuracy(tmp_path: Path, variant: str) -> None:
    run = load_run(_train_n4(tmp_path, variant, 2500, stop_when="val_acc_trained>=1"))
    assert run.metrics[-1]["val_acc_trained"] == 1.0  # every one of 2048 validation sentences
    # fresh sentences: the run stopped at its first perfect validation, so allow a few misses
    # (CPU kernels differ in the last bits with the process's history; 0.9985 was seen once)
    assert min(position_accuracies(run.model, run.task, 2048, seed=7)) >= 0.995


@pytest.mark.slow
def test_conv_variant_learns_n4_to_full_accuracy(tmp_path: Path) -> None:
    """Convolution in q/k/v gets random init past the parity plateau at n = 4 (README): the
    loss leaves it near step 600 and all 2,048 validation sentences are right near step 3,600."""
    cfg = TrainConfig(steps=5000, batch_size=256, lr=2e-3, weight_decay=0.0, warmup_frac=0.02,
                      log_every=100, layer_loss=1.0, stop_when="val_acc_trained>=1")  # fmt: skip
    model = {**N4_MODEL, "n_heads": 4}
    out = train(tmp_path / "conv", N4_TASK, model, cfg, init={"variant": "conv"},
                progress=False)  # fmt: skip
    run = load_run(out)
    assert run.metrics[-1]["val_acc_trained"] == 1.0, run.metrics[-1]
    assert min(position_accuracies(run.model, run.task, 2048, seed=7)) >= 0.995


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["random", "tied"])
def test_random_init_variant_trains_on_n4(tmp_path: Path, variant: str) -> None:
    """Without conv, random-init variants train (position 1 exact, well above chance overall)
    but do not reach 100%: past the positions a shortcut answers they sit at a parity plateau
    (random: 0.75 after 2,600 steps of the conv recipe and 0.755 after 12,000 at lr 3e-3,
    README), so this tier checks only that they train."""
    run = load_run(_train_n4(tmp_path, variant, 500))
    acc = position_accuracies(run.model, run.task, 2048, seed=7)
    assert acc[0] >= 0.99 and sum(acc) / len(acc) >= 0.65, acc
    assert run.metrics[-1]["loss"] < 0.8 * run.metrics[0]["loss"]
