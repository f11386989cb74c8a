"""The ``structured`` suite: rare question families that random draws almost never reach and
the complete suites (one fixed chain per question) do not cover, where an independent audit found
zoo models wrong although their cards said 0 per million:

- sums of exactly 10^k and 10^k - 1 for every k <= n (addition), and differences of exactly
  +-10^k and +-(10^k - 1) (subtraction): every question of the family where it has at most
  ``EXHAUSTIVE`` members, else ``per_target`` random ones plus every round operand
  (``d * 10^j``, as in ``050000+050000``);
- carry (or borrow) runs at every offset and length, with the other columns random and with
  them zero;
- operands that differ in one digit, at each position, in both orders.

Deterministic for a seed; a question appears once.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

Pair = tuple[int, int]
EXHAUSTIVE = 10**5 + 1  # a power family this small is asked whole (a + b = 10^5: all 100,001)


def _round_operands(k: int) -> list[int]:
    """``d * 10^j`` and ``dd * 10^j`` below 10^k: the short, zero-padded operands
    (``050000``, ``350000``)."""
    return [m * 10**j for j in range(k) for m in range(1, 100) if m * 10**j < 10**k]


def _power_sums(n: int, per_target: int, rng: random.Random) -> Iterator[Pair]:
    """(a, b) with a + b = 10^k or 10^k - 1, for k = 1..n."""
    top = 10**n - 1
    for k in range(1, n + 1):
        for target in (10**k, 10**k - 1):
            lo, hi = max(0, target - top), min(target, top)
            if hi - lo + 1 <= EXHAUSTIVE:
                firsts: list[int] = list(range(lo, hi + 1))
            else:
                firsts = [rng.randint(lo, hi) for _ in range(per_target)]
                firsts += [a for a in _round_operands(k) if lo <= a <= hi]
                firsts += [target - a for a in firsts]  # both orders
            yield from ((a, target - a) for a in firsts)


def _power_differences(n: int, per_target: int, rng: random.Random) -> Iterator[Pair]:
    """(a, b) with a - b = 10^k or 10^k - 1 (k = 1..n, where it fits), and each swapped."""
    top = 10**n - 1
    for k in range(1, n + 1):
        for diff in (10**k, 10**k - 1):
            if diff > top:
                continue
            span = top - diff  # b in [0, span]
            if span + 1 <= EXHAUSTIVE:
                bs: list[int] = list(range(span + 1))
            else:
                bs = [rng.randint(0, span) for _ in range(per_target)]
                bs += [b for b in _round_operands(n) if b <= span]
            for b in bs:
                yield b + diff, b
                yield b, b + diff


def _runs(n: int, op: str, per_run: int, rng: random.Random) -> Iterator[Pair]:
    """A carry (borrow) made in column s and carried through the next columns, at every offset
    and length; the other columns random, or, in a tenth of the variants, the columns below the
    run zero (``755000-556000``) and in another tenth every other column zero."""
    for s in range(n):
        for length in range(n - s):
            for v in range(per_run):
                top = [rng.randrange(10) for _ in range(n)]  # units first
                bottom = [rng.randrange(10) for _ in range(n)]
                zeros = range(s) if v % 10 == 0 else range(n) if v % 10 == 1 else range(0)
                for c in zeros:
                    top[c] = bottom[c] = 0
                if op == "add":
                    top[s] = rng.randint(1, 9)
                    bottom[s] = rng.randint(10 - top[s], 9)  # the column makes a carry
                    for c in range(s + 1, s + 1 + length):
                        top[c] = rng.randrange(10)
                        bottom[c] = 9 - top[c]  # sums to 9: the carry passes on
                else:
                    top[s] = rng.randint(0, 8)
                    bottom[s] = rng.randint(top[s] + 1, 9)  # the column makes a borrow
                    for c in range(s + 1, s + 1 + length):
                        top[c] = bottom[c] = rng.randrange(10)  # equal: the borrow passes on
                yield _value(top), _value(bottom)


def _value(digits: list[int]) -> int:
    return sum(d * 10**c for c, d in enumerate(digits))


def _one_digit_apart(n: int, per_position: int, rng: random.Random) -> Iterator[Pair]:
    """Operands equal but for one digit, at each position, both orders."""
    for p in range(n):
        for _ in range(per_position):
            a = rng.randrange(10**n)
            digit = (a // 10**p) % 10
            other = rng.choice([d for d in range(10) if d != digit])
            b = a + (other - digit) * 10**p
            yield a, b
            yield b, a


def structured_questions(
    op: str, n: int, per_target: int = 10_000, per_run: int = 100, per_position: int = 500,
    seed: int = 0,
) -> list[str]:  # fmt: skip
    """The structured suite's question texts for an operator (``add``, ``sub`` or ``mix``:
    both)."""
    out: list[str] = []
    if op in ("add", "mix"):
        rng = random.Random(seed)
        pairs = [*_power_sums(n, per_target, rng), *_runs(n, "add", per_run, rng)]
        pairs += list(_one_digit_apart(n, per_position, rng))
        out += [f"{a:0{n}d}+{b:0{n}d}" for a, b in pairs]
    if op in ("sub", "mix"):
        rng = random.Random(seed + 1)
        pairs = [*_power_differences(n, per_target, rng), *_runs(n, "sub", per_run, rng)]
        pairs += list(_one_digit_apart(n, per_position, rng))
        out += [f"{a:0{n}d}-{b:0{n}d}" for a, b in pairs]
    return list(dict.fromkeys(out))
