"""The CLI, called in-process: happy paths and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from algolens.cli import app

runner = CliRunner()

TINY = [
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
    "--no-progress",
]


def invoke(*args: str):
    return runner.invoke(app, list(args))


def assert_one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in result.output + result.stderr
    for w in words:
        assert w in err, err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    result = invoke("train", "add", "--digits", "2", "--steps", "20", "--out", str(out), *TINY)
    assert result.exit_code == 0, result.output
    return out


def test_help_lists_every_command() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for cmd in ("train", "predict", "sample", "info"):
        assert cmd in result.output


def test_sample_json_lines() -> None:
    result = invoke("sample", "add", "--digits", "5", "--n", "5", "--seed", "0", "--json")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 5
    for r in records:
        a, b = r["question"].split("+")
        assert r["answer"] == str(int(a) + int(b)).zfill(6)
        assert r["class"] in ("BA", "MC1", "SimpleUS9", "CascadeUS9")


def test_sample_text_and_sub() -> None:
    result = invoke("sample", "sub", "--digits", "3", "--n", "3")
    assert result.exit_code == 0
    assert all("-" in line and "=" in line for line in result.stdout.splitlines())


def test_train_writes_run_and_info_reads_it(tiny_run: Path) -> None:
    assert (tiny_run / "model.safetensors").exists()
    result = invoke("info", str(tiny_run))
    assert result.exit_code == 0
    assert "parameters:" in result.stdout and "loss" in result.stdout


def test_predict_prints_question_equals_answer(tiny_run: Path) -> None:
    result = invoke("predict", str(tiny_run), "12+34", "9+9")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("12+34=") and len(lines[0]) == len("12+34=046")
    assert lines[1].startswith("9+9=")


@pytest.mark.parametrize(
    ("question", "word"),
    [("ab+12", "malformed"), ("123+4", "more than"), ("1234", "malformed"), ("12-3", "add")],
)
def test_predict_bad_questions(tiny_run: Path, question: str, word: str) -> None:
    assert_one_line_error(invoke("predict", str(tiny_run), question), word)


def test_missing_and_corrupt_run_directories(tmp_path: Path) -> None:
    assert_one_line_error(invoke("predict", str(tmp_path / "nope"), "1+2"), "no run directory")
    (tmp_path / "config.json").write_text("{")
    assert_one_line_error(invoke("info", str(tmp_path)), "corrupt")


@pytest.mark.parametrize(
    ("args", "word"),
    [(["--d-model", "31", "--heads", "2"], "divisible"), (["--digits", "0"], "digits")],
)
def test_train_impossible_config(tmp_path: Path, args: list[str], word: str) -> None:
    result = invoke(
        "train", "add", "--steps", "2", "--out", str(tmp_path / "r"), "--no-progress", *args
    )
    assert_one_line_error(result, word)
    assert not (tmp_path / "r" / "config.json").exists()


def test_train_unknown_task(tmp_path: Path) -> None:
    assert_one_line_error(invoke("train", "mul", "--out", str(tmp_path / "r")), "unknown task")


def test_resume_needs_out() -> None:
    assert_one_line_error(invoke("train", "add", "--resume"), "--out")


def test_help_lists_the_tasks_of_every_registered_family(monkeypatch: pytest.MonkeyPatch) -> None:
    """The task argument's help comes from the registry: a plug-in family's task shows up, a
    task no family registers does not."""
    import algolens.families as registry
    from algolens.commands.base import task_help
    from algolens.families import Family

    assert task_help() == "Task: add, lego, mix, modadd, sort, sub"
    known = dict(registry._by_task())
    plug = Family(name="toy", tasks={"toy_copy": lambda **_: None}, defaults={}, presets={})
    monkeypatch.setattr(registry, "_by_task", lambda: {**known, "toy_copy": plug})
    assert task_help() == "Task: add, lego, mix, modadd, sort, sub, toy_copy"
