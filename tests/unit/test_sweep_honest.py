"""A sweep says what it ran: a grid key that a [task], [model] or [train] option also sets, and
a grid point given twice, are one line at ``--dry-run`` (before, the option silently replaced
the grid's value in every run, and a repeated point trained one folder twice and listed it
twice); each results row's settings are read back from the run's config.json. The kill test
of a sweep is in tests/integration/test_sweep_kill.py (slow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from algolens.cli import app
from algolens.errors import AlgolensError
from algolens.sweep.runner import plan
from algolens.sweep.spec import read_spec

SPEC = """
name = "honest"
questions = 100
[grid]
task = "add"
digits = 2
layers = [1, 2]
steps = [2, 3]
"""


def _spec(tmp: Path, text: str) -> Path:
    path = tmp / "spec.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("[model]\nn_layers = 3\n", "'layers' is also set by [model] n_layers = 3"),
        ("[train]\nsteps = 4\n", "'steps' is also set by [train] steps = 4"),
        ("[task]\nn_digits = 3\n", "'digits' is also set by [task] n_digits = 3"),
        ('[task]\nname = "sub"\n', "'task' is also set by [task] name = 'sub'"),
    ],
)
def test_a_grid_key_set_again_by_an_option_is_one_line(
    tmp_path: Path, table: str, words: str
) -> None:
    with pytest.raises(AlgolensError, match=words.replace("[", r"\[").replace("]", r"\]")):
        read_spec(_spec(tmp_path, SPEC + table))
    done = CliRunner().invoke(app, ["sweep", str(tmp_path / "spec.toml"), "--dry-run"])
    assert done.exit_code == 2 and done.stderr.count("\n") == 1, done.output
    assert done.stderr.startswith("error: ") and not (tmp_path / "sweeps").exists()


def test_options_the_grid_does_not_set_are_taken(tmp_path: Path) -> None:
    """The control: options on keys outside the grid are fixed options, as before."""
    text = SPEC + "[model]\nd_model = 32\n[train]\nbatch_size = 16\n[task]\nsub_share = 0.5\n"
    runs = plan(read_spec(_spec(tmp_path, text)), tmp_path, device=None)
    assert [(r.config.model["n_layers"], r.config.train.steps) for r in runs] == [
        (1, 2), (1, 3), (2, 2), (2, 3)
    ]  # fmt: skip
    assert {(r.config.model["d_model"], r.config.train.batch_size) for r in runs} == {(32, 16)}


@pytest.mark.parametrize(
    ("line", "words"),
    [("steps = [2, 2]", "'steps' lists 2 twice"), ("steps = [2, 2.0]", "'steps' lists 2.0 twice")],
)
def test_a_grid_point_given_twice_is_one_line(tmp_path: Path, line: str, words: str) -> None:
    text = SPEC.replace("steps = [2, 3]", line)
    with pytest.raises(AlgolensError, match=words):
        read_spec(_spec(tmp_path, text))
    done = CliRunner().invoke(app, ["sweep", str(tmp_path / "spec.toml"), "--dry-run"])
    assert done.exit_code == 2 and done.stderr.count("\n") == 1, done.output
    # control: distinct values are distinct runs
    assert len(read_spec(_spec(tmp_path, SPEC)).points()) == 4


def test_two_points_that_train_the_same_run_are_one_line(tmp_path: Path) -> None:
    """Points that differ only in what a from-scratch run ignores (its reuse source) are one
    run: refused at plan (what --dry-run prints)."""
    text = SPEC.replace("layers = [1, 2]", "layers = 1").replace("steps = [2, 3]", "steps = 2")
    text += 'init_from = ["zoo:add_d5_l2", "zoo:add_d6_l2"]\nreuse = "none"\n'
    with pytest.raises(AlgolensError, match="train the same run"):
        plan(read_spec(_spec(tmp_path, text)), tmp_path, device=None)
    text = text.replace(
        'init_from = ["zoo:add_d5_l2", "zoo:add_d6_l2"]', 'init_from = "zoo:add_d5_l2"'
    )
    assert len(plan(read_spec(_spec(tmp_path, text)), tmp_path, device=None)) == 1  # control


def test_a_row_says_what_the_run_trained_with(tmp_path: Path, monkeypatch: Any) -> None:
    """A row's settings come from the run's config.json, not from the grid point it was asked
    for: a point that says 7 layers and 999 steps, on a run of 1 layer and 4 steps, gives a
    row of 1 and 4 (and the common settings the grid left to the recipe). The card (the
    verification, tested in test_sweep_inline) is a stub here."""
    from tests.conftest import tiny_model_spec
    from tests.unit.test_train_store import quick

    from algolens import runs, store
    from algolens.sweep import runner
    from algolens.zoo import build

    card = {"parameters": 1, "training": {"steps": 4, "wall_seconds": 1.0, "final_loss": 0.1}}
    monkeypatch.setattr(build, "make_card", lambda *a, **k: json.loads(json.dumps(card)))
    out = runs.train(tmp_path / "r", {"name": "add", "n_digits": 2}, tiny_model_spec(), quick(4),
                     progress=False)  # fmt: skip
    config = store.read_config(out)
    item = runner.SweepRun({"task": "add", "digits": 2, "layers": 7, "steps": 999}, out, config)
    row = runner.run_one(item, questions=100)
    assert (row["layers"], row["steps"], row["digits"], row["task"]) == (1, 4, 2, "add")
    assert (row["heads"], row["d_model"], row["seed"]) == (2, 32, config.train.seed)
    assert list(row)[:5] == ["run", "task", "digits", "layers", "steps"]  # the grid's order first
    again = runner.saved_row(out, 100)  # read back the same way on a rerun
    assert again is not None and (again["layers"], again["steps"]) == (1, 4)
    store.write_json(out / store.CONFIG, {**config.to_dict(), "model": {"n_layers": 5}})
    again = runner.saved_row(out, 100)  # control: the row follows config.json, whatever it says
    assert again is not None and again["layers"] == 5


class _Call:  # a task's future: hashable, as a Ray ObjectRef is
    def __init__(self, fn: Any, args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args


class _StubRay:
    """Ray's calls as the sweep uses them, each task run inline when its result is asked for;
    the ``stop``-th raises KeyboardInterrupt (Ctrl-C) in the driver."""

    def __init__(self, stop: int | None = None) -> None:
        self.stop, self.calls = stop, 0

    def remote(self, **_: Any) -> Any:
        return lambda fn: type("Task", (), {"remote": staticmethod(lambda *a: _Call(fn, a))})

    def wait(self, pending: list[Any], num_returns: int, timeout: float) -> tuple[list, list]:
        return pending[:1], pending[1:]

    def cancel(self, ref: Any, force: bool = False) -> None:
        pass

    def get(self, call: Any) -> Any:
        self.calls += 1
        if self.calls == self.stop:
            raise KeyboardInterrupt
        return call.fn(*call.args)


def test_an_interrupted_sweep_reruns_to_every_point_once(tmp_path: Path, monkeypatch: Any) -> None:
    """The driver's bookkeeping, without training (each run a stub that writes a finished
    run's files): Ctrl-C in the second of four runs, then a rerun, runs each point once and
    lists each once, in grid order. The slow kill test trains for real."""
    from algolens import store
    from algolens.sweep import runner

    ran: list[str] = []

    def run_one(item: runner.SweepRun, questions: int, threads: int | None) -> dict[str, Any]:
        ran.append(item.out.name)
        store.write_json(item.out / store.CONFIG, item.config.to_dict())
        row = {"run": item.out.name, "steps_done": item.config.train.steps}
        store.write_json(item.out / runner.RESULT, {"questions": questions, "point": item.point,
                                                    "row": row})  # fmt: skip
        return row

    monkeypatch.setattr(runner, "run_one", run_one)
    spec = read_spec(_spec(tmp_path, SPEC))
    names = [r.out.name for r in plan(spec, tmp_path / "s", device=None)]
    monkeypatch.setattr(runner, "_ray", lambda workers, address: _StubRay(stop=2))
    first = runner.run_sweep(spec, tmp_path / "s", progress=False)
    assert first.interrupted and [r["run"] for r in first.rows] == names[:1]
    monkeypatch.setattr(runner, "_ray", lambda workers, address: _StubRay())
    again = runner.run_sweep(spec, tmp_path / "s", progress=False)
    assert not again.interrupted and again.skipped == 1
    assert [r["run"] for r in again.rows] == names and sorted(ran) == sorted(names)
    third = runner.run_sweep(spec, tmp_path / "s", progress=False)  # all done: rows read back
    assert third.skipped == 4 and len(ran) == 4
    assert [(r["layers"], r["steps"]) for r in third.rows] == [(1, 2), (1, 3), (2, 2), (2, 3)]
    assert len(set(names)) == 4  # control: four distinct runs, so "once" means something
