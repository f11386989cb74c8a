"""Bad input is answered before torch is imported (so in well under a second): a missing run, a
zoo name not in the zoo, an unknown task, a number out of range. Each case runs in a fresh
interpreter that reports whether torch was imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = (
    "import sys; from algolens.cli import main; rc = main(sys.argv[1:]); "
    "print('torch' in sys.modules, file=sys.stderr); sys.exit(rc)"
)


def _run(argv: list[str]) -> tuple[int, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True)
    return done.returncode, done.stderr.strip().splitlines()


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "no/such/run"],
        ["analyse", "zoo:add_d5_l3"],
        ["info", "/no/such/run"],
        ["iia", "zoo:nope"],
        ["train", "addd"],
        ["train", "add", "--seed", str(2**64)],
        ["verify", "zoo:add_d5_l2", "--distribution", "nope"],
        ["verify", "zoo:add_d5_l2", "--precision", "xx"],
        ["analyse", "zoo:add_d5_l2", "--format", "xyz"],
        ["sample", "addd"],
        ["lego", "train", "--variant", "parnet"],
    ],
)
def test_bad_input_is_refused_before_torch_loads(argv: list[str]) -> None:
    code, err = _run(argv)
    assert code == 2 and len(err) == 2 and err[0].startswith("error:"), err
    assert err[1] == "False"  # torch was never imported


def test_the_probe_sees_torch_when_a_command_needs_it() -> None:
    """The control: a command that loads a model imports torch, and the probe says so."""
    code, err = _run(["predict", "zoo:add_d5_l2", "12+34"])
    assert code == 0 and err[-1] == "True"
