"""The README is a front door (the two commands first, at most 150 lines) and the docs site holds
the rest: every page the site's nav names exists, and every benchmark the README cites is a file."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def _nav_files(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [f for item in nav for f in _nav_files(item)]
    if isinstance(nav, dict):
        return [f for value in nav.values() for f in _nav_files(value)]
    return []


def test_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150
    first = "\n".join(lines[:6])
    assert "make demo" in first and "make test" in first


def test_every_page_in_the_nav_exists() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    files = _nav_files(config["nav"])
    assert len(files) >= 15
    missing = [f for f in files if not (ROOT / "docs" / f).exists()]
    assert missing == []


def test_every_benchmark_the_readme_cites_exists() -> None:
    cited = set(re.findall(r"benchmarks/\w+\.py", (ROOT / "README.md").read_text()))
    assert cited, "the README's performance table cites no benchmark"
    assert sorted(b for b in cited if not (ROOT / b).exists()) == []
