"""Every bad input in the table (tests/bad_inputs.py) is one ``error:`` line and exit code 2,
through the function the ``algolens`` script calls; the slow tier repeats it as subprocesses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.bad_inputs import CASES, Case, check, fill, prepare, snapshot

from algolens.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return prepare(tmp_path_factory.mktemp("bad_input"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_exit_2(
    case: Case, runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, paths = fill(case, runs, tmp_path)
    keep = [Path(p.format(**{k: str(v) for k, v in runs.items()})) for p in case.untouched]
    before = snapshot(keep + sorted(runs["add"].iterdir()))
    capsys.readouterr()
    code = main(argv)
    check(case, code, capsys.readouterr().err, paths["out"])
    assert snapshot(keep + sorted(runs["add"].iterdir())) == before, "a run's files changed"
    shutil.rmtree(tmp_path / "bad", ignore_errors=True)
