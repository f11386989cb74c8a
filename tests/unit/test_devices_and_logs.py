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


# ---- analysis on a device -----------------------------------------------------------------------
QUESTION_MAKERS = [
    ({"name": "add", "n_digits": 3}, ("sample", "sample_uniform", "sample_independent")),
    ({"name": "mix", "n_digits": 3}, ("sample", "sample_uniform", "sample_independent")),
    ({"name": "sort", "n_items": 4}, ("sample", "sample_uniform", "sample_independent")),
    ({"name": "lego", "n_vars": 4}, ("sample",)),
    ({"name": "modadd", "p": 7, "train_frac": 0.5, "input": "tokens"}, ("sample",)),
]


@pytest.mark.parametrize(("spec", "makers"), QUESTION_MAKERS, ids=lambda x: str(x)[:30])
def test_questions_are_made_on_the_cpu_whatever_the_default_device(spec, makers) -> None:
    """An analysis runs under ``torch.device(model's device)``; the tasks' question makers must
    still draw on the CPU with CPU generators (the same questions on every device). Under a meta
    default device, any factory call they make without a device would give a meta tensor."""
    from algolens.families import make_task

    task = make_task(spec)
    expected = {m: getattr(task, m)(16, torch.Generator().manual_seed(0)) for m in makers}
    with torch.device("meta"):
        for m in makers:
            batch = getattr(task, m)(16, torch.Generator().manual_seed(0))
            assert batch.inputs.device.type == "cpu", m
            assert torch.equal(batch.inputs, expected[m].inputs), m
            assert all(v.device.type == "cpu" for v in batch.labels.values()), m


def test_analysis_runs_under_its_device_and_comes_back_on_the_cpu() -> None:
    """``run_on`` makes the device the default for the analysis's own tensors; ``to_cpu`` walks
    the result's dataclasses, dicts, lists and tuples."""
    from dataclasses import dataclass
    from typing import NamedTuple

    from algolens.analysis.devices import run_on, to_cpu

    assert run_on(torch.device("meta"), torch.get_default_device) == torch.device("meta")
    assert torch.empty(1).device.type == "cpu"  # the context ends with the call

    class Pair(NamedTuple):
        a: torch.Tensor
        b: int

    @dataclass(frozen=True)
    class Result:
        x: torch.Tensor
        parts: dict

    res = Result(torch.ones(2), {"p": [Pair(torch.zeros(1), 3)], "t": (torch.ones(1), "s")})
    out = to_cpu(res)
    assert out is res and isinstance(out.parts["p"][0], Pair) and out.parts["p"][0].b == 3
    assert out.parts["t"][1] == "s" and torch.equal(out.x, torch.ones(2))


def test_analyse_takes_a_device(tmp_path: Path, capsys) -> None:
    data = Path(__file__).parents[1] / "data" / "add_d2"
    same = load(data).analyse(
        questions=60, device="auto" if not torch.cuda.is_available() else "cpu"
    )
    base = load(data).analyse(questions=60)
    assert [(c.claim, c.passed, c.measured) for c in same.claims] == [
        (c.claim, c.passed, c.measured) for c in base.claims
    ]
    if not torch.cuda.is_available():
        out = tmp_path / "rep"
        args = ["analyse", str(data), "--device", "cuda", "--out", str(out)]
        assert main(args) == 2
        assert "no CUDA GPU" in capsys.readouterr().err and not out.exists()
