"""Hypotheses as data: the arithmetic causal models answer as the oracle does, their
interventions give the counterfactuals the papers' algorithm implies, and a wrong model fails."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from algolens.analysis.hypothesis import Alignment, Hypothesis, Variable
from algolens.families.arithmetic.hypothesis import (
    PAIR_KINDS,
    check_against_oracle,
    hypothesis,
    sampler,
)
from algolens.families.arithmetic.task import MINUS, PLUS, ArithmeticTask


@pytest.mark.parametrize("op", ["add", "sub"])
@pytest.mark.parametrize("n", [1, 5, 6])
def test_hypothesis_answers_like_the_oracle(op: str, n: int) -> None:
    task = ArithmeticTask(op=op, n_digits=n)  # type: ignore[arg-type]
    hyp = hypothesis(task)
    gen = torch.Generator().manual_seed(0)
    for kind in PAIR_KINDS[op]:
        assert check_against_oracle(hyp, sampler(task, op, kind)(1000, gen)) == 0


@pytest.mark.parametrize("n", [1, 5, 6])
def test_direct_subtraction_answers_like_the_oracle(n: int) -> None:
    """D - D' column by column, the sign from the final borrow: the same answers as the oracle
    on every kind of pair; a final borrow turns the digits into the complement's (500 - 123 =
    377; with DB2 = 1, 377 - 1000 = -623)."""
    task = ArithmeticTask(op="sub", n_digits=n)
    hyp = hypothesis(task, "sub_direct")
    gen = torch.Generator().manual_seed(0)
    for kind in PAIR_KINDS["sub"]:
        assert check_against_oracle(hyp, sampler(task, "sub", kind)(1000, gen)) == 0
    if n == 6:
        return
    three = ArithmeticTask(op="sub", n_digits=3)
    hyp = hypothesis(three, "sub_direct")
    (q,) = hyp.questions(three.make_batch(torch.tensor([[5, 0, 0]]), torch.tensor([[1, 2, 3]])))
    assert hyp.run(q) == (PLUS, 3, 7, 7)
    assert hyp.run(q, {"DD2": 9}) == (PLUS, 8, 7, 7)  # (9 - the borrow in) in the hundreds
    assert hyp.run(q, {"DB2": 1}) == (MINUS, 6, 2, 3)  # a final borrow: 377 - 1000


def test_a_hypothesis_without_the_cascade_fails_on_cascades() -> None:
    """Negative control: carries that do not pass through sum-9 columns (CI = SC below) miss
    the cascade questions, and only those."""
    task = ArithmeticTask(op="add", n_digits=5)
    hyp = hypothesis(task)
    no_cascade = tuple(
        dataclasses.replace(v, fn=lambda q, vals, c=v.column: vals[f"SC{c - 1}"])
        if v.name.startswith("CI")
        else v
        for v in hyp.variables
    )
    wrong = dataclasses.replace(hyp, variables=no_cascade)
    gen = torch.Generator().manual_seed(0)
    cascades = sampler(task, "add", "cascade")(1000, gen)
    assert check_against_oracle(wrong, cascades) > 100
    no_carry = task.make_batch(torch.tensor([[1, 2, 3, 4, 0]]), torch.tensor([[5, 6, 1, 2, 3]]))
    assert check_against_oracle(wrong, no_carry) == 0


def test_counterfactuals_of_the_worked_example() -> None:
    """33357+82243 = 115600: overriding one variable changes the answer as the algorithm says."""
    task = ArithmeticTask(op="add", n_digits=5)
    hyp = hypothesis(task)
    (q,) = hyp.questions(task.batch_from_tokens(task.encode_batch(["33357+82243"])))
    assert hyp.run(q) == (1, 1, 5, 6, 0, 0)
    assert hyp.run(q, {"SA1": 2}) == (1, 1, 5, 6, 3, 0)  # A1 = SA1 + carry in
    assert hyp.run(q, {"CI1": 0}) == (1, 1, 5, 5, 9, 0)  # SA1 = 9 passes nothing on now
    assert hyp.run(q, {"SS1": 0}) == (1, 1, 5, 5, 0, 0)  # the cascade stops at column 1
    assert hyp.run(q, {"SC4": 0}) == (0, 1, 5, 6, 0, 0)
    source = hyp.questions(task.make_batch(torch.tensor([[0] * 5]), torch.tensor([[0] * 5])))[0]
    assert hyp.counterfactual(q, source, "SC0") == (1, 1, 5, 5, 9, 0)


def test_subtraction_sign_and_comparison_are_different_interventions() -> None:
    """SIGN flips the sign token alone; NEG (D > D', negated) swaps the operands, so the
    digits become 10^n minus the difference."""
    task = ArithmeticTask(op="sub", n_digits=3)
    hyp = hypothesis(task)
    (q,) = hyp.questions(task.make_batch(torch.tensor([[5, 0, 0]]), torch.tensor([[1, 2, 3]])))
    assert hyp.run(q) == (PLUS, 3, 7, 7)
    assert hyp.run(q, {"SIGN": 1}) == (MINUS, 3, 7, 7)
    assert hyp.run(q, {"NEG": 1}) == (MINUS, 6, 2, 3)  # 1000 - 377
    assert hyp.run(q, {"BI1": 0}) == (PLUS, 3, 8, 7)


def test_hypothesis_is_checked_data() -> None:
    """Variables must come after their parents, alignments name real variables, and
    ``aligned`` returns a new hypothesis."""
    hyp = hypothesis(ArithmeticTask(op="add", n_digits=2))
    with pytest.raises(ValueError, match="computed before"):
        dataclasses.replace(hyp, variables=hyp.variables[::-1])
    with pytest.raises(ValueError, match="unknown variables"):
        dataclasses.replace(hyp, alignments={"X": Alignment(("P5.L0.H0",))})
    two = hyp.aligned("SA0", Alignment(("P5.L0.H0", "P5.L0.MLP"), how="test"))
    assert two.alignments["SA0"].name == "P5.L0.H0+P5.L0.MLP" and not hyp.alignments
    assert hyp.source.startswith("Quirke & Barez 2024")
    assert 0 < hyp.thresholds.iia <= 1 and hyp.thresholds.pairs == 10_000
    assert isinstance(hyp, Hypothesis) and isinstance(hyp.variables[0], Variable)


def test_targeted_pairs_target() -> None:
    """Cascade questions hold long carry chains, borrow chains long borrow chains, sign flips
    near-equal operands (a long common prefix); uniform questions rarely do (the control)."""
    gen = torch.Generator().manual_seed(0)
    add, sub = ArithmeticTask(op="add", n_digits=6), ArithmeticTask(op="sub", n_digits=6)

    def share_deep(batch) -> float:
        return float((batch.labels["depth"] >= 2).double().mean())

    assert share_deep(sampler(add, "add", "cascade")(2000, gen)) > 0.2
    assert share_deep(sampler(add, "add", "random")(2000, gen)) < 0.05
    assert share_deep(sampler(sub, "sub", "borrow_chain")(2000, gen)) > 0.1
    assert share_deep(sampler(sub, "sub", "random")(2000, gen)) < 0.05

    def share_prefix(batch) -> float:  # the top three digits equal
        x, y = batch.inputs[:, :3], batch.inputs[:, 7:10]
        return float((x == y).all(-1).double().mean())

    assert share_prefix(sampler(sub, "sub", "sign_flip")(2000, gen)) > 0.3
    assert share_prefix(sampler(sub, "sub", "random")(2000, gen)) < 0.01
    with pytest.raises(ValueError, match="unknown pair kind"):
        sampler(add, "add", "sign_flip")


def test_sort_hypothesis() -> None:
    """Sorting declared as a hypothesis: equal to the oracle (repeats included), the worked
    counterfactual, and a chain that never repeats an item fails on lists with repeats."""
    from algolens.families.sort.hypothesis import sort_hypothesis
    from algolens.families.sort.task import SortTask

    task = SortTask(n_items=5, n_values=10)
    hyp = sort_hypothesis(task)
    batch = task.sample(2000, torch.Generator().manual_seed(0))
    qs, want = hyp.questions(batch), [tuple(r) for r in batch.targets.tolist()]
    assert all(hyp.run(q) == w for q, w in zip(qs, want, strict=True))
    q = (3, 1, 4, 1, 5)
    assert hyp.run(q) == (1, 1, 3, 4, 5) and hyp.run(q, {"S2": 4}) == (1, 1, 4, 4, 5)

    def strictly_up(q, v, i):
        above = [x for x in q if x > v[f"S{i - 1}"]]
        return min(above) if above else max(q)

    wrong = dataclasses.replace(
        hyp,
        variables=(
            hyp.variables[0],
            *(
                dataclasses.replace(v, fn=lambda q, vals, i=v.column: strictly_up(q, vals, i))
                for v in hyp.variables[1:]
            ),
        ),
    )
    repeats = batch.labels["class"].bool().tolist()
    misses = [wrong.run(q) != w for q, w in zip(qs, want, strict=True)]
    assert any(misses) and all(r for r, m in zip(repeats, misses, strict=True) if m)
