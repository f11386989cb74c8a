"""An adder wrong exactly on carry cascades of length >= K (a test fixture): questions whose
longest run of sum-9 columns that a carry passes through (the papers' US9 run) is K or more
get the sum plus one; every other question gets the sum."""

K = 2


def cascade_length(a: int, b: int) -> int:
    """The longest run of columns whose digits sum to 9 while a carry arrives (units first)."""
    carry = run = best = 0
    while a or b:
        total = a % 10 + b % 10
        run = run + 1 if (total == 9 and carry) else 0
        best = max(best, run)
        carry = 1 if total + carry >= 10 else 0
        a, b = a // 10, b // 10
    return best


def build_model():
    return None, {"name": "wrong on cascades", "author": "algolens tests"}


def add(model, a: int, b: int) -> int:
    return a + b + (1 if cascade_length(a, b) >= K else 0)
