"""``lego train`` and ``lego compare`` take their shared options from one definition
(:class:`~algolens.families.lego.commands.LegoOptions`): each field is an option of both, with
its default and help, and reaches the command as the dataclass."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from algolens.families.lego.commands import LegoOptions, command


def _app(seen: dict[str, Any]) -> typer.Typer:
    def probe(api: Any, options: LegoOptions = LegoOptions(), own: int = 1) -> None:
        seen.update(api=api, options=options, own=own)

    app = typer.Typer()
    app.command()(command(probe, "the api"))
    return app


def test_every_field_is_an_option_and_arrives_as_the_dataclass() -> None:
    seen: dict[str, Any] = {}
    done = CliRunner().invoke(_app(seen), ["--n-vars", "5", "--lr", "0.5", "--own", "3"])
    assert done.exit_code == 0, done.output
    assert seen == {
        "api": "the api",
        "options": LegoOptions(n_vars=5, lr=0.5),
        "own": 3,
    }
    names = {f.name.replace("_", "-") for f in fields(LegoOptions)}
    for cmd in ("train", "compare"):
        from algolens.cli import app

        shown = CliRunner().invoke(app, ["lego", cmd, "--help"], env={"COLUMNS": "300"}).output
        assert all(f"--{n} " in shown for n in names), cmd
        assert "Clauses (variables) per sentence." in shown


@pytest.mark.parametrize("flag", ["--api", "--options", "--n-eval"])
def test_a_name_not_among_the_fields_is_no_option(flag: str) -> None:
    """Control: the bound ``api``, the ``options`` placeholder and another command's own
    option are refused."""
    done = CliRunner().invoke(_app({}), [flag, "1"])
    assert done.exit_code == 2
