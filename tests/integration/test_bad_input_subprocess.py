"""The bad-input table again, each case as its own ``algolens`` process: what a user sees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.bad_inputs import CASES, Case, check, fill, prepare, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return prepare(tmp_path_factory.mktemp("bad_input_cli"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_as_a_process(case: Case, runs: dict[str, Path], tmp_path: Path) -> None:
    argv, paths = fill(case, runs, tmp_path)
    done = run_cli(argv, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    check(case, done.returncode, done.stderr, paths["out"])
    shutil.rmtree(tmp_path / "bad", ignore_errors=True)
