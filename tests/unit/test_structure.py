"""The house rules, checked: short functions, a light command line, one-way floors.

(The floors themselves are import-linter contracts in pyproject.toml, run by ``make lint``.)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "algolens"


def test_no_function_is_over_60_lines() -> None:
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > 60:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines})")
    assert not long, long


def _loaded_after(code: str, modules: tuple[str, ...]) -> str:
    """Which of ``modules`` a fresh interpreter has imported after running ``code``."""
    check = f"{code}\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{check}"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_the_command_line_starts_without_torch() -> None:
    """``algolens --help`` imports no torch, transformer_lens or huggingface_hub (they take
    seconds); the commands that need them import them inside."""
    heavy = ("torch", "transformer_lens", "huggingface_hub", "ray")
    assert _loaded_after("import algolens.cli", heavy) == ""


HELP_COMMANDS = ["train", "predict", "sample", "info", "verify", "analyse", "demo", "presets",
                 "zoo", "zoo build", "lego", "lego train", "sweep", "import"]  # fmt: skip


def test_every_help_page_starts_without_heavy_imports() -> None:
    """Every ``CMD --help`` answers without torch, transformer_lens, huggingface_hub, ray or
    pydantic (typer coerces an unset flag through pydantic: 0.15 s), so each stays under 0.5 s."""
    code = (
        "import contextlib, io\n"
        "from algolens.cli import main\n"
        f"for cmd in {HELP_COMMANDS!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        assert main([*cmd.split(), '--help']) == 0, cmd\n"
    )
    heavy = ("torch", "transformer_lens", "huggingface_hub", "ray", "pydantic")
    assert _loaded_after(code, heavy) == ""


def test_every_command_has_help() -> None:
    from typer.testing import CliRunner

    from algolens.cli import app

    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    commands = [
        "train",
        "predict",
        "sample",
        "info",
        "verify",
        "analyse",
        "demo",
        "presets",
        "zoo",
        "lego",
        "sweep",
    ]
    for command in commands:
        assert command in top.output
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, command
