"""``verify --exhaustive --state``: the state file is only ever this model's and task's progress.

A file that is not a state (an empty file, a user's notes), or the state of another model, is
refused in one line and left byte for byte as it was; a state saved under another batch size
resumes by question count when the new size divides it, else is refused naming the size that
resumes it; a tampered state (``"batches": -3``, more failures than questions, 10^5 nested
brackets) is one line. Each test has its control: the untouched state resumes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.oracles import ArithmeticOracle
from typer.testing import CliRunner

from algolens.cli import app
from algolens.errors import AlgolensError
from algolens.families import make_task
from algolens.verify import verify_exhaustive

TASK = make_task("add", n_digits=2)  # 10,000 questions


def _model() -> ArithmeticOracle:
    return ArithmeticOracle(TASK, digit=1)  # fails on some questions: the counts mean something


def _part(state: Path, batch_size: int = 1000, batches: int = 3) -> dict[str, Any]:
    """A state file of ``batches`` batches done; its JSON."""
    part = verify_exhaustive(
        _model(), TASK, state_path=state, batch_size=batch_size, stop_after=batches
    )
    assert not part.complete and part.questions == batch_size * batches
    return json.loads(state.read_text())


def _fresh(batch_size: int = 1000) -> dict[str, Any]:
    return verify_exhaustive(_model(), TASK, state_path=None, batch_size=batch_size).to_dict()


def test_an_empty_file_is_refused_and_kept(tmp_path: Path) -> None:
    state = tmp_path / "notes.json"
    state.write_bytes(b"")
    with pytest.raises(AlgolensError, match="is empty"):
        verify_exhaustive(_model(), TASK, state_path=state, batch_size=1000)
    assert state.exists() and state.read_bytes() == b""
    state.unlink()  # control: no file, and the run leaves none behind
    assert (
        verify_exhaustive(_model(), TASK, state_path=state, batch_size=1000).complete
        and not state.exists()
    )


def test_a_user_s_json_is_refused_and_kept(tmp_path: Path) -> None:
    state = tmp_path / "mine.json"
    for text in ('{"notes": 1}\n', "[1, 2]\n", "not json\n", "[" * 100_000):
        state.write_text(text)
        with pytest.raises(AlgolensError, match="not a verification state"):
            verify_exhaustive(_model(), TASK, state_path=state, batch_size=1000)
        assert state.read_text() == text


def test_another_model_s_progress_is_refused_and_kept(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    _part(state)
    before = state.read_bytes()
    other = _model()
    other.register_buffer("w", torch.ones(1))  # other weights: another fingerprint
    with pytest.raises(AlgolensError, match="another model"):
        verify_exhaustive(other, TASK, state_path=state, batch_size=1000)
    with pytest.raises(AlgolensError, match="another task"):
        verify_exhaustive(_model(), make_task("sub", n_digits=2), state_path=state, batch_size=1000)
    assert state.read_bytes() == before
    # control: the model that wrote it resumes, from question 3,000 on
    more = verify_exhaustive(_model(), TASK, state_path=state, batch_size=1000, stop_after=1)
    assert more.questions == 4000


def test_another_batch_size_resumes_by_question_count(tmp_path: Path) -> None:
    """3,000 questions done in batches of 1,000: batches of 500 go on from 3,000 (two more
    batches make 4,000, not 1,000), and the whole verdict is a fresh run's."""
    state = tmp_path / "state.json"
    _part(state)
    more = verify_exhaustive(_model(), TASK, state_path=state, batch_size=500, stop_after=2)
    assert more.questions == 4000 and json.loads(state.read_text())["key"]["batch_size"] == 500
    whole = verify_exhaustive(_model(), TASK, state_path=state, batch_size=500)
    assert whole.complete and not state.exists()
    assert whole.to_dict() == _fresh(500)


def test_a_batch_size_that_does_not_divide_is_refused_and_none_given_takes_the_saved(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    _part(state)
    before = state.read_bytes()
    with pytest.raises(AlgolensError, match="--batch-size 1000"):
        verify_exhaustive(_model(), TASK, state_path=state, batch_size=700)
    assert state.read_bytes() == before
    more = verify_exhaustive(
        _model(), TASK, state_path=state, batch_size=None, stop_after=1
    )  # the saved size
    assert more.questions == 4000


def _tamper(data: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    parts = where.split(".")
    target = data
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = value
    return data


TAMPERED = [
    ("batches", -3, "batches"),
    ("batches", 11, "batches"),
    ("batches", 2.0, "batches"),
    ("batches", True, "batches"),
    ("batches", None, "batches"),
    ("key.batch_size", 0, "batch_size"),
    ("result.questions", 1_204_300, "questions"),
    ("result.failures", 3001, "failures"),
    ("result.failures", -1, "failures"),
    ("result.failures", float("nan"), "failures"),
    ("result.rechecked", 10**30, "rechecked"),
    ("result.digit_failures", [0], "digit_failures"),
    ("result.by_class", {"BA": [5, 1]}, "by_class"),
    ("result.by_class", {"BA": [3000, 3001]}, "by_class"),
    ("result.by_group", {"add": "x"}, "by_group"),
    ("result.prefix", [[1]], "prefix"),
    ("result.examples", [{"question": 1}], "examples"),
    ("result.answer_names", ["A9"], "answer"),
    ("result.source", 5, "source"),
    ("result.complete", "yes", "complete"),
    ("result", [], "fields"),
    ("key.v", 1, "version"),
]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A state of 3 batches of 1,000, as verify_exhaustive wrote it."""
    return _part(tmp_path_factory.mktemp("good") / "state.json")


@pytest.mark.parametrize(("where", "value", "words"), TAMPERED)
def test_a_tampered_state_is_one_line_and_kept(
    tmp_path: Path, good: dict[str, Any], where: str, value: Any, words: str
) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(_tamper(json.loads(json.dumps(good)), where, value)))
    before = state.read_bytes()
    with pytest.raises(AlgolensError, match=words) as e:
        verify_exhaustive(_model(), TASK, state_path=state, batch_size=1000)
    assert "\n" not in str(e.value) and state.read_bytes() == before


def test_the_untampered_state_resumes(tmp_path: Path, good: dict[str, Any]) -> None:
    """The control of the tampered cases: the state as written goes on from 3,000."""
    state = tmp_path / "state.json"
    state.write_text(json.dumps(good))
    assert (
        verify_exhaustive(_model(), TASK, state_path=state, batch_size=1000, stop_after=1).questions
        == 4000
    )


def test_a_huge_number_in_a_state_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    text = json.dumps(_part(state)).replace('"batches": 3', '"batches": ' + "9" * 5000)
    state.write_text(text)
    with pytest.raises(AlgolensError, match="not a verification state"):
        verify_exhaustive(_model(), TASK, state_path=state, batch_size=1000)
    assert state.read_text() == text


def test_cli_a_tampered_state_is_one_error_line_exit_2(add_d2_run: Path, tmp_path: Path) -> None:
    """The issue's case: ``"batches": -3`` reported "complete, 1,204,300 of 1,000,000"."""
    from algolens.runs import load

    run = load(str(add_d2_run))
    state = tmp_path / "state.json"
    verify_exhaustive(
        run.model, run.task, state_path=state, batch_size=1000, stop_after=2, workers=1
    )
    good = json.loads(state.read_text())
    argv = ["verify", str(add_d2_run), "--exhaustive", "--state", str(state), "--no-progress",
            "--batch-size", "1000", "--workers", "1"]  # fmt: skip
    state.write_text(json.dumps({**good, "batches": -3}))
    done = CliRunner().invoke(app, argv)
    assert done.exit_code == 2, done.output
    assert done.output.startswith("error: ") and done.output.count("\n") == 1
    assert "batches" in done.output and state.exists()
    state.write_text(json.dumps(good))  # control: the state as written resumes and completes
    done = CliRunner().invoke(app, argv)
    assert done.exit_code == 0, done.output
    assert "10,000 questions" in done.output and not state.exists()


def test_a_shard_file_is_read_as_strictly(tmp_path: Path) -> None:
    """``--shards`` keeps one verdict per shard beside the state path: another model's shard,
    one of another --shards count or a tampered one is one line and left as it is (it was
    overwritten, or its counts merged as they stood); the shard as written is read back."""
    from algolens.verify.engine import model_fingerprint
    from algolens.verify.shards import _saved, shard_ranges, verify_range

    model, names = _model(), TASK.answer_names
    key = {"model": model_fingerprint(model), "task": TASK.to_dict(), "v": 1}
    span = shard_ranges(10_000, 2)[0]
    part = verify_range(
        model, TASK, start=span[0], stop=span[1], batch_size=1000, examples=10
    ).state()
    path = tmp_path / "shard_0000.json"
    assert _saved(tmp_path, 0, key, span, names) is None  # no file yet
    for data, words in [
        ({"key": {**key, "model": "0" * 16}, "result": part}, "another model"),
        ({"key": key, "result": {**part, "failures": part["questions"] + 1}}, "failures"),
        ({"key": key, "result": {**part, "by_class": {}}}, "by_class"),
        ({"key": key, "result": part, "more": 1}, "not a verification state"),
    ]:
        path.write_text(json.dumps(data))
        with pytest.raises(AlgolensError, match=words):
            _saved(tmp_path, 0, key, span, names)
        assert json.loads(path.read_text()) == data
    path.write_text(json.dumps({"key": key, "result": part}))
    with pytest.raises(AlgolensError, match="another --shards"):
        _saved(tmp_path, 0, key, shard_ranges(10_000, 3)[0], names)
    saved = _saved(tmp_path, 0, key, span, names)  # control: the shard as written
    assert saved is not None and saved.state() == part
