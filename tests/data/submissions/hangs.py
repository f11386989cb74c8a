"""An adder whose ``add`` never returns (a test fixture)."""

import time


def build_model():
    return None, {"name": "hangs", "author": "algolens tests", "n_digits": 10}


def add(model, a: int, b: int) -> int:
    while True:
        time.sleep(1)
