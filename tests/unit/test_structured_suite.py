"""The structured suite holds the rare families an audit found zoo models wrong on (sums of
exactly 10^k and 10^k - 1, carry and borrow runs padded with zeros, operands one digit apart),
and a model wrong on exactly one of them fails exactly those questions there, while the complete
carry suite (one fixed chain per question) does not see it."""

from __future__ import annotations

from pathlib import Path

from algolens.families.arithmetic.structured import structured_questions
from algolens.families.arithmetic.submission import Submission, SubmissionModel
from algolens.families.arithmetic.suites import verify_suite
from algolens.families.arithmetic.task import ArithmeticTask


def _pairs(texts: list[str], op: str) -> list[tuple[int, int]]:
    return [(int(t.split(op)[0]), int(t.split(op)[1])) for t in texts]


def test_power_families_are_whole_where_small_and_runs_reach_every_offset() -> None:
    n = 3
    add = _pairs(structured_questions("add", n), "+")
    for k in range(1, n + 1):
        for target in (10**k, 10**k - 1):
            want = {(a, target - a) for a in range(target + 1) if a < 10**n and target - a < 10**n}
            assert want <= set(add), (k, target)
    sub = _pairs(structured_questions("sub", n), "-")
    assert {(b + 100, b) for b in range(900)} <= set(sub)  # a - b = 10^2, and swapped:
    assert {(b, b + 100) for b in range(900)} <= set(sub)
    texts = set(structured_questions("mix", 6))
    assert {"050000+050000", "350000+650000"} <= texts  # the audit's wrong answers
    one_apart = [(a, b) for a, b in _pairs(structured_questions("sub", 6), "-") if a != b]
    places = {len(str(abs(a - b))) for a, b in one_apart if _digits_apart(a, b) == 1}
    assert places == set(range(1, 7))  # one digit apart at each of the six positions


def _digits_apart(a: int, b: int) -> int:
    return sum(x != y for x, y in zip(f"{a:06d}", f"{b:06d}", strict=True))


def test_a_model_wrong_on_exact_powers_fails_them_here_and_not_in_the_carry_suite() -> None:
    """The planted adder answers a + b + 1 whenever a + b is exactly 10^k (k >= 2)."""
    task = ArithmeticTask("add", 4)

    def add(model: object, a: int, b: int) -> int:
        s = a + b
        return s + 1 if s in (100, 1000, 10000) else s

    model = SubmissionModel(Submission(Path("planted.py"), None, {}, add, None), task)
    texts = structured_questions("add", 4)
    expected = sum(a + b in (100, 1000, 10000) for a, b in _pairs(texts, "+"))
    assert expected > 10_000
    assert verify_suite(model, task, "structured").failures == expected
    assert verify_suite(model, task, "carry").failures < expected / 1000  # nearly blind to it
    right = SubmissionModel(
        Submission(Path("right.py"), None, {}, lambda m, a, b: a + b, None), task
    )
    assert verify_suite(right, task, "structured").failures == 0  # the control
