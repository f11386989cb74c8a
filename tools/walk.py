"""Walk a command through the house: which of algolens's files it enters, in call order.

Runs a command in-process under ``sys.setprofile`` and records every call into a function of
``src/algolens`` (the caller's and callee's files). Consecutive calls within one file are one
*stay*; a file's *visits* are its stays. A *climb* is a call from a file on a lower floor into
a file on a higher one (the floors of ``pyproject.toml``'s layers contract). Library code
(torch, typer) is not counted. Prints one JSON line: stays, visits per file, climbs.

    .venv/bin/python tools/walk.py train add --digits 2 --layers 1 --heads 2 --d-model 16 \
        --steps 1 --batch-size 8 --out /tmp/walk_run --no-progress
    .venv/bin/python tools/walk.py verify /tmp/walk_run -n 64 --workers 1 --no-progress
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "algolens"


def floors() -> list[list[str]]:
    data = tomllib.loads((SRC.parent / "pyproject.toml").read_text())
    contracts = data["tool"]["importlinter"]["contracts"]
    (layers,) = [c for c in contracts if c["name"].startswith("Floors")]
    return [[m.strip() for m in part.replace(":", "|").split("|")] for part in layers["layers"]]


def floor_of(module: str, table: list[list[str]]) -> int | None:
    """0 is the top floor; None for a module outside the table."""
    for depth, names in enumerate(table):
        if any(module == n or module.startswith(n + ".") for n in names):
            return depth
    return None


def module_of(path: str) -> str | None:
    p = Path(path)
    if ROOT not in p.parents:
        return None
    parts = p.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def walk(argv: list[str]) -> dict[str, object]:
    from algolens.cli import _register_command_modules, main

    _register_command_modules()  # the commands' registration (help texts) is not the walk
    calls: list[tuple[str | None, str]] = []

    def profile(frame, event, arg):  # type: ignore[no-untyped-def]
        if event != "call":
            return
        callee = module_of(frame.f_code.co_filename)
        if callee is None:
            return
        back = frame.f_back
        caller = module_of(back.f_code.co_filename) if back is not None else None
        calls.append((caller, callee))

    sys.setprofile(profile)
    try:
        code = main(argv)
    finally:
        sys.setprofile(None)
    stays: list[str] = []
    for _, callee in calls:
        if not stays or stays[-1] != callee:
            stays.append(callee)
    table = floors()
    climbs = sorted({
        f"{a} -> {b}" for a, b in calls
        if a is not None and a != b and (fa := floor_of(a, table)) is not None
        and (fb := floor_of(b, table)) is not None and fb < fa
    })  # fmt: skip
    visits = Counter(stays)
    return {"argv": argv, "exit": code, "stays": len(stays), "files": len(visits),
            "most_visited": visits.most_common(8), "climbs": climbs}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(walk(sys.argv[1:])))
