"""``algolens iia``: the hypothesis's IIA from the command line, with its controls; bad options
are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from algolens.cli import main


def test_iia_prints_each_variable_with_its_controls(tmp_path: Path, capsys) -> None:
    out = tmp_path / "iia.json"
    argv = ["iia", "zoo:add_d5_l2", "--variables", "SC1", "--pairs", "200", "--targeted", "100",
            "--search", "100", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("hypothesis add_d5")
    assert any(line.startswith("SC1 P14.L0.H0 random") for line in lines)
    result = json.loads(out.read_text())
    (sc1,) = result["variables"]
    random = next(r for r in sc1["iia"] if r["kind"] == "random")
    assert random["pairs"] == 200 and random["iia"] > 0.6  # the carry of column 1 lives there ...
    assert sc1["untrained"]["iia"] < 0.05  # ... and not in an untrained copy


def test_iia_on_the_one_hot_mlp_measures_its_neuron_groups(capsys) -> None:
    """The cosine MLP has no nodes: ``algolens iia`` runs its family's frequency vote instead
    (contested and clear pairs, the untrained copy, IIA per tenth of the vote swapped), and a
    per-variable request is one line."""
    assert main(["iia", "zoo:modadd_mlp_p113", "--pairs", "300"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("hypothesis modadd_vote_p113")
    assert lines[1].startswith("contested pairs") and lines[1].endswith("of 300")
    assert main(["iia", "zoo:modadd_mlp_p113", "--variables", "F19"]) == 2
    assert "no per-variable IIA" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--variables", "SCX"], "did you mean"),
        (["--pairs", "0"], "--pairs"),
        (["--op", "mul"], "--op"),
    ],
)
def test_bad_iia_options_are_one_line(argv: list[str], words: str, capsys) -> None:
    assert main(["iia", "zoo:add_d5_l2", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0]


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["--questions", "0"], "--questions"), (["--mode", "zero"], "--mode"),
     (["--minimality", "-1"], "--minimality")],
)  # fmt: skip
def test_bad_circuit_options_are_one_line(argv: list[str], words: str, capsys) -> None:
    assert main(["circuit", "zoo:add_d5_l2", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0]


@pytest.mark.slow
def test_circuit_finds_a_sufficient_circuit_and_an_untrained_model_has_none(capsys) -> None:
    """add_d5_l2's circuit (45 of 144 nodes) alone answers 2,000 questions of each distribution;
    the control: an untrained copy's circuit is not sufficient."""
    from algolens.commands.hypothesis import circuit_json
    from algolens.runs import load

    run = load("zoo:add_d5_l2")
    result = circuit_json(run, 2000, 0, "mean")
    assert result["sufficient"] and result["counts"]["circuit"] < result["counts"]["model"] / 2
    from algolens.analysis.iia import untrained_like

    run.model = untrained_like(run.model)
    assert not circuit_json(run, 2000, 0, "mean")["sufficient"]
