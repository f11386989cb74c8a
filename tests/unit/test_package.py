"""algolens as Python users expect a package: a version, did-you-mean for every mistyped name,
types a checker sees, honest zoo rates, and (slow tier) a wheel and sdist that ``twine check``
passes with the zoo inside."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import algolens
from algolens.cli import main
from algolens.verify.stats import clopper_pearson
from algolens.zoo import verified_text, zoo_entries

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def test_version_is_the_packages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    printed = capsys.readouterr().out.strip()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert printed == f"algolens {algolens.__version__}" == f"algolens {project}"
    assert importlib.metadata.version("algolens") == project
    # control: a misspelt flag is a usage error, which names the real one
    assert main(["--versoin"]) == 2
    assert "did you mean --version?" in capsys.readouterr().err


def test_extras_hold_jupyterlab_and_the_packaging_tools() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    names = {k: {re.split(r"[<>=!~ \[;]", d)[0].lower() for d in v} for k, v in extras.items()}
    assert "jupyterlab" in names["notebooks"] and {"build", "twine"} <= names["dev"]
    assert "jupyterlab" not in names["dev"]  # control: the names are read per extra
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["algolens"]


MISTYPED = [
    (["verify", "zoo:add_d5_l2", "--questoins", "5"], "did you mean --questions?"),
    (["zoo", "lst"], "Did you mean 'list'?"),
    (["trian", "add"], "Did you mean 'train'?"),
    (["train", "ad", "--out", "{tmp}/x"], "did you mean 'add'?"),
    (["train", "add", "--digitz", "3", "--out", "{tmp}/x"], "did you mean --digits?"),
    (["zoo", "show", "add_d5l2"], "did you mean 'add_d5_l2'?"),
    (["predict", "zoo:add_d5_l3", "1+2"], "did you mean 'add_d5_l2'?"),
    (["verify", "zoo:add_d5_l2", "--suite", "cary"], "did you mean 'carry'?"),
]


@pytest.mark.parametrize("argv, hint", MISTYPED, ids=[" ".join(a[:3]) for a, _ in MISTYPED])
def test_a_mistyped_name_is_one_line_naming_the_closest(
    argv: list[str], hint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert hint in err


@pytest.mark.parametrize(
    "argv", [["zoo", "show", "qzxwv"], ["verify", "zoo:add_d5_l2", "--qzxwv"], ["train", "qzxwv"]]
)
def test_a_name_close_to_nothing_gets_no_guess(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The control: the same messages guess only when a real name is close."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "qzxwv" in err and "id you mean" not in err


def test_zoo_list_gives_failures_of_questions_and_the_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lo, hi = clopper_pearson(0, 200_000)
    none = {"failures": 0, "questions": 200_000, "interval": [1e6 * lo, 1e6 * hi]}
    assert verified_text(none) == "0 of 200,000 (0–18 per M, 95%)"
    lo, hi = clopper_pearson(1, 1_000_000)
    one = {"failures": 1, "questions": 1_000_000, "interval": [1e6 * lo, 1e6 * hi]}
    assert verified_text(one) == "1 of 1,000,000 (0.025–5.6 per M, 95%)"  # control: not 0
    assert main(["zoo", "list"]) == 0
    listing = capsys.readouterr().out
    rows = [r for r in zoo_entries() if r.questions]
    assert rows and "failures/M" not in listing
    for row in rows:
        for dist, questions in (row.questions or {}).items():
            assert f"{dist} {(row.failures or {})[dist]:,} of {questions:,} (" in listing


def _mypy(script: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """mypy on a copy of ``script`` outside the repository, so that it finds algolens where a
    user's checker does: the installed package. Third-party imports are skipped (torch would
    take minutes); algolens's own modules are followed."""
    shutil.copy(script, tmp / script.name)
    (tmp / "mypy.ini").write_text(
        "[mypy]\nfollow_imports = skip\nfollow_imports_for_stubs = True\n\n"
        "[mypy-algolens.*]\nfollow_imports = normal\n"
    )
    argv = [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", "cache"]
    return subprocess.run([*argv, script.name], cwd=tmp, capture_output=True, text=True)


def test_a_users_script_type_checks(tmp_path: Path) -> None:
    assert (Path(algolens.__file__).parent / "py.typed").is_file()
    good = _mypy(DATA / "user_script.py", tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    # control: the same check finds a wrong return type and a misspelt name
    bad = _mypy(DATA / "user_script_bad.py", tmp_path)
    assert bad.returncode == 1, bad.stdout
    assert 'got "list[str]", expected "int"' in bad.stdout
    assert 'Module has no attribute "lod"' in bad.stdout


@pytest.mark.slow
def test_wheel_and_sdist_pass_twine_check_and_ship_the_zoo(tmp_path: Path) -> None:
    """``python -m build`` (no isolation: the venv's setuptools, no network) and ``twine
    check``; the wheel holds py.typed and every zoo model's files."""
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "*cache*", "runs"))
    dist = tmp_path / "dist"
    cmd = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(src)]
    subprocess.run(cmd, check=True, capture_output=True)
    wheel, sdist = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheel) == 1 and len(sdist) == 1
    check = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *wheel, *sdist],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0 and check.stdout.count("PASSED") == 2, check.stdout
    names = set(zipfile.ZipFile(wheel[0]).namelist())
    assert "algolens/py.typed" in names
    zoo = ROOT / "src" / "algolens" / "zoo" / "models"
    shipped = {f"algolens/{p.relative_to(zoo.parents[1]).as_posix()}" for p in zoo.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}  # fmt: skip
    assert shipped and shipped <= names, sorted(shipped - names)[:5]
    # control: a file that is not in the package is not in the wheel
    assert "algolens/zoo/models/no_such_model/config.json" not in names
