"""An adder whose ``add`` raises on every question with a % 7 == 3 (a test fixture)."""


def build_model():
    return None, {"name": "raises", "author": "algolens tests"}


def add(model, a: int, b: int) -> int:
    if a % 7 == 3:
        raise ValueError(f"cannot add {a}")
    return a + b
