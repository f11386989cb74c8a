"""Every parser, fed random text: it answers, or raises one line of AlgolensError. What it
accepts is exactly what the task's format allows (ASCII digits, the task's own separators)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import tiny_model_spec

from algolens.commands.base import parse_options
from algolens.commands.train import family_flags
from algolens.config import TrainConfig
from algolens.errors import AlgolensError
from algolens.families import family_of, make_task
from algolens.models import build_model
from algolens.runs import ZOO_DIR, new_config, zoo_path

TASKS = {
    "add": {"name": "add", "n_digits": 5},
    "sub": {"name": "sub", "n_digits": 5},
    "mix": {"name": "mix", "n_digits": 6},
    "modadd": {"name": "modadd", "p": 113},
    "lego": {"name": "lego", "n_vars": 4},
    "sort": {"name": "sort"},
}
# near-misses: ASCII and other digits, operators, the task's separators, odd spaces
PIECES = st.sampled_from(
    ["1", "2", "9", "0", "12", "00000", "+", "-", "=", " ", ";", ",", ">", "a", "b", "c", "d",
     "\u0661", "\uff12", "\u00b2", "\u2460", "\u2003", "\t", "\n", "9" * 5000]
)  # fmt: skip
TEXT = st.one_of(st.text(max_size=30), st.lists(PIECES, max_size=12).map("".join))


def one_line(e: AlgolensError) -> None:
    assert str(e) and "\n" not in str(e) and len(str(e)) < 400, str(e)


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    """An untrained small model per task: predict runs the whole path from text to answer."""
    out = {}
    for name, task in TASKS.items():
        kind = {"kind": "mlp", "d_mlp": 8} if name == "modadd" else tiny_model_spec(d_model=16)
        out[name] = build_model(new_config(task, kind, TrainConfig()).model)
    return out


@pytest.mark.parametrize("name", list(TASKS))
@settings(max_examples=250, deadline=None)
@given(text=TEXT)
def test_question_parsers_answer_or_give_one_line(
    name: str, text: str, models: dict[str, Any]
) -> None:
    task = make_task(TASKS[name])
    try:
        answers = task.predict(models[name], [text])
    except AlgolensError as e:
        one_line(e)
        return
    assert len(answers) == 1
    if name in ("add", "sub", "mix", "modadd", "sort"):  # digits are ASCII, spaces are spaces
        assert re.fullmatch(r"[0-9+\-=, >]*", text), text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=4))
def test_key_value_options_parse_or_give_one_line(pairs: list[str]) -> None:
    try:
        out = parse_options(pairs)
    except AlgolensError as e:
        one_line(e)
        return
    assert len(out) <= len(pairs)


@pytest.mark.parametrize("task", ["add", "modadd", "lego"])
@settings(max_examples=200, deadline=None)
@given(args=st.lists(st.one_of(st.text(max_size=8), st.sampled_from(["--digits", "--p", "5"])),
                     max_size=4))  # fmt: skip
def test_family_flags_parse_or_give_one_line(task: str, args: list[str]) -> None:
    try:
        family_flags(family_of(task), args)
    except AlgolensError as e:
        one_line(e)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=20), st.sampled_from(["../x", "/etc", "a/b", ".", "..", ""])))
def test_zoo_names_stay_in_the_zoo(name: str) -> None:
    try:
        path = zoo_path(name)
    except AlgolensError as e:
        one_line(e)
        return
    assert "/" not in name and name not in (".", "..") and path.parent == ZOO_DIR
