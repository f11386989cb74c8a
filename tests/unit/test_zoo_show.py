"""``algolens zoo show``: a readable card, and the whole card with --json."""

from __future__ import annotations

import json

import pytest

from algolens.cli import main


@pytest.mark.parametrize("name", ["add_d5_l1", "modadd_mlp_p113", "lego_n12_k6"])
def test_zoo_show_is_readable_and_json_is_whole(name: str, capsys) -> None:
    assert main(["zoo", "show", name]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith(f"{name}: ") and len(lines) < 25
    assert "{'" not in text and "['" not in text  # no raw dicts or lists
    assert main(["zoo", "show", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == name


def test_arithmetic_card_shows_both_rates_and_the_papers_lists(capsys) -> None:
    assert main(["zoo", "show", "add_d5_l1"]) == 0
    text = capsys.readouterr().out
    assert "uniform   2,328 wrong of 200,000 (11,640 per million" in text
    assert "training  5,398 wrong of 200,000" in text
    assert "cascade_us9 25/29" in text
