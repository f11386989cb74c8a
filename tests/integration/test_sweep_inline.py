"""``algolens sweep`` with Ray's task calls run inline (fast tier): the results table and page
are rewritten as each run finishes, so a long sweep's results can be read while it runs. The
real local Ray is tested in tests/integration/test_sweep_ray.py (slow)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from tests.sweeps import LEGO_TRAIN, lego_spec, tiny_spec
from typer.testing import CliRunner

from algolens import store
from algolens.cli import app
from algolens.sweep import runner


class _Call:
    def __init__(self, fn: Any, args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args


class InlineRay:
    """Ray's calls as the sweep uses them, each task run when its result is asked for; before
    each, what ``results.csv`` held (its rows' run names)."""

    def __init__(self, folder: Path, fail: int | None = None) -> None:
        self.folder, self.fail, self.calls = folder, fail, 0
        self.seen_before: list[list[str]] = []

    def remote(self, **_: Any) -> Any:
        class Task:
            def __init__(self, fn: Any) -> None:
                self.remote = lambda *args: _Call(fn, args)

        return Task

    def wait(self, pending: list[Any], num_returns: int, timeout: float) -> tuple[list, list]:
        return pending[:1], pending[1:]

    def get(self, call: _Call) -> Any:
        path = self.folder / "results.csv"
        names = [r["run"] for r in csv.DictReader(path.open())] if path.exists() else []
        self.seen_before.append(names)
        self.calls += 1
        if self.calls - 1 == self.fail:
            raise RuntimeError("boom")
        return call.fn(*call.args)


def _sweep(
    tmp: Path, monkeypatch: Any, fail: int | None = None, more: tuple[str, ...] = ()
) -> tuple[InlineRay, Any]:
    """``algolens sweep`` on a tiny spec with Ray's calls inline: the fake, and the CLI's result."""
    spec = tiny_spec(tmp, [20, 30, 40])
    fake = InlineRay(tmp / "sweeps" / "tiny", fail)
    monkeypatch.setattr(runner, "_ray", lambda workers, address: fake)
    argv = ["sweep", str(spec), "--out", str(tmp / "sweeps"), "--no-progress", *more]
    return fake, CliRunner().invoke(app, argv)


def test_results_are_written_as_each_run_finishes(tmp_path: Path, monkeypatch: Any) -> None:
    kept: list[bool] = []
    monkeypatch.setattr(runner, "keep_freed_memory", lambda: kept.append(True) or True)
    fake, done = _sweep(tmp_path, monkeypatch)
    assert done.exit_code == 0, done.output
    assert len(kept) == 3  # each run's Ray task keeps freed memory (algolens.memory)
    final = list(csv.DictReader((fake.folder / "results.csv").open()))
    names = [r["run"] for r in final]
    assert [int(r["steps_done"]) for r in final] == [20, 30, 40]
    for r in final:  # the late loss is the run's own metrics' (log_every 10: steps after 5/6)
        logged = store.read_metrics(fake.folder / "runs" / r["run"])
        late = [
            m["loss"] for m in logged if "loss" in m and m["step"] > int(r["steps_done"]) * 5 / 6
        ]
        assert late and float(r["late_loss_max"]) == pytest.approx(max(late), rel=1e-12)
    # before the second run, the first was in the table; before the third, the first two
    assert fake.seen_before == [[], names[:1], names[:2]]
    assert "3 of 3" in (fake.folder / "sweep.html").read_text()


@pytest.mark.parametrize(("workers", "threads"), [("1", 4), ("2", 2), ("3", 1), ("8", 1)])
def test_runs_share_the_cores_among_the_workers(
    tmp_path: Path, monkeypatch: Any, workers: str, threads: int
) -> None:
    """On 4 cores one worker trains on 4 threads (Ray alone would give it one), two on 2 each;
    the caller's own thread count comes back."""
    import torch

    monkeypatch.setattr(runner.os, "cpu_count", lambda: 4)
    before = torch.get_num_threads()
    fake, done = _sweep(tmp_path, monkeypatch, more=("--workers", workers))
    assert done.exit_code == 0, done.output
    for row in csv.DictReader((fake.folder / "results.csv").open()):
        assert store.read_config(fake.folder / "runs" / row["run"]).provenance.threads == threads
    assert torch.get_num_threads() == before


def test_a_failed_run_adds_no_row_and_the_others_go_on(tmp_path: Path, monkeypatch: Any) -> None:
    fake, done = _sweep(tmp_path, monkeypatch, fail=1)
    assert done.exit_code == 1 and "failed:" in done.output and "boom" in done.output
    final = list(csv.DictReader((fake.folder / "results.csv").open()))
    assert [int(r["steps_done"]) for r in final] == [20, 40]
    first = final[0]["run"]
    assert fake.seen_before == [[], [first], [first]]
    assert "2 of 3" in (fake.folder / "sweep.html").read_text()


def test_a_resumed_run_s_total_time_counts_its_earlier_training(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """total_seconds is every training segment plus the verification, not this call's wall
    time: a run resumed for its last steps after 1,000 s of training reports at least that."""
    from types import SimpleNamespace

    from tests.conftest import tiny_model_spec
    from tests.unit.test_train_store import quick

    from algolens import runs, store

    out = runs.train(tmp_path / "r", {"name": "add", "n_digits": 2}, tiny_model_spec(), quick(20),
                     progress=False)  # fmt: skip
    (out / store.CHECKPOINT).write_bytes(b"")  # as if stopped before its end:
    store.write_json(out / store.RUN, {**store.read_marker(out), "done": False})  # not finished
    resumed = SimpleNamespace(seconds=1000.0, cpu_seconds=900.0, interrupted=False)
    monkeypatch.setattr(runs, "resume_run", lambda out, progress: resumed)
    item = runner.SweepRun({"steps": 20}, out, store.read_config(out))
    row = runner.run_one(item, questions=200)
    assert row["train_seconds"] == 1000.0 and row["total_seconds"] >= 1000.0


def test_a_run_trained_into_the_sweep_s_folder_keeps_its_training_time(tmp_path: Path) -> None:
    """``algolens train`` into a sweep's run folder, then the sweep: it only verifies the run,
    and its row carries the training time run.json recorded; a marker without it gives none."""
    from tests.conftest import tiny_model_spec
    from tests.unit.test_train_store import quick

    from algolens import runs, store

    out = runs.train(tmp_path / "r", {"name": "add", "n_digits": 2}, tiny_model_spec(), quick(20),
                     progress=False)  # fmt: skip
    recorded = store.training_seconds(out)
    assert recorded is not None and recorded > 0
    item = runner.SweepRun({"steps": 20}, out, store.read_config(out))
    row = runner.run_one(item, questions=200)
    assert row["train_seconds"] == round(recorded, 1)  # a card keeps tenths of a second
    assert row["total_seconds"] >= recorded
    marker = store.read_marker(out)
    assert marker is not None
    store.write_json(out / store.RUN, {k: v for k, v in marker.items() if k != "seconds"})
    assert runner.run_one(item, questions=200)["train_seconds"] is None


def test_a_lego_variant_sweep_trains_what_lego_train_does(tmp_path: Path, monkeypatch: Any) -> None:
    """Variants and seeds as grid keys: each run's weights are those of ``algolens lego train``
    with the same settings (the parent variant's mimic init included), and its row holds the
    accuracy by chain position; the random variant's run differs (the variant is used)."""
    import torch

    from algolens.runs import load_run

    spec = lego_spec(tmp_path)
    fake = InlineRay(tmp_path / "sweeps" / "legotiny")
    monkeypatch.setattr(runner, "_ray", lambda workers, address: fake)
    argv = ["sweep", str(spec), "--out", str(tmp_path / "sweeps"), "--no-progress"]
    done = CliRunner().invoke(app, argv)
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader((fake.folder / "results.csv").open()))
    assert [r["variant"] for r in rows] == ["random", "parent"]
    assert all(0 <= float(r["eval_accuracy_by_position_pos1"]) <= 1 for r in rows)
    assert "Accuracy by chain position" in (fake.folder / "sweep.html").read_text()
    direct, was = tmp_path / "direct", torch.get_num_threads()
    torch.set_num_threads(runner.run_threads(None))  # the sweep's runs' own thread count
    try:
        assert CliRunner().invoke(app, [*LEGO_TRAIN, "--out", str(direct)]).exit_code == 0
    finally:
        torch.set_num_threads(was)
    want = load_run(direct).model.state_dict()
    swept = {r["variant"]: load_run(fake.folder / "runs" / r["run"]).model.state_dict()
             for r in rows}  # fmt: skip
    assert want.keys() == swept["parent"].keys()
    assert all(torch.equal(want[k], swept["parent"][k]) for k in want)
    assert want.keys() != swept["random"].keys() or not all(
        torch.equal(want[k], swept["random"][k]) for k in want
    )
