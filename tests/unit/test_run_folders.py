"""No write or delete outside what algolens made (issue #35, item 2): a table of folders that
are not a run's own, symlinks inside a run, ``--out ''`` and report names from config.json.
Each is refused in one line (or, for report names, kept inside ``reports/``) and every file
around it is byte for byte what it was (hashed before and after)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import tiny_model_spec
from typer.testing import CliRunner

from algolens import store
from algolens.cli import app
from algolens.config import TrainConfig
from algolens.runs import train

TRAIN = ["train", "add", "--digits", "2", "--layers", "1", "--heads", "2", "--d-model", "16",
         "--steps", "4", "--batch-size", "8", "--no-progress"]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def tree(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (links not followed): a file's sha256, a link's target."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                out[str(path)] = "-> " + os.readlink(path)
            elif path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[str(path)] = "dir"
    return out


def stopped_run(where: Path) -> Path:
    """A run stopped at step 2 of 4, with its checkpoint: something to resume."""
    config = TrainConfig(steps=4, batch_size=8, log_every=1, checkpoint_every=100)
    return train(where / "run", {"name": "add", "n_digits": 2}, tiny_model_spec(d_model=16),
                 config, progress=False, stop_after=2)  # fmt: skip


def outside(root: Path) -> Path:
    """A folder of someone else's, with a file in it and a temporary-looking file."""
    folder = root / "elsewhere"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / ".step_000002.safetensors.x.tmp").write_text("not algolens's either")
    return folder


@dataclass
class Case:
    name: str
    setup: Callable[[Path], list[str]]  # makes the folders; returns the argv
    words: str  # in the one line


def foreign_config(root: Path) -> list[str]:
    folder = root / "d"
    folder.mkdir()
    (folder / "config.json").write_text('{"theirs": true}')
    (folder / "metrics.jsonl").write_text("their rows\n")
    return [*TRAIN, "--out", str(folder)]


def foreign_file(root: Path) -> list[str]:
    folder = root / "d"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    return [*TRAIN, "--out", str(folder)]


def linked_snapshots_on_resume(root: Path) -> list[str]:
    run = stopped_run(root)
    (run / store.SNAPSHOTS).symlink_to(outside(root))
    return ["train", "--resume", "--out", str(run), "--no-progress"]


def linked_snapshots_on_train(root: Path) -> list[str]:
    folder = root / "d"
    folder.mkdir()
    (folder / store.SNAPSHOTS).symlink_to(outside(root))
    return [*TRAIN, "--train-opt", "keep_every=2", "--out", str(folder)]


def linked_metrics(root: Path) -> list[str]:
    folder = root / "d"
    folder.mkdir()
    (folder / store.METRICS).symlink_to(outside(root) / "notes.txt")
    return [*TRAIN, "--out", str(folder)]


def linked_lock(root: Path) -> list[str]:
    run = stopped_run(root)
    (run / store.LOCK).symlink_to(outside(root) / "notes.txt")
    return ["train", "--resume", "--out", str(run), "--no-progress"]


def empty_out(root: Path) -> list[str]:
    return [*TRAIN, "--out", ""]


CASES = [
    Case("a folder with another tool's config.json", foreign_config, "not a run's"),
    Case("a folder with other files", foreign_file, "did not write (thesis.tex)"),
    Case("a symlinked checkpoints/ on --resume", linked_snapshots_on_resume, "symbolic link"),
    Case("a symlinked checkpoints/ on train", linked_snapshots_on_train, "symbolic link"),
    Case("a symlinked metrics.jsonl", linked_metrics, "symbolic link"),
    Case("a symlinked train.lock", linked_lock, "symbolic link"),
    Case("--out ''", empty_out, "--out is empty"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_nothing_outside_is_written_or_deleted(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = case.setup(tmp_path)
    before = tree(tmp_path)
    result = CliRunner().invoke(app, argv)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and case.words in lines[0], lines[0]
    assert tree(tmp_path) == before


def test_an_empty_or_own_folder_is_accepted(tmp_path: Path) -> None:
    """The negative control: an empty folder, then the same folder after a start killed
    before any weights (its config, run.json and lock), take a run."""
    folder = tmp_path / "d"
    folder.mkdir()
    assert CliRunner().invoke(app, [*TRAIN, "--out", str(folder)]).exit_code == 0
    (folder / store.WEIGHTS).unlink()
    (folder / store.RUN).write_text(json.dumps({"run_id": "x", "done": False}))
    (folder / store.LOCK).write_text("")
    result = CliRunner().invoke(app, [*TRAIN, "--out", str(folder)])
    assert result.exit_code == 0, result.output
    assert store.run_state(folder)[0] == "finished"


# the last is the negative control: a plain name is kept as it is
NAMES = [("/tmp/evil", "_tmp_evil"), ("../../evil", "_.._evil"), ("a/b", "a_b"), ("..", "run"),
         ("add_d2_l1", "add_d2_l1")]  # fmt: skip


def test_report_names_stay_one_folder_inside_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import algolens.report

    written: list[Path] = []

    def report_run(loaded: Any, out: Path, **kw: Any) -> Path:
        written.append(Path(out))
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "report.html").write_text("<html>")
        return Path(out) / "report.html"

    monkeypatch.setattr(algolens.report, "report_run", report_run)
    monkeypatch.chdir(tmp_path)
    run = stopped_run(tmp_path)
    config = json.loads((run / store.CONFIG).read_text())
    for name, folder in NAMES:
        (run / store.CONFIG).write_text(json.dumps({**config, "name": name}))
        before = tree(tmp_path)
        result = CliRunner().invoke(app, ["analyse", str(run), "--no-progress"])
        assert result.exit_code == 0, result.output
        assert written[-1] == Path("reports") / folder, name
        reports = str(tmp_path / "reports")
        assert {k: v for k, v in tree(tmp_path).items() if not k.startswith(reports)} == {
            k: v for k, v in before.items() if not k.startswith(reports)
        }
    (tmp_path / "reports" / "linked").symlink_to(outside(tmp_path))
    (run / store.CONFIG).write_text(json.dumps({**config, "name": "linked"}))
    result = CliRunner().invoke(app, ["analyse", str(run), "--no-progress"])
    assert result.exit_code == 2 and "symbolic link" in result.output


def test_static_figures_are_never_written_through_a_linked_folder(tmp_path: Path) -> None:
    """A report folder whose ``figures`` is a symbolic link to a folder outside is refused
    before any figure is written; the control: a plain folder gets its report."""
    from algolens.errors import AlgolensError
    from algolens.families.base import Analysis
    from algolens.report.render import render

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    report = tmp_path / "report"
    report.mkdir()
    (report / "figures").symlink_to(outside, target_is_directory=True)
    analysis = Analysis(title="t", claims=[], data=None)
    with pytest.raises(AlgolensError, match="symbolic link"):
        render(analysis, [], report, fmt="svg")
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert render(analysis, [], tmp_path / "plain").name == "report.html"
