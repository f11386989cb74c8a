"""Verification of a trained 2-digit model: exactness, the fast path, a broken model, the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from algolens.cli import app
from algolens.families.arithmetic.task import oracle
from algolens.runs import load
from algolens.tasks.base import greedy_answers, readout_ok
from algolens.verify import verify_batches, verify_exhaustive
from algolens.verify.answers import answer_argmax, fast_answer_argmax


def _all_questions(task):
    return task.exhaustive_batch(0, 10**4)


def test_teacher_forced_verdict_equals_greedy_decoding(add_d2_run: Path) -> None:
    """On a model right on some questions and wrong on others, a question passes the
    teacher-forced argmax check exactly when greedy decoding gives the right answer."""
    run = load(add_d2_run)
    model = copy.deepcopy(run.model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.25 * p.std().nan_to_num(0.0))
    batch = run.task.batch_from_tokens(_all_questions(run.task).inputs[::4])  # 2,500
    forced = (answer_argmax(model, run.task, batch.inputs) == batch.targets).all(-1)
    fast = (fast_answer_argmax(model, run.task, batch.inputs) == batch.targets).all(-1)
    greedy = (greedy_answers(model, run.task, batch.inputs) == batch.targets).all(-1)
    assert 0 < int(forced.sum()) < len(batch)  # really a mixed model
    assert torch.equal(forced, greedy)
    assert torch.equal(fast, forced)  # the fast forward gives the same verdict everywhere


def test_trained_model_and_broken_unembedding(add_d2_run: Path) -> None:
    run = load(add_d2_run)
    assert readout_ok(run.model)
    assert verify_exhaustive(run.model, run.task).failures == 0
    broken = copy.deepcopy(run.model)
    with torch.no_grad():
        broken.unembed.b_U[7] = -1e4  # token 7 can never be predicted
    res = verify_batches(broken, run.task, [_all_questions(run.task)], source="all")
    expected = sum("7" in oracle(a, b, "+", 2) for a in range(100) for b in range(100))
    assert res.failures == expected
    per_digit = [sum(oracle(a, b, "+", 2)[k] == "7" for a in range(100) for b in range(100))
                 for k in range(3)]  # fmt: skip
    assert list(res.by_digit.values()) == per_digit


def test_cli_verify_json(add_d2_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for extra in (["-n", "3000", "--distribution", "uniform"], ["--exhaustive"],
                  ["--suite", "cascade"]):  # fmt: skip
        args = ["verify", str(add_d2_run), "--json", "--no-progress", *extra]
        if "--exhaustive" in extra:
            args += ["--state", str(tmp_path / "state.json")]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        out = json.loads(result.output)
        out = out.get("uniform", out)  # random questions are reported per distribution
        assert out["failures"] == 0 and out["questions"] >= 19
        assert out["interval"][0] == 0.0
    text = runner.invoke(app, ["verify", str(add_d2_run), "-n", "2000", "--no-progress"])
    assert text.exit_code == 0
    for dist in ("uniform", "training"):  # both by default, each named
        assert "0 failures in 2,000 questions" in text.output
        assert f"2,000 {dist} questions (seed 0)" in text.output
    bad = runner.invoke(app, ["verify", str(add_d2_run), "--suite", "ba"])  # needs 5 digits
    assert bad.exit_code == 2
