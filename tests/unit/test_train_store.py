"""The training loop and run directories: schedule, resume equivalence, reuse, atomic files."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import tiny_model_spec

from algolens.config import TrainConfig
from algolens.errors import AlgolensError
from algolens.hub import HubRun
from algolens.models import build_model
from algolens.runs import load, load_run, resume_run, train
from algolens.store import CHECKPOINT, CONFIG, METRICS, WEIGHTS, atomic_write
from algolens.train import TaskObjective, copy_matching_weights, lr_at, recopy_entries

TASK = {"name": "add", "n_digits": 2}


def quick(steps: int = 30, **kw: object) -> TrainConfig:
    base = {
        "steps": steps,
        "batch_size": 32,
        "lr": 3e-3,
        "log_every": 5,
        "checkpoint_every": 1000,
        "seed": 7,
    }
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_lr_schedule_warms_up_then_decays() -> None:
    cfg = TrainConfig(steps=100, lr=1.0, warmup_frac=0.2, warmup_start=0.01)
    assert lr_at(cfg, 0) == pytest.approx(0.01)
    assert lr_at(cfg, 20) == pytest.approx(1.0)
    assert lr_at(cfg, 60) == pytest.approx(0.5)
    assert lr_at(cfg, 99) < 0.01
    lrs = [lr_at(cfg, s) for s in range(100)]
    assert max(lrs) == pytest.approx(1.0)
    assert all(a <= b for a, b in pairwise(lrs[:21]))
    assert all(a >= b for a, b in pairwise(lrs[20:]))


def test_run_directory_contents(tmp_path: Path) -> None:
    out = train(
        tmp_path / "r", TASK, tiny_model_spec(), quick(), argv=["algolens", "train"], progress=False
    )
    config = json.loads((out / CONFIG).read_text())
    assert config["format"] == 2 and config["name"] == "r"
    assert config["task"]["name"] == "add" and config["task"]["n_digits"] == 2
    assert config["model"]["n_ctx"] == 9 and config["model"]["d_vocab"] == 13
    assert config["train"]["steps"] == 30 and config["train"]["seed"] == 7
    assert config["provenance"]["argv"] == ["algolens", "train"]
    assert {"algolens", "torch"} <= set(config["provenance"]["versions"])
    rows = [json.loads(line) for line in (out / METRICS).read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20, 25, 30]
    assert {"loss", "loss_A0", "loss_A1", "loss_A2", "loss_BA"} <= set(rows[-1])
    assert set(load_file(out / WEIGHTS)) >= {"embed.W_E", "blocks.0.attn.W_Q"}
    assert not list(out.glob("*.tmp"))


def test_same_seed_same_weights(tmp_path: Path) -> None:
    a = load_run(train(tmp_path / "a", TASK, tiny_model_spec(), quick(20), progress=False))
    b = load_run(train(tmp_path / "b", TASK, tiny_model_spec(), quick(20), progress=False))
    for (k, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(x, y), k


def test_resume_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    whole = train(tmp_path / "whole", TASK, tiny_model_spec(), quick(40), progress=False)
    part = train(
        tmp_path / "part", TASK, tiny_model_spec(), quick(40), progress=False, stop_after=17
    )
    assert json.loads((part / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 15
    config_before = (part / CONFIG).read_bytes()
    resume_run(part, progress=False)
    assert (part / CONFIG).read_bytes() == config_before  # written once, never rewritten
    w_whole, w_part = load_file(whole / WEIGHTS), load_file(part / WEIGHTS)
    for k in w_whole:
        assert torch.equal(w_whole[k], w_part[k]), k
    assert (whole / METRICS).read_text() == (part / METRICS).read_text()


def test_refuses_to_overwrite_and_to_resume_nothing(tmp_path: Path) -> None:
    out = train(tmp_path / "r", TASK, tiny_model_spec(), quick(5), progress=False)
    with pytest.raises(AlgolensError, match="already holds a run"):
        train(out, TASK, tiny_model_spec(), quick(5), progress=False)
    with pytest.raises(AlgolensError):
        resume_run(tmp_path / "none", progress=False)
    with pytest.raises(AlgolensError, match="resumes only to 5"):
        resume_run(out, steps=9, progress=False)


def test_init_from_copies_matching_weights_and_can_freeze_heads(tmp_path: Path) -> None:
    src = train(tmp_path / "src", TASK, tiny_model_spec(n_heads=2), quick(10), progress=False)
    bigger = tiny_model_spec(n_layers=2, n_heads=4, d_head=16)
    init = {"source": str(src), "freeze_heads": True}
    dst = train(tmp_path / "dst", TASK, bigger, quick(10), init=init, progress=False)
    config = json.loads((dst / CONFIG).read_text())
    assert "embed.W_E" in config["init"]["copied"] and config["init"]["reuse"] == "ins1"
    assert "blocks.0.attn.W_Q[:2]" in config["init"]["copied"]
    s, d = load_run(src).model, load_run(dst).model
    # frozen heads are exactly the source's; the new heads have trained
    assert torch.equal(d.blocks[0].attn.W_Q[:2], s.blocks[0].attn.W_Q)
    assert not torch.equal(d.embed.W_E, s.embed.W_E)


def test_ins3_recopies_useful_heads_and_mlps_never_the_embeddings(tmp_path: Path) -> None:
    """ins3 (Quirke, Neo & Barez 2024's code: "reset useful heads & MLPs every 100 epochs")
    writes back the inserted MLPs and heads on every re-copy step; the embeddings, layer norms
    and unembedding stay free, or the mixed model could never learn to write a `-` sign."""
    src = train(tmp_path / "src", TASK, tiny_model_spec(n_heads=2), quick(10), progress=False)
    bigger = tiny_model_spec(n_layers=2, n_heads=2)
    init = {"source": str(src), "reuse": "ins3", "recopy_every": 5}
    dst = train(tmp_path / "dst", TASK, bigger, quick(10), init=init, progress=False)
    recopy = json.loads((dst / CONFIG).read_text())["init"]["recopy"]
    assert {"blocks.0.mlp.W_in", "blocks.0.mlp.W_out"} <= set(recopy)
    assert not [
        e for e in recopy if e.split(".")[0] in ("embed", "pos_embed", "unembed", "ln_final")
    ]
    assert not [e for e in recopy if ".ln" in e]
    s, d = load_run(src).model, load_run(dst).model
    assert torch.equal(d.blocks[0].mlp.W_in, s.blocks[0].mlp.W_in)  # re-copied at step 10
    assert not torch.equal(d.embed.W_E, s.embed.W_E)  # trained on
    ins2 = recopy_entries("ins2", ["blocks.0.attn.W_Q", "blocks.0.mlp.W_in"], [(0, 1)])
    assert ins2 == ["blocks.0.attn.W_Q[1]"]  # ins2: the useful heads only
    assert recopy_entries("ins1", ["blocks.0.mlp.W_in"], [(0, 1)]) == []


def test_copy_matching_weights_skips_mismatched() -> None:
    a = build_model({**tiny_model_spec(), "n_ctx": 9, "d_vocab": 13})
    b = build_model({**tiny_model_spec(d_model=48), "n_ctx": 9, "d_vocab": 13})
    assert copy_matching_weights(b, a) == ["unembed.b_U"]  # the only shape both share


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text("old")

    def boom(p: Path) -> None:
        p.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(path, boom)
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_missing_and_corrupt_runs_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(AlgolensError, match="no run directory"):
        load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AlgolensError, match="not a run directory"):
        load(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / CONFIG).write_text("{not json")
    with pytest.raises(AlgolensError, match="corrupt"):
        load(bad)
    out = train(tmp_path / "r", TASK, tiny_model_spec(), quick(5), progress=False)
    (out / WEIGHTS).write_bytes(b"garbage")
    with pytest.raises(AlgolensError, match="cannot read weights"):
        load(out)


def test_hub_layout_round_trip_on_local_folders(tmp_path: Path) -> None:
    run = load(train(tmp_path / "r", TASK, tiny_model_spec(), quick(5), progress=False))
    HubRun(run).save_pretrained(tmp_path / "hub")
    assert (tmp_path / "hub" / WEIGHTS).exists()
    again = load_run(HubRun.from_pretrained(tmp_path / "hub").folder)
    for x, y in zip(run.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(x, y)
    assert again.predict(["12+34"]) == run.predict(["12+34"])


def test_hub_id_without_network_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AlgolensError, match="cannot fetch"):
        load("hf:someone/add_d5_l2")
    with pytest.raises(AlgolensError, match="hub ids with hf:"):  # a mistyped path: no hub call
        load("runs/add_d5")


@pytest.mark.slow  # a subprocess trains 800 steps twice (47 s); test_kill covers signals too
def test_ctrl_c_saves_and_resume_matches_an_unbroken_run(tmp_path: Path) -> None:
    """A real SIGINT to a training process: it checkpoints, and --resume finishes identically."""
    import signal
    import subprocess
    import sys
    import time

    # long enough that the signal lands mid-run on a fast quiet machine (a few hundred steps a
    # second), short enough for the fast tier; the signal goes 0.1 s after the first log row
    STEPS = 800
    args = [
        "train",
        "add",
        "--preset",
        "paper",
        "--digits",
        "2",
        "--layers",
        "1",
        "--heads",
        "2",
        "--d-model",
        "32",
        "--batch-size",
        "32",
        "--lr",
        "3e-3",
        "--steps",
        str(STEPS),
        "--train-opt",
        "log_every=1",
        "--seed",
        "3",
        "--no-progress",
    ]
    cli = [sys.executable, "-m", "algolens"]
    broken, whole = tmp_path / "broken", tmp_path / "whole"
    proc = subprocess.Popen([*cli, *args, "--out", str(broken)], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (broken / METRICS).exists():
        time.sleep(0.05)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err  # 128 + SIGINT, after saving
    assert "interrupted at step" in err
    stopped = int(err.split("interrupted at step")[1].split(";")[0])
    assert 0 < stopped < STEPS
    subprocess.run([*cli, *args, "--out", str(broken), "--resume"], check=True)
    train(
        whole,
        TASK,
        tiny_model_spec(),
        TrainConfig(steps=STEPS, batch_size=32, lr=3e-3, log_every=1, seed=3),
        progress=False,
    )
    w_broken, w_whole = load_file(broken / WEIGHTS), load_file(whole / WEIGHTS)
    assert all(torch.equal(w_broken[k], w_whole[k]) for k in w_whole)


def test_layer_loss_adds_the_earlier_blocks_logit_lens_loss(tmp_path: Path) -> None:
    from algolens.families import make_task

    task = make_task({"name": "lego", "n_vars": 5, "train_k": 3, "eval_size": 0})
    model = build_model({**tiny_model_spec(n_layers=3), "n_ctx": task.n_ctx, "d_vocab": 31,
                         "causal": False, "d_vocab_out": 2})  # fmt: skip
    batch = task.sample(16, torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain, logprobs = TaskObjective(task).logprobs(model, batch)
        deep, deep_logprobs = TaskObjective(task, layer_loss=0.5).logprobs(model, batch)
        lens = model.logit_lens(batch.inputs).log_softmax(-1).double()[:, :, ::5]  # [l, b, n, 2]
    torch.testing.assert_close(deep_logprobs, logprobs)  # the last block's answers
    nll = -lens.gather(-1, batch.targets.expand(3, -1, -1)[..., None])[..., 0]
    masks = task.layer_masks(batch, 3)
    earlier = [float(nll[i][masks[i]].mean()) for i in range(2)]
    assert float(plain) == pytest.approx(float(nll[2][masks[2]].mean()), rel=1e-6)
    assert float(deep) == pytest.approx(float(plain) + 0.5 * sum(earlier) / 2, rel=1e-6)
    # the run records it, and a task without layer masks refuses it in one clear line
    out = train(tmp_path / "lego", {"name": "lego", "n_vars": 4, "eval_size": 0},
                tiny_model_spec(n_layers=2), quick(3, layer_loss=1.0), progress=False)  # fmt: skip
    assert json.loads((out / CONFIG).read_text())["train"]["layer_loss"] == 1.0
    with pytest.raises(AlgolensError, match="per-layer targets"):  # before anything is written
        train(tmp_path / "add", TASK, tiny_model_spec(), quick(3, layer_loss=1.0), progress=False)
    assert not (tmp_path / "add").exists()


def test_mistyped_options_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(
        AlgolensError, match=r"unknown model option 'n_layer' \(did you mean 'n_layers'\?\)"
    ):
        train(tmp_path / "a", TASK, tiny_model_spec(n_layer=5), quick(3), progress=False)
    with pytest.raises(AlgolensError, match="training option 'lr' must be a number"):
        train(tmp_path / "b", TASK, tiny_model_spec(), {"lr": "abc"}, progress=False)
    with pytest.raises(AlgolensError, match="must be a whole number"):
        train(
            tmp_path / "c",
            {"name": "add", "n_digits": 2.5},
            tiny_model_spec(),
            quick(3),
            progress=False,
        )
    with pytest.raises(AlgolensError, match="needs an initialisation source"):
        train(
            tmp_path / "d",
            TASK,
            tiny_model_spec(),
            quick(3),
            init={"freeze_heads": True},
            progress=False,
        )
    assert not any((tmp_path / n).exists() for n in "abcd")  # refused before anything is written


def test_one_writer_per_run(tmp_path: Path) -> None:
    from algolens.store import writer_lock

    out = train(tmp_path / "r", TASK, tiny_model_spec(), quick(10), progress=False, stop_after=5)
    with writer_lock(out), pytest.raises(AlgolensError, match="one writer per run"):
        resume_run(out, progress=False)
    resume_run(out, progress=False)  # the lock is released: now it may resume
    assert (out / "model.safetensors").exists() and not (out / "train.lock").exists()
    assert not (out / CHECKPOINT).exists()  # a finished run keeps no resume state


def test_the_thread_count_is_recorded_and_a_resume_on_another_is_noted(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from algolens.cli import app

    part = train(tmp_path / "p", TASK, tiny_model_spec(), quick(40), progress=False, stop_after=17)
    config = json.loads((part / CONFIG).read_text())
    assert config["provenance"]["threads"] == torch.get_num_threads()
    same = CliRunner().invoke(app, ["train", "--resume", "--out", str(part), "--no-progress"])
    assert same.exit_code == 0 and "note:" not in same.output, same.output
    other = train(tmp_path / "o", TASK, tiny_model_spec(), quick(40), progress=False, stop_after=17)
    config = json.loads((other / CONFIG).read_text())
    config["provenance"]["threads"] = torch.get_num_threads() + 1
    (other / CONFIG).write_text(json.dumps(config))
    moved = CliRunner().invoke(app, ["train", "--resume", "--out", str(other), "--no-progress"])
    assert moved.exit_code == 0, moved.output
    assert f"started on {torch.get_num_threads() + 1} CPU threads" in moved.output


def test_the_threads_recorded_are_the_training_process_s(tmp_path: Path) -> None:
    """A sweep builds its configs in the driver and trains them in Ray workers on one thread:
    the run records the threads it trained on, not those of the process that built its config."""
    from dataclasses import replace

    from algolens.runs import new_config, train_run

    config = new_config(TASK, tiny_model_spec(), quick(5))
    elsewhere = replace(config, provenance=replace(config.provenance, threads=97))
    out = train_run(tmp_path / "r", elsewhere, progress=False) and tmp_path / "r"
    assert (
        json.loads((out / CONFIG).read_text())["provenance"]["threads"] == torch.get_num_threads()
    )


def test_bfloat16_autocast_trains_other_weights_and_refuses_other_precisions(
    tmp_path: Path,
) -> None:
    """``precision = "bfloat16"`` runs the forward and backward under autocast: the loss still
    falls, the saved weights stay float32, and they differ from the float32 run's (so the
    setting is not ignored); an unknown precision is one clear error."""
    cfg = TrainConfig(steps=30, batch_size=32, lr=3e-3, log_every=10)
    task = {"name": "add", "n_digits": 2}
    full = load(train(tmp_path / "f32", task, tiny_model_spec(), cfg, progress=False))
    half_cfg = TrainConfig(steps=30, batch_size=32, lr=3e-3, log_every=10, precision="bfloat16")
    half = load(train(tmp_path / "bf16", task, tiny_model_spec(), half_cfg, progress=False))
    losses = [row["loss"] for row in half.metrics]
    assert losses[-1] < losses[0]
    weights = dict(half.model.named_parameters())
    assert all(p.dtype == torch.float32 for p in weights.values())
    assert any(not torch.equal(p, weights[name]) for name, p in full.model.named_parameters())
    with pytest.raises(AlgolensError, match="precision"):
        TrainConfig(precision="float16")  # type: ignore[arg-type]
