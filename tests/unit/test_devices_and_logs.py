"""--device and --log: where a run trains, and the experiment logs beside metrics.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tests.conftest import tiny_model_spec

from algolens.cli import main
from algolens.config import TrainConfig
from algolens.errors import AlgolensError
from algolens.runs import load, train
from algolens.tasks.base import resolve_device

TASK = {"name": "add", "n_digits": 2}


def _train(out: Path, **train_opts: object):
    cfg = TrainConfig(steps=6, batch_size=16, log_every=2, checkpoint_every=3, **train_opts)
    return train(out, TASK, tiny_model_spec(d_model=16), cfg, progress=False)


def test_tensorboard_events_hold_the_metrics_rows(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = _train(tmp_path / "tb", log="tensorboard")
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss", "lr", "loss/A0", "loss/A2"} <= tags
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [(e.step, e.value) for e in events.Scalars("loss")]
    assert logged == [(r["step"], pytest.approx(r["loss"], rel=1e-6)) for r in rows]


@pytest.mark.slow  # wandb starts a service process: about 40 s
def test_wandb_logs_offline_or_says_what_is_missing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    try:
        import wandb  # noqa: F401
    except ImportError:
        with pytest.raises(AlgolensError, match="pip install wandb"):
            _train(tmp_path / "wb", log="wandb")
        return
    run = _train(tmp_path / "wb", log="wandb")
    assert (run / "wandb").is_dir()


def test_device_names_are_checked_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(AlgolensError, match="device must be"):
        TrainConfig(device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(AlgolensError, match="no CUDA GPU"):
            _train(tmp_path / "cuda", device="cuda")
        assert not (tmp_path / "cuda").exists()
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_auto_on_this_machine_trains_the_same_weights_as_cpu(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("auto picks the GPU here: weights may differ in the last bits")
    a = load(_train(tmp_path / "cpu", device="cpu")).model.state_dict()
    b = load(_train(tmp_path / "auto", device="auto")).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_verify_takes_a_device(tmp_path: Path, capsys) -> None:
    run = _train(tmp_path / "v")
    assert main(["verify", str(run), "-n", "500", "--json", "--no-progress"]) == 0
    on_cpu = json.loads(capsys.readouterr().out)
    args = ["verify", str(run), "-n", "500", "--json", "--no-progress", "--device", "auto"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == on_cpu
    assert main(["verify", str(run), "--device", "tpu"]) == 2


def test_lego_commands_take_a_device(tmp_path: Path, capsys) -> None:
    """`lego train` and `lego compare` record --device in the run's config and refuse a bad or
    absent one in one line, before anything is written."""
    small = ["--n-vars", "3", "--train-k", "3", "--max-vars", "4", "--layers", "1",
             "--d-model", "16", "--d-mlp", "32", "--steps", "2", "--log-every", "1",
             "--no-progress"]  # fmt: skip
    out = tmp_path / "lego"
    assert main(["lego", "train", *small, "--device", "auto", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["train"]["device"] == "auto"
    assert main(["lego", "train", *small, "--device", "tpu", "--out", str(tmp_path / "x")]) == 2
    if not torch.cuda.is_available():
        where = tmp_path / "cmp"
        args = ["lego", "compare", *small, "--variants", "random", "--device", "cuda"]
        assert main([*args, "--out", str(where)]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err and not (where / "random_s0").exists()
