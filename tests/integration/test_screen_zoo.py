"""The bfloat16 screen gives float32's verdicts on the zoo's arithmetic models, 200,000 questions
of each distribution (the README's claim); ``precision="bfloat16"`` forces the screen anywhere."""

from __future__ import annotations

import pytest

import algolens
from algolens.verify import VerifyResult, verify
from algolens.verify.screen import screen_for

QUESTIONS = 200_000


def _verdicts(res: VerifyResult) -> dict:
    out = res.to_dict()
    out.pop("precision"), out.pop("rechecked")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["add_d5_l1", "add_d5_l2", "sub_d6_l2", "add_d15_l2"])
def test_screen_verdicts_equal_float32_alone(name: str) -> None:
    run = algolens.load(f"zoo:{name}")
    model, task = run.model.eval(), run.task
    for dist in ("training", "uniform"):
        plain = verify(
            model, task, questions=QUESTIONS, distribution=dist, seed=11, precision="float32"
        )
        fast = verify(
            model, task, questions=QUESTIONS, distribution=dist, seed=11, precision="bfloat16"
        )
        assert _verdicts(fast) == _verdicts(plain), (name, dist)
        assert fast.precision == "bfloat16 screen" and fast.rechecked > 0
        print(name, dist, "failures", plain.failures, "rechecked", fast.rechecked)
    # this process's screen, calibrated on a batch too small to decide whether it steps aside
    verify(
        model, task, questions=32, distribution="training", seed=1, precision="bfloat16", workers=1
    )
    print(name, "margin", screen_for(model, "bfloat16").margin)  # type: ignore[union-attr]
