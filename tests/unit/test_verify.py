"""Verification statistics and exact failure counts against plain-Python oracles."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from typer.testing import CliRunner

from algolens.cli import app
from algolens.errors import AlgolensError
from algolens.models import Transformer, TransformerConfig
from algolens.tasks import make_task
from algolens.tasks.arithmetic import oracle
from algolens.tasks.base import readout_ok
from algolens.verify import (
    answer_argmax,
    beta_cdf,
    clopper_pearson,
    fast_answer_argmax,
    nines,
    verify,
    verify_exhaustive,
    verify_suite,
)


# ---- Clopper-Pearson ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("k", "n", "lower", "upper"),
    [
        (0, 10, 0.0, 0.3084971),  # R binom.test(0, 10)
        (1, 10, 0.002528579, 0.445016118),
        (5, 10, 0.1870860, 0.8129140),
        (10, 10, 0.6915029, 1.0),
        (0, 1_000_000, 0.0, 3.688879e-6),  # 1 - 0.025 ** (1 / n)
        (2, 1_000_000, 0.242209e-6, 7.224687e-6),  # Poisson limit: chi2 quantiles / 2n
        (10, 1_000_000, 4.795389e-6, 18.390355e-6),
    ],
)
def test_clopper_pearson_known_values(k: int, n: int, lower: float, upper: float) -> None:
    lo, hi = clopper_pearson(k, n)
    assert lo == pytest.approx(lower, rel=2e-5, abs=1e-12)
    assert hi == pytest.approx(upper, rel=2e-5)


def test_clopper_pearson_closed_forms() -> None:
    for n in (1, 7, 1000, 10**8):
        assert clopper_pearson(0, n)[1] == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)
        assert clopper_pearson(n, n)[0] == pytest.approx(0.025 ** (1 / n), rel=1e-9)
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.data(), st.floats(0.01, 0.99))
def test_beta_cdf_is_the_binomial_tail(n: int, data: st.DataObject, p: float) -> None:
    """I_p(k, n - k + 1) = P(Binomial(n, p) >= k), summed in plain Python."""
    k = data.draw(st.integers(1, n))
    tail = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))
    assert beta_cdf(p, k, n - k + 1) == pytest.approx(tail, rel=1e-9, abs=1e-12)


def test_nines() -> None:
    assert nines(0, 10**6) == 6
    assert nines(1, 10**6) == 6
    assert nines(2, 10**6) == 5
    assert nines(12_621, 10**6) == 1


# ---- models with known failures ----------------------------------------------------------------
class OracleModel(nn.Module):
    """A perfect teacher-forced model: position p's logits are one-hot on token p + 1.

    ``never`` bans token ``never`` at answer digit ``digit`` (sequence order), like a zeroed
    unembedding column: that digit then reads 0 wherever the right token was ``never``.
    """

    def __init__(self, answer_start: int, digit: int | None = None, never: int = 7):
        super().__init__()
        self.pos = None if digit is None else answer_start - 1 + digit
        self.never = never

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        logits = F.one_hot(tokens[:, 1:], 13).float()
        logits = torch.cat([logits, torch.zeros_like(logits[:, :1])], dim=1)
        if self.pos is not None:
            logits[:, self.pos, self.never] = float("-inf")
        return logits


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
    model = OracleModel(task.answer_start, digit)
    res = verify_exhaustive(model, task, batch_size=3000)
    expected = _oracle_failures(op, 2, digit)
    assert res.failures == sum(expected.values())
    assert res.questions == (2 if op == "mix" else 1) * 10**4
    names = task.answer_names
    assert res.by_digit == {name: (res.failures if k == digit else 0) for k, name in
                            enumerate(names)}  # fmt: skip
    if op == "mix":
        assert res.by_op["add"] == [10**4, expected["+"]]
        assert res.by_op["sub"] == [10**4, expected["-"]]
    for ex in res.examples:
        q = task.parse(ex["question"])
        assert ex["right_answer"] == oracle(q[0], q[2], q[1], 2)
        assert ex["right_answer"][digit] == "7" and ex["model_answer"][digit] == "0"
        assert ex["pattern"] == "".join("N" if k == digit else "y" for k in range(3))
    assert sum(v[1] for v in res.by_class.values()) == res.failures


def test_perfect_model_has_no_failures_on_every_distribution() -> None:
    task = make_task("mix", n_digits=4)
    model = OracleModel(task.answer_start)
    for dist in ("uniform", "training"):
        res = verify(model, task, 5000, dist, seed=1, batch_size=1024)  # type: ignore[arg-type]
        assert (res.questions, res.failures) == (5000, 0)
        assert set(res.by_op) == {"add", "sub"}
    out = res.to_dict()
    for key in ("questions", "failures", "failures_per_million", "interval", "by_class",
                "by_digit", "examples", "nines"):  # fmt: skip
        assert key in out
    json.dumps(out)
    assert "5,000" in res.summary()


def test_exhaustive_resumes_where_it_stopped(tmp_path) -> None:
    task = make_task("add", n_digits=2)
    model = OracleModel(task.answer_start, digit=1)
    state = tmp_path / "state.json"
    part = verify_exhaustive(model, task, state, batch_size=1000, stop_after=3)
    assert not part.complete and part.questions == 3000 and state.exists()
    whole = verify_exhaustive(model, task, state, batch_size=1000)
    assert whole.complete and whole.questions == 10**4 and not state.exists()
    fresh = verify_exhaustive(model, task, None, batch_size=1000)
    assert whole.to_dict() == {**fresh.to_dict(), "source": whole.source}


def test_exhaustive_refuses_spaces_over_1e8() -> None:
    with pytest.raises(AlgolensError, match="10\\^8"):
        verify_exhaustive(OracleModel(0), make_task("mix", n_digits=4))


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
    res = verify_suite(OracleModel(task.answer_start), task, "cascade")
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


class InterruptedModel(OracleModel):
    """Raises KeyboardInterrupt (Ctrl-C) on its ``at``-th forward pass."""

    def __init__(self, answer_start: int, at: int):
        super().__init__(answer_start, digit=1)
        self.calls, self.at = 0, at

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return super().forward(tokens)


def test_ctrl_c_saves_progress_and_a_rerun_finishes(tmp_path) -> None:
    task = make_task("add", n_digits=2)
    state = tmp_path / "state.json"
    with pytest.raises(KeyboardInterrupt):
        verify_exhaustive(InterruptedModel(task.answer_start, at=5), task, state, batch_size=1000)
    assert json.loads(state.read_text())["batches"] == 4
    model = OracleModel(task.answer_start, digit=1)
    whole = verify_exhaustive(model, task, state, batch_size=1000)
    fresh = verify_exhaustive(model, task, None, batch_size=1000)
    assert whole.complete and whole.to_dict() == fresh.to_dict()
