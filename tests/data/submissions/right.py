"""An exactly right adder in the AdderBoard format (a test fixture): ``add_batch`` answers
many questions at once; ``add`` one."""


def build_model():
    return None, {"name": "right", "author": "algolens tests", "params": 0}


def add(model, a: int, b: int) -> int:
    return a + b


def add_batch(model, a_list, b_list):
    return [a + b for a, b in zip(a_list, b_list, strict=True)]
