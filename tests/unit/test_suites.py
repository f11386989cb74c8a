"""The papers' question lists, question for question, and the complete suites' coverage."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from algolens.errors import AlgolensError
from algolens.families import make_task
from algolens.families.arithmetic.suites import PAPER_LISTS, suite_batch, suite_questions
from algolens.families.arithmetic.task import oracle

# The seed notebook's calls, copied verbatim ("Part 8"); simulated below the way the notebook
# runs them: rows start as zeros and each call writes its row index.
SEED_CALLS = {
    "ba": (
        17,
        """
    make_a_question( questions, 0, 12345, 33333)
    make_a_question( questions, 1, 33333, 12345)
    make_a_question( questions, 2, 45762, 33113)
    make_a_question( questions, 3, 888, 11111)
    make_a_question( questions, 4, 2362, 23123)
    make_a_question( questions, 5, 15, 81)
    make_a_question( questions, 6, 1000, 4440)
    make_a_question( questions, 7, 4440, 1000)
    make_a_question( questions, 8, 24033, 25133)
    make_a_question( questions, 9, 23533, 21133)
    make_a_question( questions, 10, 32500, 1)
    make_a_question( questions, 11, 31500, 1111)
    make_a_question( questions, 12, 5500, 12323)
    make_a_question( questions, 13, 4500, 2209)
    make_a_question( questions, 14, 10990, 44000)
    make_a_question( questions, 15, 60000, 30000)
    make_a_question( questions, 16, 10000, 20000)""",
    ),
    "uc1": (
        19,
        """
    make_a_question( questions, 0, 15, 45)
    make_a_question( questions, 1, 25, 55)
    make_a_question( questions, 2, 35, 59)
    make_a_question( questions, 3, 40035, 40049)
    make_a_question( questions, 4, 5025, 5059)
    make_a_question( questions, 5, 15, 65)
    make_a_question( questions, 6, 44000, 46000)
    make_a_question( questions, 7, 70000, 40000)
    make_a_question( questions, 8, 15000, 25000)
    make_a_question( questions, 9, 35000, 35000)
    make_a_question( questions, 10, 45000, 85000)
    make_a_question( questions, 11, 67000, 85000)
    make_a_question( questions, 12, 99000, 76000)
    make_a_question( questions, 13, 1500, 4500)
    make_a_question( questions, 14, 2500, 5500)
    make_a_question( questions, 15, 3500, 5900)
    make_a_question( questions, 16, 15020, 45091)
    make_a_question( questions, 17, 25002, 55019)
    make_a_question( questions, 18, 35002, 59019)""",
    ),
    "simple_us9": (
        18,
        """
    make_a_question( questions, 0, 55, 45)
    make_a_question( questions, 1, 45, 55)
    make_a_question( questions, 2, 45, 59)
    make_a_question( questions, 3, 35, 69)
    make_a_question( questions, 4, 25, 79)
    make_a_question( questions, 5, 15, 85)
    make_a_question( questions, 6, 15, 88)
    make_a_question( questions, 7, 15508, 14500)
    make_a_question( questions, 8, 14508, 15500)
    make_a_question( questions, 9, 24533, 25933)
    make_a_question( questions, 10, 23533, 26933)
    make_a_question( questions, 11, 32500, 7900)
    make_a_question( questions, 12, 31500, 8500)
    make_a_question( questions, 13, 550, 450)
    make_a_question( questions, 14, 450, 550)
    make_a_question( questions, 15, 10880, 41127)
    make_a_question( questions, 16, 41127, 10880)
    make_a_question( questions, 17, 12386, 82623)""",
    ),
    "cascade_us9": (
        29,
        """
    make_a_question( questions, 0, 555, 445)
    make_a_question( questions, 1, 3340, 6660)
    make_a_question( questions, 2, 8880, 1120)
    make_a_question( questions, 3, 1120, 8880)
    make_a_question( questions, 4, 123, 877)
    make_a_question( questions, 5, 877, 123)
    make_a_question( questions, 6, 321, 679)
    make_a_question( questions, 7, 679, 321)
    make_a_question( questions, 8, 1283, 88786)
    make_a_question( questions, 9, 5555, 4445)
    make_a_question( questions, 10, 55550, 44450)
    make_a_question( questions, 11, 334, 666)
    make_a_question( questions, 12, 3340, 6660)
    make_a_question( questions, 13, 33400, 66600)
    make_a_question( questions, 14, 888, 112)
    make_a_question( questions, 15, 8880, 1120)
    make_a_question( questions, 16, 88800, 11200)
    make_a_question( questions, 17, 1234, 8766)
    make_a_question( questions, 18, 4321, 5679)
    make_a_question( questions, 19, 44445, 55555)
    make_a_question( questions, 20, 33334, 66666)
    make_a_question( questions, 21, 88888, 11112)
    make_a_question( questions, 22, 12345, 87655)
    make_a_question( questions, 23, 54321, 45679)
    make_a_question( questions, 24, 45545, 54455)
    make_a_question( questions, 25, 36634, 63366)
    make_a_question( questions, 26, 81818, 18182)
    make_a_question( questions, 27, 87345, 12655)
    make_a_question( questions, 28, 55379, 44621)""",
    ),
    "step": (
        26,
        """
      make_a_question( questions, 0, 1, 0)
      make_a_question( questions, 1, 4, 3)
      make_a_question( questions, 2, 5, 5)
      make_a_question( questions, 3, 8, 1)
      make_a_question( questions, 4, 40, 30)
      make_a_question( questions, 5, 44, 46)
      make_a_question( questions, 6, 400, 300)
      make_a_question( questions, 7, 440, 460)
      make_a_question( questions, 8, 800, 100)
      make_a_question( questions, 9, 270, 470)
      make_a_question( questions, 10, 600, 300)
      make_a_question( questions, 11, 4000, 3000)
      make_a_question( questions, 12, 4400, 4600)
      make_a_question( questions, 13, 6000, 3000)
      make_a_question( questions, 14, 7000, 4000)
      make_a_question( questions, 15, 40000, 30000)
      make_a_question( questions, 16, 44000, 46000)
      make_a_question( questions, 17, 60000, 30000)
      make_a_question( questions, 17, 70000, 40000)
      make_a_question( questions, 19, 10000, 20000)
      make_a_question( questions, 20, 15000, 25000)
      make_a_question( questions, 21, 35000, 35000)
      make_a_question( questions, 22, 45000, 85000)
      make_a_question( questions, 23, 67000, 85000)
      make_a_question( questions, 24, 99000, 76000)
      make_a_question( questions, 25, 76000, 99000)""",
    ),
}
CALL = re.compile(r"make_a_question\( questions, (\d+), (\d+), (\d+)\)")
SEED_FILE = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "002_b0ccdbfef6b4c8ec.txt"


def simulate(rows: int, calls: str) -> list[str]:
    """Run the notebook's calls: a zero row is the all-zero question 00000+00000."""
    table = [(0, 0)] * rows
    for i, a, b in CALL.findall(calls):
        table[int(i)] = (int(a), int(b))
    return [f"{a:05d}+{b:05d}" for a, b in table]


@pytest.mark.parametrize("name", list(SEED_CALLS))
def test_seed_suites_are_the_notebooks_lists(name: str) -> None:
    task = make_task("add", n_digits=5)
    assert suite_questions(task, name) == simulate(*SEED_CALLS[name])


def test_seed_quirks() -> None:
    task = make_task("add", n_digits=5)
    step = suite_questions(task, "step")
    assert len(step) == 26 and "60000+30000" not in step and step[18] == "00000+00000"
    cascade = suite_questions(task, "cascade_us9")
    assert cascade.count("03340+06660") == 2 and cascade.count("08880+01120") == 2
    assert len(suite_questions(make_task("add", n_digits=10), "uc1")) == 24
    assert len(suite_questions(make_task("add", n_digits=9), "uc1")) == 19
    assert len(suite_questions(task, "papers")) == 17 + 19 + 18 + 29 + 26


@pytest.mark.skipif(not SEED_FILE.exists(), reason="seed notebook not available")
def test_suites_match_the_seed_file_itself() -> None:
    text = SEED_FILE.read_text()
    task = make_task("add", n_digits=5)
    for name, (rows, _) in SEED_CALLS.items():
        body = text.split(f"def make_{name}_questions(")[1].split("return questions")[0]
        body = body.split("if n_digits >= 10 :")[0]  # uc1's extra rows are for 10+ digits
        assert suite_questions(task, name) == simulate(rows, body)


def test_paper_lists_refuse_what_the_papers_do_not_define() -> None:
    with pytest.raises(AlgolensError, match="5 or more"):
        suite_questions(make_task("add", n_digits=4), "ba")
    with pytest.raises(AlgolensError, match="addition"):
        suite_questions(make_task("sub", n_digits=5), "ba")
    with pytest.raises(AlgolensError, match="unknown suite"):
        suite_questions(make_task("add", n_digits=5), "nope")
    for name in PAPER_LISTS:  # mix models get them as addition questions
        assert suite_questions(make_task("mix", n_digits=6), name)


def _answers_match_oracle(task, batch) -> None:
    n = task.n_digits
    for row in batch.inputs.tolist():
        text = task.decode(row)
        a, op, b = task.parse(text[: 2 * n + 1])
        assert text[2 * n + 2 :] == oracle(a, b, op, n)


@pytest.mark.parametrize("n", [3, 5, 6])
def test_add_cascade_suite_covers_every_chain(n: int) -> None:
    """For each answer digit c and length k: a carry made at column c-k-1 passes k sum-9 columns
    and lands in column c (the final carry A_n when c = n); and every sum-9 run with no carry."""
    task = make_task("add", n_digits=n)
    batch = suite_batch(task, "complete")
    _answers_match_oracle(task, batch)
    lab = batch.labels
    top_carry = batch.targets[:, 0] == 1  # A_n
    for c in range(1, n + 1):
        for k in range(c):
            arrives = lab["UC1"][:, c] if c < n else top_carry
            chain = lab["US9"][:, c - k : c].all(-1) & lab["MC1"][:, c - k - 1]
            made_here = ~lab["UC1"][:, c - k - 1]
            hit = arrives & chain & made_here & (lab["depth"] == k)
            assert bool(hit.any()), (c, k)
    for s in range(n):
        for k in range(1, n - s + 1):
            run = lab["MS9"][:, s : s + k].all(-1) & ~lab["UC1"].any(-1)
            assert bool(run.any()), (s, k)
    assert set(lab["depth"].tolist()) == set(range(n))


@pytest.mark.parametrize("n", [5, 10])
def test_add_cascade_suite_asks_every_chain_in_short_operands(n: int) -> None:
    """Every carry chain (made at column s, through k sum-9 columns) also appears with every
    other column 0+0: the papers' lists are short questions padded with zeros, and a 10-digit
    model that passed a suite whose quiet columns were random digits failed 15 of them."""
    pairs = []
    for text in suite_questions(make_task("add", n_digits=n), "carry"):
        a, b = text.split("+")
        pairs.append([(int(x), int(y)) for x, y in zip(a[::-1], b[::-1], strict=True)])
    for s in range(n):
        for k in range(n - s):
            assert any(_short_chain(cols, s, k) for cols in pairs), (s, k)


def _short_chain(cols: list[tuple[int, int]], s: int, k: int) -> bool:
    """A carry made at column s through k sum-9 columns, every other column 0+0."""
    return (
        sum(cols[s]) >= 10
        and all(sum(cols[c]) == 9 for c in range(s + 1, s + 1 + k))
        and all(cols[c] == (0, 0) for c in range(len(cols)) if not s <= c <= s + k)
    )


@pytest.mark.parametrize("n", [3, 5])
def test_sub_cascade_suite_covers_borrow_chains_signs_and_equal_operands(n: int) -> None:
    task = make_task("sub", n_digits=n)
    batch = suite_batch(task, "complete")
    _answers_match_oracle(task, batch)
    lab = batch.labels
    for c in range(1, n):  # a borrow out of the top column would make the answer negative
        for k in range(c):
            for neg in (False, True):
                chain = lab["UZ"][:, c - k : c].all(-1) & lab["MB"][:, c - k - 1]
                hit = lab["UB"][:, c] & chain & (lab["depth"] == k) & (lab["NEG"] == neg)
                assert bool(hit.any()), (c, k, neg)
    equal = (batch.inputs[:, :n] == batch.inputs[:, n + 1 : 2 * n + 1]).all(-1)
    assert int(equal.sum()) >= 3
    assert bool((batch.targets[equal] == torch.tensor(task.encode(0, "-", 0)[-n - 1 :])).all())


def test_mix_cascade_suite_is_both() -> None:
    mix = suite_questions(make_task("mix", n_digits=4), "cascade")
    add = suite_questions(make_task("add", n_digits=4), "cascade")
    sub = suite_questions(make_task("sub", n_digits=4), "cascade")
    assert mix == add + sub


def _value(digits: list[int]) -> int:
    return int("".join(map(str, digits)))


@pytest.mark.parametrize("n", [3, 6, 10])
def test_borrow_suite_has_every_hard_subtraction_case(n: int) -> None:
    """Equal operands; a - (a + 1) across t trailing nines for every t, with both signs; a run
    of zeros in the top operand at every place and length with a borrow passing through it;
    the extremes; every answer from the oracle."""
    task = make_task("sub", n_digits=n)
    batch = suite_batch(task, "borrow")
    _answers_match_oracle(task, batch)
    pairs = [(_value(r[:n]), _value(r[n + 1 : 2 * n + 1])) for r in batch.inputs.tolist()]
    assert sum(a == b for a, b in pairs) >= 5
    for t in range(n):  # ...d999 - ...(d+1)000 and the other way round
        nines = [(a, b) for a, b in pairs if b == a + 1 and a % 10**t == 10**t - 1]
        assert any(a % 10 ** (t + 1) != 10 ** (t + 1) - 1 for a, _ in nines), t
        assert all((b, a) in pairs for a, b in nines)
    lab = batch.labels
    top = batch.inputs[:, :n].flip(-1)  # top operand digits, units first
    for s in range(n):
        for k in range(1, n - s):  # a borrow out of the top column would make it negative
            zeros = (top[:, s : s + k] == 0).all(-1)
            made = lab["UB"][:, s] | lab["MB"][:, s]  # arrives at the run, or is made there
            through = made & lab["UB"][:, s + 1 : s + k].all(-1)  # and passes every zero
            assert bool((zeros & through).any()), (s, k)
    top_value = 10**n - 1
    for pair in [(0, top_value), (1, 10 ** (n - 1)), (top_value, top_value - 1)]:
        assert pair in pairs and pair[::-1] in pairs


def test_complete_suites_by_operator() -> None:
    add, sub, mix = (make_task(op, n_digits=4) for op in ("add", "sub", "mix"))
    assert suite_questions(mix, "complete") == (
        suite_questions(add, "carry") + suite_questions(sub, "borrow")
    )
    assert suite_questions(mix, "cascade") == suite_questions(mix, "complete")  # older name
    with pytest.raises(AlgolensError, match="for sub models"):
        suite_questions(add, "borrow")
    with pytest.raises(AlgolensError, match="for add models"):
        suite_questions(sub, "carry")
