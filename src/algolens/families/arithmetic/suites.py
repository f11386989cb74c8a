"""Named question suites: the papers' hand-picked lists and the complete carry and borrow suites.

The lists of Quirke & Barez 2024 (their Accurate Addition notebook, "Part 8") are reproduced
exactly, quirks included: they exist only for 5 or more digits; ``uc1`` gains five questions at
10+ digits; ``cascade_us9`` lists 3340+6660 and 8880+1120 twice; ``step`` writes its row 17
twice (so 60000+30000 is lost to 70000+40000) and never writes row 18, which stays an all-zero
row; that row's expected answer is 000000, so it is kept here as 0+0.

The complete ``carry`` suite covers every carry chain: a carry made in column s that passes k
sum-9 columns and lands in column s+k+1 (for every answer digit and every length), every run of
sum-9 columns with no carry arriving, and the full-length cascade into the top answer digit; then
every chain once more in short operands (every other column 0+0).
The complete ``borrow`` suite is its twin for subtraction (see :func:`borrow_questions`).
Columns outside a chain stay quiet (pair sum <= 8 for addition, top digit > bottom digit for
subtraction), so each question's ``depth`` label is its chain.
"""

from __future__ import annotations

import random

import torch
from torch import nn

from algolens.errors import AlgolensError
from algolens.families.arithmetic.structured import structured_questions
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.options import Precision, did_you_mean
from algolens.tasks.base import Batch
from algolens.verify import VerifyResult, verify_batches

Pair = tuple[int, int]

_BA = [(12345, 33333), (33333, 12345), (45762, 33113), (888, 11111), (2362, 23123), (15, 81),
       (1000, 4440), (4440, 1000), (24033, 25133), (23533, 21133), (32500, 1), (31500, 1111),
       (5500, 12323), (4500, 2209), (10990, 44000), (60000, 30000), (10000, 20000)]  # fmt: skip
_UC1 = [(15, 45), (25, 55), (35, 59), (40035, 40049), (5025, 5059), (15, 65), (44000, 46000),
        (70000, 40000), (15000, 25000), (35000, 35000), (45000, 85000), (67000, 85000),
        (99000, 76000), (1500, 4500), (2500, 5500), (3500, 5900), (15020, 45091),
        (25002, 55019), (35002, 59019)]  # fmt: skip
_UC1_10 = [(25000000, 55000000), (35000000, 59000000), (150200000, 450910000),
           (250020000, 550190000), (350020000, 590190000)]  # fmt: skip
_SIMPLE_US9 = [(55, 45), (45, 55), (45, 59), (35, 69), (25, 79), (15, 85), (15, 88),
               (15508, 14500), (14508, 15500), (24533, 25933), (23533, 26933), (32500, 7900),
               (31500, 8500), (550, 450), (450, 550), (10880, 41127), (41127, 10880),
               (12386, 82623)]  # fmt: skip
_CASCADE_US9 = [(555, 445), (3340, 6660), (8880, 1120), (1120, 8880), (123, 877), (877, 123),
                (321, 679), (679, 321), (1283, 88786),  # "two level"
                (5555, 4445), (55550, 44450), (334, 666), (3340, 6660), (33400, 66600),
                (888, 112), (8880, 1120), (88800, 11200), (1234, 8766), (4321, 5679),
                (44445, 55555), (33334, 66666), (88888, 11112), (12345, 87655), (54321, 45679),
                (45545, 54455), (36634, 63366), (81818, 18182), (87345, 12655),
                (55379, 44621)]  # fmt: skip
_STEP_ROWS = [(1, 0), (4, 3), (5, 5), (8, 1), (40, 30), (44, 46), (400, 300), (440, 460),
              (800, 100), (270, 470), (600, 300), (4000, 3000), (4400, 4600), (6000, 3000),
              (7000, 4000), (40000, 30000), (44000, 46000), (60000, 30000), (70000, 40000),
              (10000, 20000), (15000, 25000), (35000, 35000), (45000, 85000), (67000, 85000),
              (99000, 76000), (76000, 99000)]  # fmt: skip


def _step_questions() -> list[Pair]:
    """The notebook's 26 rows: index 17 is written twice, index 18 never (an all-zero row)."""
    rows: list[Pair] = [(0, 0)] * 26
    indices = [*range(18), 17, *range(19, 26)]  # make_a_question(questions, 17, ...) twice
    for index, pair in zip(indices, _STEP_ROWS, strict=True):
        rows[index] = pair
    return rows


def paper_list(name: str, n_digits: int) -> list[Pair]:
    """One of the papers' lists as (a, b) addition pairs, for an ``n_digits`` model."""
    if n_digits < 5:
        raise AlgolensError(f"the papers' list {name!r} needs 5 or more digits, not {n_digits}")
    if name == "ba":
        return list(_BA)
    if name == "uc1":
        return _UC1 + (_UC1_10 if n_digits >= 10 else [])
    if name == "simple_us9":
        return list(_SIMPLE_US9)
    if name == "cascade_us9":
        return list(_CASCADE_US9)
    if name == "step":
        return _step_questions()
    if name == "papers":  # all_manual_questions(): the five lists stacked
        return [p for part in PAPER_LISTS[:-1] for p in paper_list(part, n_digits)]
    raise AlgolensError(f"unknown suite {name!r}{did_you_mean(name, SUITE_NAMES)}: choose from "
                        f"{', '.join(SUITE_NAMES)}")  # fmt: skip


PAPER_LISTS = ("ba", "uc1", "simple_us9", "cascade_us9", "step", "papers")
SUITE_NAMES = (*PAPER_LISTS, "carry", "borrow", "complete", "cascade", "all", "structured")


# ---- the generated cascade suite ---------------------------------------------------------------
def _pair_add(kind: str, rng: random.Random) -> Pair:
    """A digit pair (top, bottom) whose sum is quiet (<= 8), nine, or makes a carry (>= 10)."""
    while True:
        a, b = rng.randrange(10), rng.randrange(10)
        s = a + b
        if (
            (kind == "quiet" and s <= 8)
            or (kind == "nine" and s == 9)
            or (kind == "carry" and s >= 10)
        ):
            return a, b


def _pair_sub(kind: str, rng: random.Random) -> Pair:
    """(top, bottom) digits: quiet (top > bottom), equal, or borrow (top < bottom)."""
    while True:
        a, b = rng.randrange(10), rng.randrange(10)
        if (
            (kind == "quiet" and a > b)
            or (kind == "equal" and a == b)
            or (kind == "borrow" and a < b)
        ):
            return a, b


def _number(columns: list[Pair], which: int) -> int:
    """Columns are units first; ``which`` 0 = top operand, 1 = bottom."""
    return sum(pair[which] * 10**c for c, pair in enumerate(columns))


def _patterns(n: int, make: str, run: str, end: str) -> list[list[str]]:
    """Column kinds (units first): chains ``make, run * k, end`` at every start and length, and
    runs with nothing arriving (``run * k`` after a quiet column)."""
    out = []
    for s in range(n):
        for k in range(n - s):
            cols = ["quiet"] * n
            cols[s] = make
            cols[s + 1 : s + 1 + k] = [run] * k
            if s + 1 + k < n:
                cols[s + 1 + k] = end
            out.append(cols)
    for s in range(n):
        for k in range(1, n - s + 1):
            cols = ["quiet"] * n
            cols[s : s + k] = [run] * k
            out.append(cols)
    return out


def carry_questions(n: int, variants: int = 3, seed: int = 0) -> list[str]:
    """The complete addition suite: every carry chain and sum-9 run, and the full cascade."""
    rng = random.Random(seed)
    out = []
    for kinds in _patterns(n, "carry", "nine", "quiet"):
        for _ in range(variants):
            cols = [_pair_add(kind, rng) for kind in kinds]
            out.append(f"{_number(cols, 0):0{n}d}+{_number(cols, 1):0{n}d}")
    # the longest cascade: a carry from the units through every column into A_n
    out.append(f"{1:0{n}d}+{10**n - 1:0{n}d}")
    # every chain again in short operands, each quiet column 0+0: the papers' lists pad short
    # questions with zeros, which the uniform and training distributions almost never draw
    seen = set(out)
    for kinds in _patterns(n, "carry", "nine", "quiet"):
        cols = [(0, 0) if kind == "quiet" else _pair_add(kind, rng) for kind in kinds]
        text = f"{_number(cols, 0):0{n}d}+{_number(cols, 1):0{n}d}"
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def borrow_questions(n: int, variants: int = 3, seed: int = 0) -> list[str]:
    """The complete subtraction suite, each question also with its operands swapped.

    Every borrow chain (made in column s, through k equal columns, absorbed above), every run
    of equal columns with nothing arriving, equal operands, sign flips ``a - (a + 1)`` across
    t trailing nines and ``a - (a - 1)`` across t trailing zeros for every t, operands with a
    run of zeros at every place and length, and the extremes.
    """
    rng = random.Random(seed + 1)  # its own stream: mix is exactly add's then sub's
    pairs: list[Pair] = []
    # a borrow chain must be absorbed by a column with top > bottom, so it cannot reach A_n
    for kinds in _patterns(n, "borrow", "equal", "quiet"):
        if "borrow" in kinds and "quiet" not in kinds[kinds.index("borrow") :]:
            continue
        for _ in range(variants):
            cols = [_pair_sub(kind, rng) for kind in kinds]
            pairs.append((_number(cols, 0), _number(cols, 1)))
    pairs += _equal_pairs(n, variants, rng) + _flip_pairs(n, variants, rng)
    pairs += _zero_run_pairs(n, rng) + _extreme_pairs(n)
    out = []
    for a, b in pairs:
        out += [f"{a:0{n}d}-{b:0{n}d}", f"{b:0{n}d}-{a:0{n}d}"]  # the same chain, both signs
    return list(dict.fromkeys(out))


def _equal_pairs(n: int, variants: int, rng: random.Random) -> list[Pair]:
    """a - a: the answer is +0...0, which a model that guesses the sign late gets as -0...0."""
    top = 10**n - 1
    fixed = [0, top, 1, 10 ** (n - 1), int("5" * n)]
    return [(a, a) for a in fixed + [rng.randrange(10**n) for _ in range(variants * n)]]


def _flip_pairs(n: int, variants: int, rng: random.Random) -> list[Pair]:
    """Operands one apart across t trailing nines (a, a + 1) for every t: the sign and every
    digit turn on the last column."""
    out = []
    for t in range(n):
        for _ in range(variants):
            prefix = rng.randrange(10 ** (n - t) - 1)  # leaves room for the +1
            a = prefix * 10**t + (10**t - 1)  # ...d999 (t nines)
            out.append((a, a + 1))  # ...d999 vs ...(d+1)000
    return out


def _zero_run_pairs(n: int, rng: random.Random) -> list[Pair]:
    """A run of zeros in the top operand at every place and length, with a borrow made just
    below it (or in its first column), so that the borrow passes through the whole run."""
    out = []
    for s in range(n):
        for k in range(1, n - s + 1):
            digits = [rng.randrange(1, 9) for _ in range(n)]  # units first, 1..8
            digits[s : s + k] = [0] * k
            a = sum(d * 10**c for c, d in enumerate(digits))
            out.append((a, 9 * 10 ** (s - 1) if s else 1))  # borrow made in column s - 1
            out.append((a, 10**s))  # borrow made in the run's own first column
    return out


def _extreme_pairs(n: int) -> list[Pair]:
    top = 10**n - 1
    return [(0, 0), (0, top), (top, 1), (1, 10 ** (n - 1)), (10 ** (n - 1), 1), (top, top - 1),
            (0, 1), (10 ** (n - 1), 10 ** (n - 1) - 1), (top, 10 ** (n - 1))]  # fmt: skip


def cascade_questions(op: str, n_digits: int, variants: int = 3, seed: int = 0) -> list[str]:
    """The complete suites for an operator: ``carry`` (add), ``borrow`` (sub), both for mix.
    Deterministic for a seed."""
    out: list[str] = []
    if op in ("add", "mix"):
        out += carry_questions(n_digits, variants, seed)
    if op in ("sub", "mix"):
        out += borrow_questions(n_digits, variants, seed)
    return out


def suite_questions(task: ArithmeticTask, name: str) -> list[str]:
    """The question texts of suite ``name`` for this task."""
    if name not in SUITE_NAMES:
        raise AlgolensError(f"unknown suite {name!r}{did_you_mean(name, SUITE_NAMES)}: choose from "
                            f"{', '.join(SUITE_NAMES)}")  # fmt: skip
    n = task.n_digits
    if name == "structured":
        return structured_questions(task.op, n)
    if name in ("complete", "cascade"):  # "cascade": the name of earlier versions
        return cascade_questions(task.op, n)
    if name in ("carry", "borrow"):
        wanted = "add" if name == "carry" else "sub"
        if task.op not in (wanted, "mix"):
            raise AlgolensError(f"suite {name!r} is for {wanted} models; this one is {task.op}")
        return carry_questions(n) if name == "carry" else borrow_questions(n)
    if name == "all":
        lists = suite_questions(task, "papers") if task.op != "sub" and n >= 5 else []
        return lists + cascade_questions(task.op, n)
    if task.op == "sub":
        raise AlgolensError(f"the papers' list {name!r} is addition; use --suite borrow for sub")
    return [f"{a:0{n}d}+{b:0{n}d}" for a, b in paper_list(name, n)]


def suite_batch(task: ArithmeticTask, name: str) -> Batch:
    """Suite ``name`` as a batch with oracle answers and labels."""
    return task.batch_from_tokens(torch.as_tensor(task.encode_batch(suite_questions(task, name))))


def verify_suite(
    model: nn.Module,
    task: ArithmeticTask,
    name: str,
    examples: int = 10,
    precision: Precision = "auto",
) -> VerifyResult:
    """Exact-match verdict on suite ``name`` (the papers' lists or a complete suite), in batches
    of ``SUITE_BATCH`` questions (the structured suite holds hundreds of thousands)."""
    batch = suite_batch(task, name)
    starts = range(0, len(batch), SUITE_BATCH)
    chunks = [batch.rows(i, min(i + SUITE_BATCH, len(batch))) for i in starts]
    return verify_batches(
        model, task, chunks, source=f"suite {name}", examples=examples, precision=precision
    )


SUITE_BATCH = 4096
