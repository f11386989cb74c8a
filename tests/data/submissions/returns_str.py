"""An adder that returns its sum as text (a test fixture)."""


def build_model():
    return None, {"name": "returns text", "author": "algolens tests"}


def add(model, a: int, b: int) -> str:
    return str(a + b)
