"""The fourth family (sorting) trains, predicts, verifies and analyses through the generic code
alone; and a family from outside algolens registers through the entry-point group."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

from algolens.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def sort_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sort") / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "sort",
            "--steps",
            "400",
            "--batch-size",
            "128",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_sort_trains_predicts_and_verifies(sort_run: Path) -> None:
    out = runner.invoke(app, ["predict", str(sort_run), "3 1 4 1 5", "9 0 8 1 7"])
    assert out.stdout.splitlines() == ["3 1 4 1 5 > 1 1 3 4 5", "9 0 8 1 7 > 0 1 7 8 9"]
    res = runner.invoke(
        app,
        [
            "verify",
            str(sort_run),
            "--exhaustive",
            "--json",
            "--no-progress",
            "--state",
            str(sort_run.parent / "state.json"),
        ],
    )
    record = json.loads(res.stdout)
    assert record["questions"] == 100_000 and record["failures"] < 1000  # 99% of every list
    assert set(record["by_class"]) == {"distinct", "repeats"}
    bad = runner.invoke(app, ["predict", str(sort_run), "3 1 4"])
    assert bad.exit_code == 2 and "expected 5 numbers" in bad.stderr


def test_sort_gets_the_generic_analysis(sort_run: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["analyse", str(sort_run), "--out", str(tmp_path), "--questions", "200", "--no-progress"],
    )
    assert res.exit_code == 0, res.output
    html = (tmp_path / "report.html").read_text()
    for title in ("Which positions are needed", "Which nodes are needed", "Mean attention"):
        assert title in html


def test_a_family_from_another_package_registers_by_entry_point(monkeypatch, tmp_path) -> None:
    """A parity family defined in tests/plugin_parity.py, found through the entry point group
    ``algolens.families`` as an installed package would declare it: it trains and predicts."""
    import algolens.families as families

    point = EntryPoint("parity", "tests.plugin_parity:FAMILY", "algolens.families")
    monkeypatch.setattr(
        families, "entry_points", lambda group: [point] if group == "algolens.families" else []
    )
    families.families.cache_clear()
    families._by_task.cache_clear()
    try:
        out = tmp_path / "parity"
        res = runner.invoke(
            app, ["train", "parity", "--steps", "300", "--out", str(out), "--no-progress"]
        )
        assert res.exit_code == 0, res.output
        res = runner.invoke(app, ["predict", str(out), "1011", "0000"])
        assert res.stdout.splitlines() == ["1011=1", "0000=0"]
    finally:
        families.families.cache_clear()
        families._by_task.cache_clear()
