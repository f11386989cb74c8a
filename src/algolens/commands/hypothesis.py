"""``algolens iia RUN``: the family's algorithm as a causal hypothesis, tested by
interchange-intervention accuracy (Geiger et al.), per variable, with its negative controls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from algolens.commands.base import app, friendly
from algolens.errors import AlgolensError


@app.command()
@friendly
def iia(
    run: Annotated[str, typer.Argument(help="Run directory, zoo:NAME or hf:OWNER/NAME.")],
    variables: Annotated[
        str | None,
        typer.Option(help="Comma-separated variables (e.g. SC1,SA2); default: every variable."),
    ] = None,
    pairs: Annotated[int, typer.Option(help="Random base/source pairs per variable.")] = 10_000,
    targeted: Annotated[
        int, typer.Option(help="Targeted pairs (cascades, borrow chains, sign flips).")
    ] = 2_000,
    search: Annotated[int, typer.Option(help="Pairs for the search over nodes.")] = 1_000,
    op: Annotated[
        str | None, typer.Option(help="A mixed model's operation to test: add or sub (default).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the pairs.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON to this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON.")] = False,
) -> None:
    """Per variable of the hypothesis: the node a search finds, its IIA on random and targeted
    pairs with 95% Clopper-Pearson intervals, the ignore-the-patch baseline, and the controls (an
    untrained copy, the node one position over)."""
    for name, value, least in (("--pairs", pairs, 1), ("--targeted", targeted, 1),
                               ("--search", search, 1)):  # fmt: skip
        if not least <= value <= 10_000_000:
            raise AlgolensError(f"{name} must be between {least} and 10,000,000, got {value}")
    if op not in (None, "add", "sub"):
        raise AlgolensError(f"--op must be add or sub, got {op!r}")
    if out is not None and (out.is_dir() or out.is_symlink()):
        raise AlgolensError(f"--out {out} is a folder or a symbolic link: name a file")
    from algolens.runs import load

    names = [v.strip() for v in variables.split(",") if v.strip()] if variables else None
    result = load(run).iia(names, op=op, pairs=pairs, targeted_pairs=targeted,
                           search_pairs=search, seed=seed)  # fmt: skip
    text = json.dumps(result, indent=1)
    if out is not None:
        out.write_text(text + "\n")
    typer.echo(text if as_json else "\n".join(summary_lines(result)))


def summary_lines(result: dict) -> list[str]:
    """One line per variable and pair kind: ``SC1 P14.L0.H0 random 0.816 [0.808, 0.824] of
    10,000 (untrained 0.000, neighbour 0.002)``."""
    lines = [f"hypothesis {result['hypothesis']} ({result['source']})"]
    for v in result["variables"]:
        controls = f"untrained {v['untrained']['iia']:.3f}, neighbour {v['wrong']['iia']:.3f}"
        for r in v["iia"]:
            lo, hi = r["interval"]
            lines.append(f"{v['variable']} {v['best']} {r['kind']} {r['iia']:.3f} "
                         f"[{lo:.3f}, {hi:.3f}] of {r['pairs']:,} ({controls})")  # fmt: skip
    if result.get("inert"):
        lines.append("inert (no pair changes the answer): " + ", ".join(result["inert"]))
    return lines
