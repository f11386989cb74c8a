"""A run's files as one unit (issue #35, items 1 and 4): a kill before any write of a short
run's life leaves a folder that resumes, or restarts, to the unbroken run's weights; a finished
run is one whose run.json says so (older runs by their metrics); a checkpoint resumes only the
run that wrote it; an interrupted ``train`` exits 130 or 143."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import ADD_D2_STORED, tiny_model_spec

from algolens import store
from algolens.config import TrainConfig
from algolens.errors import AlgolensError
from algolens.runs import ZOO_DIR, resume_run, train

TASK = {"name": "add", "n_digits": 2}


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def short(**kw: Any) -> TrainConfig:
    """6 steps, a metrics row every 2 and a checkpoint at step 4: every kind of write."""
    base = {"steps": 6, "batch_size": 16, "lr": 3e-3, "log_every": 2, "checkpoint_every": 4,
            "seed": 5}  # fmt: skip
    return TrainConfig(**{**base, **kw})


class Killed(BaseException):
    """Raised in place of a write, as a kill -9 would stop the process there (no except
    clause of algolens catches a BaseException)."""


def count_writes(monkeypatch: pytest.MonkeyPatch, kill_at: int | None) -> list[str]:
    """Number every write of a run's files (each rename that completes an atomic write, each
    metrics row, the checkpoint's removal); raise :class:`Killed` instead of write ``kill_at``."""
    import os

    events: list[str] = []

    def tick(what: str) -> None:
        events.append(what)
        if len(events) == kill_at:
            raise Killed(what)

    real_replace, real_unlink, real_write = os.replace, Path.unlink, store.MetricsLog.write

    def replace(src: Any, dst: Any, **kw: Any) -> None:
        tick(f"rename {Path(dst).name}")
        real_replace(src, dst, **kw)

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name == store.CHECKPOINT and self.exists():
            tick("unlink checkpoint.pt")
        real_unlink(self, missing_ok=missing_ok)

    def write(self: Any, row: dict[str, Any]) -> None:
        tick(f"metrics row {row['step']}")
        real_write(self, row)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(Path, "unlink", unlink)
    monkeypatch.setattr(store.MetricsLog, "write", write)
    return events


def complete(out: Path) -> str:
    """What a user does next: resume; a run with nothing to resume is trained again."""
    try:
        resume_run(out, progress=False)
        return "resumed"
    except AlgolensError as e:
        if "training finished" in str(e):
            return "finished"
        train(out, TASK, tiny_model_spec(), short(), progress=False)
        return f"trained again after: {e}"


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(a / store.WEIGHTS), load_file(b / store.WEIGHTS)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_kill_before_any_write_resumes_or_restarts_to_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = tmp_path / "whole"
    with monkeypatch.context() as m:
        writes = count_writes(m, kill_at=None)
        train(whole, TASK, tiny_model_spec(), short(), progress=False)
    assert "rename checkpoint.pt" in writes and "unlink checkpoint.pt" in writes, writes
    assert writes[-2:] == ["rename run.json", "unlink checkpoint.pt"]  # done, written last
    outcomes = {}
    for k in range(1, len(writes) + 1):
        out = tmp_path / f"killed_{k}"
        with monkeypatch.context() as m, pytest.raises(Killed):
            count_writes(m, kill_at=k)
            train(out, TASK, tiny_model_spec(), short(), progress=False)
        if k < len(writes):  # the negative control: before its last write, it is not finished
            assert store.run_state(out)[0] != "finished", writes[k - 1]
        outcomes[f"{k}: {writes[k - 1]}"] = complete(out)
        assert store.run_state(out)[0] == "finished" and not (out / store.CHECKPOINT).exists()
        assert same_weights(out, whole), f"killed before {writes[k - 1]}: {outcomes}"
        assert (out / store.METRICS).read_bytes() == (whole / store.METRICS).read_bytes()
    assert len(outcomes) == len(writes)


def test_older_runs_without_run_json_are_finished_by_their_metrics(tmp_path: Path) -> None:
    for shipped in (ADD_D2_STORED, ZOO_DIR / "add_d5_l2", ZOO_DIR / "modadd_mlp_p113"):
        assert not (shipped / store.RUN).exists()
        assert store.run_state(shipped)[0] == "finished", shipped
    # an earlier algolens killed between its first weights and checkpoint: cut, refused
    cut = tmp_path / "cut"
    shutil.copytree(ADD_D2_STORED, cut)
    rows = (cut / store.METRICS).read_text().splitlines(keepends=True)
    (cut / store.METRICS).write_text("".join(rows[:2]))
    state, detail = store.run_state(cut)
    assert state == "cut" and "stops at step 100 of 800 with no checkpoint.pt" in detail
    with pytest.raises(AlgolensError, match="cannot resume; train it again"):
        resume_run(cut, progress=False)
    with pytest.raises(AlgolensError, match="stops at step 100"):
        train(cut, TASK, tiny_model_spec(), short(), progress=False)


def test_an_older_runs_checkpoint_resumes_and_finishes_with_run_json(tmp_path: Path) -> None:
    out = train(tmp_path / "r", TASK, tiny_model_spec(), short(), progress=False, stop_after=4)
    old = torch.load(out / store.CHECKPOINT, weights_only=True)
    for key in ("run_id", "config_sha256"):
        old.pop(key)
    torch.save(old, out / store.CHECKPOINT)
    (out / store.RUN).unlink()  # as an earlier algolens left it
    assert store.run_state(out)[0] == "resumable"
    resume_run(out, progress=False)
    marker = store.read_marker(out)
    assert marker is not None and marker["done"] is True
    assert same_weights(out, train(tmp_path / "w", TASK, tiny_model_spec(), short(),
                                   progress=False))  # fmt: skip


def test_a_checkpoint_resumes_only_its_own_run(tmp_path: Path) -> None:
    a = train(tmp_path / "a", TASK, tiny_model_spec(), short(), progress=False, stop_after=4)
    b = train(tmp_path / "b", TASK, tiny_model_spec(), short(lr=1e-2), progress=False, stop_after=4)
    for name in (store.CHECKPOINT, store.METRICS):  # b's training state, with its own log
        shutil.copy(b / name, a / name)
    weights = (a / store.WEIGHTS).read_bytes()
    with pytest.raises(AlgolensError, match="belongs to another run"):
        resume_run(a, progress=False)
    assert (a / store.WEIGHTS).read_bytes() == weights  # refused before any training
    config = json.loads((b / store.CONFIG).read_text())
    config["train"]["lr"] = 3e-3  # b's config edited to look like a's
    (b / store.CONFIG).write_text(json.dumps(config))
    with pytest.raises(AlgolensError, match="was changed since the run started"):
        resume_run(b, progress=False)
    config["train"]["lr"] = 1e-2  # the negative control: its own config and checkpoint
    config["provenance"]["argv"] = ["edited"]  # provenance is not what training depends on
    (b / store.CONFIG).write_text(json.dumps(config))
    resume_run(b, progress=False)
    assert store.run_state(b)[0] == "finished"


def test_a_finished_run_killed_before_removing_its_checkpoint_completes(tmp_path: Path) -> None:
    out = train(tmp_path / "r", TASK, tiny_model_spec(), short(), progress=False, stop_after=4)
    checkpoint = (out / store.CHECKPOINT).read_bytes()
    resume_run(out, progress=False)
    with pytest.raises(AlgolensError, match=r"nothing to resume in .*its training finished"):
        resume_run(out, progress=False)  # the negative control: nothing left to do
    (out / store.CHECKPOINT).write_bytes(checkpoint)  # as if killed before its removal
    weights = (out / store.WEIGHTS).read_bytes()
    assert resume_run(out, progress=False).interrupted is False
    assert not (out / store.CHECKPOINT).exists() and (out / store.WEIGHTS).read_bytes() == weights


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_train_exits_128_plus_its_signal_after_saving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int, code: int
) -> None:
    from typer.testing import CliRunner

    from algolens.cli import app

    argv = ["train", "add", "--digits", "2", "--layers", "1", "--heads", "2", "--d-model", "16",
            "--steps", "6", "--batch-size", "8", "--no-progress"]  # fmt: skip
    whole = CliRunner().invoke(app, [*argv, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output  # the negative control: no signal, exit 0
    signal_at_step_2(monkeypatch, signum)
    out = tmp_path / "stopped"
    stopped = CliRunner().invoke(app, [*argv, "--out", str(out)])
    assert stopped.exit_code == code, stopped.output
    assert "interrupted at step 2" in stopped.output
    assert store.run_state(out)[0] == "resumable"


def test_demo_train_stops_when_its_training_is_interrupted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from algolens import runs
    from algolens.cli import app
    from algolens.train import TrainResult

    def load_run(path: Any) -> Any:
        raise AlgolensError("went on to load the model")

    monkeypatch.setattr(runs, "load_run", load_run)
    argv = ["demo", "--train", "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "r")]
    stopped = TrainResult(7, interrupted=True, stopped_early=False, seconds=1.0, signal=15)
    monkeypatch.setattr(runs, "train_run", lambda *a, **k: stopped)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 143 and "not verified or analysed" in result.output
    done = TrainResult(9, interrupted=False, stopped_early=False, seconds=1.0)
    monkeypatch.setattr(runs, "train_run", lambda *a, **k: done)  # the negative control
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2 and "went on to load the model" in result.output


def test_an_interrupted_lego_train_exits_130_after_saving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``lego train`` shares train's exit codes (it printed 'run saved' and exited 0)."""

    from typer.testing import CliRunner

    from algolens.cli import app

    argv = ["lego", "train", "--variant", "random", "--n-vars", "3", "--train-k", "3",
            "--layers", "1", "--heads", "2", "--d-model", "16", "--d-mlp", "32", "--steps", "4",
            "--batch-size", "8", "--log-every", "2", "--no-progress"]  # fmt: skip
    whole = CliRunner().invoke(app, [*argv, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0 and "run saved" in whole.output, whole.output  # the control
    signal_at_step_2(monkeypatch, signal.SIGINT)
    out = tmp_path / "stopped"
    stopped = CliRunner().invoke(app, [*argv, "--out", str(out)])
    assert stopped.exit_code == 130 and "run saved" not in stopped.output, stopped.output
    assert store.run_state(out)[0] == "resumable"


def test_an_interrupted_zoo_retrain_writes_no_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retrain stopped by Ctrl-C is refused in one line and gets no card (it made a card of
    the half-trained model)."""
    from algolens.errors import AlgolensError
    from algolens.zoo.build import retrain

    signal_at_step_2(monkeypatch, signal.SIGINT)
    with pytest.raises(AlgolensError, match="training stopped at step 2: no card"):
        retrain("add_d5_l2", tmp_path / "again", questions=100, progress=False)
    assert not (tmp_path / "again" / "card.json").exists()
    assert store.run_state(tmp_path / "again")[0] == "resumable"


def signal_at_step_2(monkeypatch: pytest.MonkeyPatch, signum: int) -> None:
    """The process sends itself ``signum`` during the second training step: its handler asks
    the loop to save and stop, as a Ctrl-C (SIGINT) or a SIGTERM would."""
    import os

    from algolens.train.trainer import Trainer

    real_step, calls = Trainer.step, []

    def step(self: Trainer) -> Any:
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signum)
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", step)
