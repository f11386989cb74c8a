"""The bfloat16 screen: the same verdicts as float32 alone, and a control on which it fails.

``precision="bfloat16"`` forces the screen, so these run on any CPU (slowly where bfloat16 is not
native)."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

import algolens
from algolens.cli import app
from algolens.families import make_task
from algolens.models import Transformer, TransformerConfig
from algolens.verify import screen as screen_mod
from algolens.verify import verify
from algolens.verify.screen import screen_for

QUESTIONS = 5 * 4096


def _verdicts(res: algolens.verify.VerifyResult) -> dict:
    out = res.to_dict()
    out.pop("precision"), out.pop("rechecked")
    return out


@pytest.fixture(scope="module")
def weak_model():
    """add_d5_l1 fails about 2.6% of training questions; the bfloat16 copy alone disagrees
    with float32 on about a quarter of those (in both directions)."""
    run = algolens.load("zoo:add_d5_l1")
    return run.model.eval(), run.task


def test_screen_gives_the_float32_verdicts_on_a_model_that_fails(weak_model) -> None:
    model, task = weak_model
    for dist in ("training", "uniform"):
        plain = verify(
            model, task, questions=QUESTIONS, distribution=dist, seed=7, precision="float32"
        )
        fast = verify(
            model, task, questions=QUESTIONS, distribution=dist, seed=7, precision="bfloat16"
        )
        assert plain.failures > 100
        assert _verdicts(fast) == _verdicts(plain)  # counts, digits, classes, examples
        assert (plain.precision, plain.rechecked) == ("float32", 0)
        assert fast.precision == "bfloat16 screen"
    assert 0 < fast.rechecked < QUESTIONS


def test_trusting_every_bfloat16_pass_changes_the_verdict(weak_model) -> None:
    """The control: with no margin, questions the bfloat16 copy gets right but float32 gets
    wrong pass; the screen's margin is what keeps the verdicts exact."""
    model, task = weak_model
    plain = verify(
        model, task, questions=QUESTIONS, distribution="training", seed=8, precision="float32"
    )
    screen = screen_for(model, "bfloat16")
    assert screen is not None
    verify(
        model, task, questions=1024, distribution="training", seed=9, precision="bfloat16"
    )  # calibrates
    screen.margin = 0.0
    try:
        trusting = verify(
            model, task, questions=QUESTIONS, distribution="training", seed=8, precision="bfloat16"
        )
    finally:
        screen.margin = None
    assert trusting.failures < plain.failures


def test_screen_is_copied_again_when_the_weights_change(weak_model) -> None:
    model, _ = weak_model
    first = screen_for(model, "bfloat16")
    assert screen_for(model, "bfloat16") is first
    p = next(model.parameters())
    with torch.no_grad():
        p.mul_(1.0)
    assert screen_for(model, "bfloat16") is not first


def test_auto_is_float32_alone_without_native_bfloat16(weak_model, monkeypatch) -> None:
    model, task = weak_model
    assert screen_for(model, "float32") is None
    monkeypatch.setattr(screen_mod, "native_bf16", lambda device: False)
    assert screen_for(model, "auto") is None
    res = verify(model, task, questions=4096, distribution="training", seed=1)
    assert (res.precision, res.rechecked) == ("float32", 0)


def test_screen_steps_aside_for_a_model_that_fails_most_questions() -> None:
    task = make_task("add", n_digits=3)
    cfg = TransformerConfig(n_layers=1, n_heads=2, d_model=32, n_ctx=task.n_ctx,
                            d_vocab=task.d_vocab)  # fmt: skip
    model = Transformer(cfg).eval()  # untrained: fails everything
    plain, fast = (
        verify(model, task, questions=3000, distribution="uniform", seed=2, batch_size=500,
               precision=precision)
        for precision in ("float32", "bfloat16")
    )  # fmt: skip
    assert _verdicts(fast) == _verdicts(plain)
    assert screen_for(model, "bfloat16") is None  # stepped aside after its first screened batch
    assert fast.rechecked == 1000  # the calibration batch and the one it gave back


def test_a_small_failing_batch_does_not_turn_the_screen_off(weak_model) -> None:
    """The control is the test above: a full batch that mostly fails does turn it off."""
    model, task = weak_model
    screen = screen_for(model, "bfloat16")
    assert screen is not None
    batch = next(
        iter(
            algolens.verify.random_batches(
                task, questions=4096, distribution="training", seed=5, batch_size=4096
            )
        )
    )
    fails = algolens.verify.answers.fast_answer_argmax(model, task, batch.inputs) != batch.targets
    row = int(fails.any(-1).nonzero()[0, 0])  # one question the model gets wrong
    one = batch.rows(row, row + 1)
    res = algolens.verify.verify_batches(
        model, task, [batch, one], source="q", precision="bfloat16"
    )
    assert res.failures >= 2  # the last batch of one failed, and was re-checked
    assert screen_for(model, "bfloat16") is screen and screen.useful


def test_precision_option_is_checked() -> None:
    result = CliRunner().invoke(app, ["verify", "zoo:add_d5_l1", "--precision", "half"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "precision" in result.output
