"""``algolens verify --submission``: adders in the AdderBoard format, checked by the same engine.

The planted submissions live in tests/data/submissions. Every expected count is computed here in
plain Python from the questions' operands, never by the code under test.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from algolens.cli import main
from algolens.errors import AlgolensError
from algolens.families.arithmetic.submission import (
    ADDERBOARD_EDGE_CASES,
    adderboard_pairs,
    load_submission,
    verify_submission,
)
from algolens.families.arithmetic.suites import suite_questions
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.verify import random_batches

SUBMISSIONS = Path(__file__).resolve().parents[1] / "data" / "submissions"
K = 2  # cascade.py is wrong on cascades of this length or more


def cascade_length(a: int, b: int) -> int:
    """The longest run of sum-9 columns that a carry passes through, from the digit strings."""
    x, y = str(a)[::-1], str(b)[::-1]
    width = max(len(x), len(y))
    x, y = x.ljust(width, "0"), y.ljust(width, "0")
    carry, run, best = False, 0, 0
    for dx, dy in zip(x, y, strict=True):
        total = int(dx) + int(dy)
        run = run + 1 if total == 9 and carry else 0
        best = max(best, run)
        carry = total + int(carry) > 9
    return best


def question_sets(n: int, questions: int) -> dict[str, list[tuple[int, int]]]:
    """The operands of every question set verify_submission asks, drawn as the engine draws."""
    task = ArithmeticTask("add", n)
    uniform = []
    for batch in random_batches(
        task, questions=questions, distribution="uniform", seed=0, batch_size=256
    ):
        for row in batch.inputs.tolist():
            uniform.append(
                (int("".join(map(str, row[:n]))), int("".join(map(str, row[n + 1 : 2 * n + 1]))))
            )
    suite = [tuple(int(x) for x in q.split("+")) for q in suite_questions(task, "all")]
    return {"uniform": uniform, "suite all": suite, "adderboard": adderboard_pairs()}


def failures(path: Path, n: int = 10, questions: int = 1000) -> dict[str, int]:
    check = verify_submission(load_submission(path), n, questions)
    return {name: r.failures for name, r in check.results.items()}


def test_adderboard_pairs_are_the_edge_cases_then_seeded_10_digit_pairs() -> None:
    pairs = adderboard_pairs()
    assert len(pairs) == 10_010 and tuple(pairs[:10]) == ADDERBOARD_EDGE_CASES
    rng = random.Random(2025)
    assert pairs[10] == (rng.randint(0, 10**10 - 1), rng.randint(0, 10**10 - 1))
    assert all(0 <= x < 10**10 for pair in pairs for x in pair)
    assert adderboard_pairs(seed=2026)[10:] != pairs[10:]  # control: the seed matters


def test_cascade_submission_fails_exactly_the_oracles_cascades() -> None:
    sets = question_sets(10, 1000)
    expected = {
        name: sum(cascade_length(a, b) >= K for a, b in pairs) for name, pairs in sets.items()
    }
    assert all(count > 0 for count in expected.values()), expected  # the check can fail
    assert failures(SUBMISSIONS / "cascade.py") == expected
    # negative control: the right adder's counts are not the oracle's count of cascades
    right = failures(SUBMISSIONS / "right.py")
    assert right == dict.fromkeys(expected, 0) and right != expected


def test_a_raising_add_is_a_counted_failure() -> None:
    sets = question_sets(5, 500)
    expected = sum(a % 7 == 3 for a, _ in sets["uniform"])
    check = verify_submission(load_submission(SUBMISSIONS / "raises.py"), 5, 500, suite=None)
    result = check.results["uniform"]
    assert result.failures == expected > 0
    assert check.outcomes.raised == expected and "ValueError" in (check.outcomes.first_error or "")
    assert result.examples[0]["model_answer"] == "raised ValueError"
    # control: the right adder on the same questions fails none
    assert (
        verify_submission(load_submission(SUBMISSIONS / "right.py"), 5, 500, suite=None)
        .results["uniform"]
        .failures
        == 0
    )


def test_wrong_types_and_hangs_are_one_line_errors() -> None:
    with pytest.raises(
        AlgolensError, match=r"add\(model, \d+, \d+\) returned str '\d+', not an int"
    ):
        verify_submission(load_submission(SUBMISSIONS / "returns_str.py"), 5, 10, suite=None)
    with pytest.raises(AlgolensError, match=r"did not return within 0.2 s"):
        verify_submission(load_submission(SUBMISSIONS / "hangs.py"), 5, 10, suite=None, timeout=0.2)
    with pytest.raises(AlgolensError, match="no function build_model"):
        load_submission(Path(__file__))  # a Python file, not a submission
    # control: a right adder under the same short timeout passes
    check = verify_submission(
        load_submission(SUBMISSIONS / "right.py"), 5, 10, suite=None, timeout=0.2
    )
    assert check.results["uniform"].failures == 0


def test_the_command_line_reports_counts_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", "--submission", str(SUBMISSIONS / "cascade.py"), "-n", "300", "--digits", "6"]
    assert main([*argv, "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    sets = question_sets(6, 300)
    for name in ("uniform", "suite all"):
        assert report[name]["failures"] == sum(cascade_length(a, b) >= K for a, b in sets[name])
    assert "adderboard" not in report  # 6 digits: the AdderBoard's questions do not fit
    bad = ["verify", "--submission", str(SUBMISSIONS / "returns_str.py"), "--digits", "5"]
    code = main([*bad, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    # a submission given without --submission: the error says what to add
    assert main(["verify", str(SUBMISSIONS / "right.py")]) == 2
    assert "add --submission" in capsys.readouterr().err
