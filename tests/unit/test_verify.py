"""Verification statistics and exact failure counts against plain-Python oracles."""

from __future__ import annotations

import json

import pytest
import torch
from tests.oracles import ArithmeticOracle, StoppingOracle
from typer.testing import CliRunner

from algolens.cli import app
from algolens.errors import AlgolensError
from algolens.families import make_task
from algolens.families.arithmetic.suites import verify_suite
from algolens.families.arithmetic.task import oracle
from algolens.models import Transformer, TransformerConfig
from algolens.tasks.base import greedy_answers, readout_ok
from algolens.verify import PREFIXES, verify, verify_exhaustive
from algolens.verify.answers import answer_argmax, fast_answer_argmax


# ---- models with known failures ----------------------------------------------------------------
def _oracle_failures(op: str, n: int, digit: int, never: int = 7) -> dict[str, int]:
    """Plain Python: questions whose answer token ``digit`` is ``never`` (the broken cases)."""
    ops = {"add": "+", "sub": "-", "mix": "+-"}[op]
    out = {}
    for sym in ops:
        out[sym] = sum(
            oracle(a, b, sym, n)[digit] == str(never) for a in range(10**n) for b in range(10**n)
        )
    return out


@pytest.mark.parametrize(("op", "digit"), [("add", 0), ("add", 2), ("sub", 1), ("mix", 2)])
def test_broken_model_fails_exactly_where_the_oracle_says(op: str, digit: int) -> None:
    task = make_task(op, n_digits=2)
    model = ArithmeticOracle(task, digit)
    res = verify_exhaustive(model, task, batch_size=3000)
    expected = _oracle_failures(op, 2, digit)
    assert res.failures == sum(expected.values())
    assert res.questions == (2 if op == "mix" else 1) * 10**4
    names = task.answer_names
    assert res.by_digit == {name: (res.failures if k == digit else 0) for k, name in
                            enumerate(names)}  # fmt: skip
    if op == "mix":
        assert res.by_group["add"] == [10**4, expected["+"]]
        assert res.by_group["sub"] == [10**4, expected["-"]]
    for ex in res.examples:
        q = task.parse(ex["question"])
        assert ex["right_answer"] == oracle(q[0], q[2], q[1], 2)
        assert ex["right_answer"][digit] == "7" and ex["model_answer"][digit] == "0"
        assert ex["pattern"] == "".join("N" if k == digit else "y" for k in range(3))
    assert sum(v[1] for v in res.by_class.values()) == res.failures


def test_perfect_model_has_no_failures_on_every_distribution() -> None:
    task = make_task("mix", n_digits=4)
    model = ArithmeticOracle(task)
    for dist in ("uniform", "training"):
        res = verify(model, task, questions=5000, distribution=dist, seed=1, batch_size=1024)  # type: ignore[arg-type]
        assert (res.questions, res.failures) == (5000, 0)
        other = verify(model, task, questions=5000, distribution=dist, seed=1, batch_size=64)  # type: ignore[arg-type]
        assert res.to_dict() == other.to_dict()  # the stream does not depend on the batch size
        assert set(res.by_group) == {"add", "sub"}
    out = res.to_dict()
    for key in ("questions", "failures", "failures_per_million", "interval", "by_class",
                "by_digit", "examples", "nines"):  # fmt: skip
        assert key in out
    json.dumps(out)
    assert "5,000" in res.summary()


def test_exhaustive_resumes_where_it_stopped(tmp_path) -> None:
    task = make_task("add", n_digits=2)
    model = ArithmeticOracle(task, digit=1)
    state = tmp_path / "state.json"
    part = verify_exhaustive(model, task, state_path=state, batch_size=1000, stop_after=3)
    assert not part.complete and part.questions == 3000 and state.exists()
    whole = verify_exhaustive(model, task, state_path=state, batch_size=1000)
    assert whole.complete and whole.questions == 10**4 and not state.exists()
    fresh = verify_exhaustive(model, task, state_path=None, batch_size=1000)
    assert whole.to_dict() == {**fresh.to_dict(), "source": whole.source}


def test_exhaustive_refuses_spaces_over_1e8() -> None:
    with pytest.raises(AlgolensError, match="10\\^8"):
        verify_exhaustive(
            ArithmeticOracle(make_task("mix", n_digits=4)), make_task("mix", n_digits=4)
        )


def test_examples_are_what_greedy_decoding_answers() -> None:
    """Teacher forcing feeds the right digits back in; the examples must show greedy's own."""
    task = make_task("sub", n_digits=3)
    model = ArithmeticOracle(task, digit=1, never=2, echo=True)
    res = verify(model, task, questions=3000, distribution="uniform", seed=0, examples=20)
    assert res.failures and len(res.examples) == 20
    tokens = task.encode_batch([ex["question"] for ex in res.examples])
    greedy = [task.decode(row) for row in greedy_answers(model, task, tokens)]
    forced = [task.decode(row) for row in answer_argmax(model, task, tokens)]
    assert [ex["model_answer"] for ex in res.examples] == greedy
    assert greedy != forced  # the echo makes them differ: the test can tell the two apart
    for ex in res.examples:
        assert ex["pattern"][1] == "N" and ex["right_answer"][1] == "2"


def test_prefix_is_the_start_of_every_longer_stream() -> None:
    task = make_task("add", n_digits=3)
    model = ArithmeticOracle(task, digit=2)
    for dist in ("uniform", "training"):
        long = verify(model, task, questions=30_000, distribution=dist, seed=5)  # type: ignore[arg-type]
        short = verify(model, task, questions=PREFIXES[0], distribution=dist, seed=5)  # type: ignore[arg-type]
        middle = verify(model, task, questions=PREFIXES[1], distribution=dist, seed=5)  # type: ignore[arg-type]
        assert long.prefix == [[PREFIXES[0], short.failures], [PREFIXES[1], middle.failures]]
        assert short.failures > 0


# ---- the fast forward --------------------------------------------------------------------------
def test_fast_path_gives_the_same_argmax_as_the_full_forward() -> None:
    task = make_task("mix", n_digits=5)
    model = Transformer(TransformerConfig(n_layers=2, n_heads=2, d_model=32, n_ctx=18)).eval()
    assert readout_ok(model)
    batch = task.sample(2000, torch.Generator().manual_seed(0))
    assert torch.equal(fast_answer_argmax(model, task, batch.inputs),
                       answer_argmax(model, task, batch.inputs))  # fmt: skip
    model.blocks[0].attn.hook_pattern.add_hook(lambda t, hook: t)
    assert not readout_ok(model)  # hooked models take the plain path
    model.reset_hooks()


def test_suite_runs_for_sub() -> None:
    task = make_task("sub", n_digits=3)
    res = verify_suite(ArithmeticOracle(task), task, "complete")
    assert res.failures == 0 and res.questions > 50


# ---- the command -------------------------------------------------------------------------------
def _cli(*args: str):
    return CliRunner().invoke(app, ["verify", *args])


def test_cli_bad_input_is_one_line_exit_2(tmp_path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model": {"kind": "transformer"}}))
    for args in (
        [str(tmp_path)],  # a run without a task
        [str(tmp_path), "--questions", "0"],
        [str(tmp_path), "--questions", "-5"],
        [str(tmp_path), "--suite", "nope"],
        [str(tmp_path / "missing")],
    ):
        result = _cli(*args)
        assert result.exit_code == 2, args
        assert result.output.strip().count("\n") == 0 and "error" in result.output


def test_ctrl_c_saves_progress_and_a_rerun_finishes(tmp_path) -> None:
    task = make_task("add", n_digits=2)
    state = tmp_path / "state.json"
    with pytest.raises(KeyboardInterrupt):
        verify_exhaustive(
            StoppingOracle(task, at=5), task, state_path=state, batch_size=1000, examples=0
        )
    assert json.loads(state.read_text())["batches"] == 4
    model = ArithmeticOracle(task, digit=1)
    whole = verify_exhaustive(model, task, state_path=state, batch_size=1000, examples=0)
    fresh = verify_exhaustive(model, task, state_path=None, batch_size=1000, examples=0)
    assert whole.complete and whole.to_dict() == fresh.to_dict()
