"""The negative control of user_script.py: two type errors mypy must find (a wrong return type
and a misspelt name). Checked by tests/unit/test_package.py; never run."""

import algolens


def answers(name: str) -> int:
    return algolens.load(name).predict(["12+34"])


algolens.lod("zoo:add_d5_l2")
