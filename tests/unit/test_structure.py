"""The house rules, checked: short functions, a light command line, one-way floors.

(The floors themselves are import-linter contracts in pyproject.toml, run by ``make lint``.)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def _contracts() -> dict[str, dict[str, Any]]:
    import tomllib

    pyproject = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text())
    return {c["name"]: c for c in pyproject["tool"]["importlinter"]["contracts"]}


def test_the_sealed_family_contract_covers_every_module_and_every_family() -> None:
    """Every module outside the family folders is a source of the sealed contract, and every
    family folder is forbidden to them and independent of the others: a new module or family
    cannot slip past it."""
    (sealed,) = [c for name, c in _contracts().items() if name.startswith("Sealed families")]
    (apart,) = [c for name, c in _contracts().items() if name.startswith("Families are")]
    folders = {p.parent.name for p in (SRC / "families").glob("*/__init__.py")}
    family_modules = {f"algolens.families.{f}" for f in folders}
    assert set(sealed["forbidden_modules"]) == family_modules == set(apart["modules"])
    outside = {f"algolens.{p.stem}" for p in SRC.glob("*.py") if not p.stem.startswith("__")}
    outside |= {f"algolens.{p.parent.name}" for p in SRC.glob("*/__init__.py")}
    outside |= {f"algolens.families.{p.stem}" for p in (SRC / "families").glob("*.py")}
    outside -= {"algolens.families", "algolens.families.__init__"}
    assert outside <= set(sealed["source_modules"]), outside - set(sealed["source_modules"])


def test_import_linter_refuses_a_command_that_imports_a_family_directly(tmp_path: Path) -> None:
    """The contract can fail: a copy of the package whose zoo command imports the arithmetic
    family's module breaks it; the untouched copy keeps it."""
    import shutil

    copy = tmp_path / "src" / "algolens"

    def skip(folder: str, names: list[str]) -> set[str]:  # no caches, no zoo weights
        return {
            n for n in names if n == "__pycache__" or (folder.endswith("zoo") and n == "models")
        }

    shutil.copytree(SRC, copy, ignore=skip)
    config = tmp_path / "contracts.toml"
    config.write_text((SRC.parents[1] / "pyproject.toml").read_text())
    lint = [str(Path(sys.executable).with_name("lint-imports")), str(config)]
    lint += ["--contract", "sealed", "--no-cache"]
    text = config.read_text().replace('name = "Sealed families', 'id = "sealed"\nname = "Sealed')
    config.write_text(text)
    env = {"PYTHONPATH": str(copy.parent), "PATH": "/usr/bin:/bin"}
    kept = subprocess.run(lint, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    zoo = copy / "commands" / "zoo.py"
    zoo.write_text(zoo.read_text() + "\nfrom algolens.families.arithmetic import reuse\n")
    broken = subprocess.run(lint, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert broken.returncode == 1 and "BROKEN" in broken.stdout, broken.stdout
