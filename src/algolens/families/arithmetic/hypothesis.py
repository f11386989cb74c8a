"""The arithmetic algorithm as a hypothesis: per column, the variables the papers name.

Addition (Quirke & Barez 2024; Quirke, Neo & Barez 2024), for column c (units first):
``SA{c}`` the base sum (D_c + D'_c) mod 10, ``SC{c}`` the carry it makes (D_c + D'_c >= 10),
``SS{c}`` "sums to 9", and ``CI{c}`` the carry into column c, which cascades:
CI_{c+1} = SC_c or (SS_c and CI_c). The answer is A_c = (SA_c + CI_c) mod 10 and A_n = CI_n.

Subtraction (Quirke, Neo & Barez 2024) works on the larger minus the smaller operand:
``NEG`` the comparison (D < D' as numbers, the operands swap), ``SIGN`` the sign token read from
it, and per column ``MD{c}`` the digit difference (top - bottom) mod 10, ``MB{c}`` the borrow it
makes (top < bottom), ``MZ{c}`` equal digits, ``BI{c}`` the borrow into the column through the
cascade BI_{c+1} = MB_c or (MZ_c and BI_c). A_c = (MD_c - BI_c) mod 10.

Worked example (n = 5): ``33357+82243`` has SA0 = 0, SC0 = 1, CI1 = 1, A1 = (5 + 1) mod 10 = 6.
A question is ``(x, y, is_sub)``, each operand's digits units first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from algolens.analysis.causal import Declared
from algolens.analysis.hypothesis import Hypothesis, Thresholds, Variable
from algolens.errors import AlgolensError
from algolens.families.arithmetic.claims import PAPER_1, PAPER_2
from algolens.families.arithmetic.task import MINUS, PLUS, ArithmeticTask
from algolens.tasks.base import Batch

Q = tuple[tuple[int, ...], tuple[int, ...], bool]


def questions(batch: Batch, n_digits: int) -> list[Q]:
    """A batch's questions as plain ints: ``(x, y, is_sub)``, digits units first."""
    n = n_digits
    rows = batch.inputs[:, : 2 * n + 1].tolist()
    return [(tuple(r[n - 1 :: -1]), tuple(r[2 * n : n : -1]), r[n] == MINUS) for r in rows]


def digit_positions(n_digits: int, column: int) -> tuple[int, int]:
    """The token positions of D_column and D'_column (``33357+82243``: column 0 at P4, P10)."""
    return n_digits - 1 - column, 2 * n_digits - column


# ---- the cascade both share -----------------------------------------------------------------
def _cascade(c: int, make: str, passes: str, into: str):
    """The carry (borrow) into column c + 1: column c makes one (``make``), or passes on the
    one it got (``passes``: sums to 9 / equal digits)."""
    if c == 0:
        return lambda q, v: v[f"{make}0"]
    return lambda q, v: int(v[f"{make}{c}"] or (v[f"{passes}{c}"] and v[f"{into}{c}"]))


def _cascade_variable(
    n: int, c: int, names: tuple[str, str, str], text: str, reads: tuple[int, ...]
):
    """``into{c + 1}`` (``names``: make, passes, into), read from ``reads`` and the digits of
    the columns below c."""
    make, passes, into = names
    parents = (f"{make}0",) if c == 0 else (f"{make}{c}", f"{passes}{c}", f"{into}{c}")
    below = tuple(p for k in range(c) for p in digit_positions(n, k))
    return Variable(f"{into}{c + 1}", _cascade(c, *names), parents, text, c + 1, reads + below)


def _hypothesis(op: str, n: int, variables: list[Variable], source: str) -> Hypothesis:
    """``op``'s hypothesis at ``n`` digits: its variables, the answer from each column's digit
    and cascade (plus the carry in; minus the borrow in, the sign first), the questions of a
    batch."""
    sub = op == "sub"
    digit, into = ("MD", "BI") if sub else ("SA", "CI")

    def answer(q: Q, v: Mapping[str, int]) -> tuple[int, ...]:
        step = -1 if sub else 1
        digits = [(v[f"{digit}{c}"] + step * (v[f"{into}{c}"] if c else 0)) % 10 for c in range(n)]
        lead = (MINUS if v["SIGN"] else PLUS) if sub else v[f"{into}{n}"]
        return (lead, *digits[::-1])

    return Hypothesis(
        name=f"{op}_d{n}",
        variables=tuple(variables),
        answer=answer,
        questions=lambda b: questions(b, n),
        source=source,
        thresholds=Thresholds(),
    )


# ---- addition -----------------------------------------------------------------------------
def _sa(c: int):
    return lambda q, v: (q[0][c] + q[1][c]) % 10


def _sc(c: int):
    return lambda q, v: int(q[0][c] + q[1][c] >= 10)


def _ss(c: int):
    return lambda q, v: int(q[0][c] + q[1][c] == 9)


def addition_hypothesis(n_digits: int) -> Hypothesis:
    """The carry-cascade algorithm for ``n_digits``-digit addition."""
    n, out = n_digits, []
    for c in range(n):
        reads = digit_positions(n, c)
        out += [
            Variable(f"SA{c}", _sa(c), (), "base sum (D + D') mod 10", c, reads),
            Variable(f"SC{c}", _sc(c), (), "makes a carry: D + D' >= 10", c, reads),
            Variable(f"SS{c}", _ss(c), (), "sums to 9: D + D' == 9", c, reads),
            _cascade_variable(n, c, ("SC", "SS", "CI"), "carry in (cascade)", reads),
        ]
    return _hypothesis("add", n, out, f"{PAPER_1}; {PAPER_2}")


# ---- subtraction --------------------------------------------------------------------------
def _neg(q: Q, v: Mapping[str, int]) -> int:
    """D < D' as numbers: the first differing digit from the top decides."""
    for a, b in zip(q[0][::-1], q[1][::-1], strict=True):
        if a != b:
            return int(a < b)
    return 0


def _top_bottom(q: Q, c: int, neg: int) -> tuple[int, int]:
    return (q[1][c], q[0][c]) if neg else (q[0][c], q[1][c])


def _md(c: int):
    def md(q: Q, v: Mapping[str, int]) -> int:
        top, bot = _top_bottom(q, c, v["NEG"])
        return (top - bot) % 10

    return md


def _mb(c: int):
    def mb(q: Q, v: Mapping[str, int]) -> int:
        top, bot = _top_bottom(q, c, v["NEG"])
        return int(top < bot)

    return mb


def _mz(c: int):
    return lambda q, v: int(q[0][c] == q[1][c])


def subtraction_hypothesis(n_digits: int) -> Hypothesis:
    """Larger minus smaller with a borrow cascade, the sign from the comparison D > D'."""
    n = n_digits
    every = tuple(p for k in range(n) for p in digit_positions(n, k))
    out = [
        Variable("NEG", _neg, (), "D < D' (the comparison D > D', negated)", None, every),
        Variable("SIGN", lambda q, v: v["NEG"], ("NEG",), "the answer's sign is '-'", None, every),
    ]
    for c in range(n):
        reads = digit_positions(n, c) + every  # the frame (which operand is on top) reads all
        out += [
            Variable(
                f"MD{c}", _md(c), ("NEG",), "digit difference (top - bottom) mod 10", c, reads
            ),
            Variable(f"MB{c}", _mb(c), ("NEG",), "makes a borrow: top < bottom", c, reads),
            Variable(f"MZ{c}", _mz(c), (), "equal digits", c, digit_positions(n, c)),
            _cascade_variable(n, c, ("MB", "MZ", "BI"), "borrow in (cascade)", reads),
        ]
    return _hypothesis("sub", n, out, PAPER_2)


# ---- subtraction without the swap ------------------------------------------------------------
def _direct_answer(n: int):
    """The answer from D - D' worked column by column without comparing first: each column's
    digit (DD_c - DI_c) mod 10 and the final borrow DI_n give the signed result, whose sign and
    magnitude are the answer."""

    def answer(q: Q, v: Mapping[str, int]) -> tuple[int, ...]:
        into = [0] + [v[f"DI{c}"] for c in range(1, n + 1)]
        value = sum(((v[f"DD{c}"] - into[c]) % 10) * 10**c for c in range(n)) - into[n] * 10**n
        digits = f"{abs(value):0{n}d}"
        return (MINUS if value < 0 else PLUS, *(int(d) for d in digits))

    return answer


def _dd(c: int):
    return lambda q, v: (q[0][c] - q[1][c]) % 10


def _db(c: int):
    return lambda q, v: int(q[0][c] < q[1][c])


def direct_subtraction_hypothesis(n_digits: int) -> Hypothesis:
    """D - D' column by column, no comparison first: per column the direct difference
    ``DD{c}`` = (D_c - D'_c) mod 10, the borrow it makes ``DB{c}`` (D_c < D'_c), equal digits
    ``DZ{c}`` and the borrow arriving ``DI{c}`` through the same cascade; the final borrow is the
    sign and a negative result's digits are its magnitude's. Each variable reads only its
    column's digits (and those below, for the cascade): an alternative to the papers' account,
    where the comparison frames every column."""
    n, out = n_digits, []
    for c in range(n):
        reads = digit_positions(n, c)
        out += [
            Variable(f"DD{c}", _dd(c), (),
                     "direct difference (D - D') mod 10", c, reads),
            Variable(f"DB{c}", _db(c), (),
                     "makes a borrow: D < D'", c, reads),
            Variable(f"DZ{c}", _mz(c), (), "equal digits", c, reads),
            _cascade_variable(n, c, ("DB", "DZ", "DI"), "borrow in (cascade)", reads),
        ]  # fmt: skip
    hyp = _hypothesis("sub", n, out, PAPER_2)
    return dataclasses.replace(hyp, name=f"sub_direct_d{n}", answer=_direct_answer(n),
                               source="D - D' without the comparison (algolens's alternative "
                               f"to {PAPER_2})")  # fmt: skip


def hypothesis(task: ArithmeticTask, op: str | None = None) -> Hypothesis:
    """The task's hypothesis; a mixed task takes ``op`` ('add' or 'sub')."""
    op = op or task.op
    makers = {"add": addition_hypothesis, "sub": subtraction_hypothesis,
              "sub_direct": direct_subtraction_hypothesis}  # fmt: skip
    if op not in makers:
        raise ValueError(f"a mixed task's hypothesis needs op='add' or op='sub', got {op!r}")
    return makers[op](task.n_digits)


# ---- question distributions for the pairs --------------------------------------------------
PAIR_KINDS = {
    "add": ("random", "cascade"),
    "sub": ("random", "borrow_chain", "sign_flip"),
}


def sampler(task: ArithmeticTask, op: str, kind: str = "random"):
    """Questions of one operator for IIA pairs: uniform (``random``), or targeted: ``cascade``
    (addition with many sum-9 columns, so carries run through them), ``borrow_chain``
    (subtraction with many equal digits), ``sign_flip`` (near-equal operands: the sign is
    decided late)."""
    n = task.n_digits
    if kind == "random":
        one = ArithmeticTask(op=op, n_digits=n)  # type: ignore[arg-type]
        return one.sample_uniform
    if (op, kind) in (("add", "cascade"), ("sub", "borrow_chain")):
        # the shares of forced pairs that make the most chains of two or more columns (6 digits:
        # 28% of addition questions, 13% of subtraction ones; uniform: 1%)
        share = 0.6 if op == "add" else 0.4
        one = ArithmeticTask(op=op, n_digits=n, enrich_batch_share=1.0, enrich_pair_share=share)  # type: ignore[arg-type]
        return one.sample_independent
    if (op, kind) == ("sub", "sign_flip"):
        return ArithmeticTask(op="sub", n_digits=n, hard_share=1.0).sample_independent
    raise ValueError(f"unknown pair kind {kind!r} for {op}: use one of {PAIR_KINDS[op]}")


def check_against_oracle(hyp: Hypothesis, batch: Batch) -> int:
    """How many questions of ``batch`` the hypothesis answers differently from the oracle."""
    qs = hyp.questions(batch)
    want = batch.targets.tolist()
    return sum(hyp.run(q) != tuple(w) for q, w in zip(qs, want, strict=True))


def declare(task: Any, op: str | None = None) -> Declared:
    """The family's ``hypothesis`` hook: the task's hypothesis (a mixed task's ``op``: add, or
    sub by default) and its pair samplers (random and the targeted kinds of ``PAIR_KINDS``)."""
    if not isinstance(task, ArithmeticTask):
        raise AlgolensError(f"no hypothesis for the {task.name} task yet")
    op = op or (task.op if task.op != "mix" else "sub")
    base = "sub" if op == "sub_direct" else op
    if op not in ("add", "sub", "sub_direct") or task.op not in (base, "mix"):
        raise AlgolensError(
            f"a {task.op} model has no {op!r} hypothesis: use add, sub or sub_direct"
        )
    samplers = {k: sampler(task, base, k) for k in PAIR_KINDS[base]}
    return Declared(hypothesis(task, op), samplers)


__all__ = [
    "PAIR_KINDS",
    "addition_hypothesis",
    "check_against_oracle",
    "declare",
    "direct_subtraction_hypothesis",
    "hypothesis",
    "questions",
    "sampler",
    "subtraction_hypothesis",
]
