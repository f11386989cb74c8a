"""``algolens iia RUN``: the family's algorithm as a causal hypothesis, tested by
interchange-intervention accuracy (Geiger et al.), per variable, with its negative controls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from algolens.commands.base import RunArg, app, friendly
from algolens.errors import AlgolensError


@app.command()
@friendly
def iia(
    run: RunArg,
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
        str | None,
        typer.Option(help="The hypothesis: add, sub (a mixed model's default) or sub_direct."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the pairs.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON to this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON.")] = False,
) -> None:
    """Per variable of the hypothesis: the node a search finds, its IIA on random and targeted
    pairs with 95% Clopper-Pearson intervals, the ignore-the-patch baseline, and the controls (an
    untrained copy, the node one position over). A model with no heads or positions (the one-hot
    MLP) gets its family's measurement over groups of neurons instead."""
    for name, value, least in (("--pairs", pairs, 1), ("--targeted", targeted, 1),
                               ("--search", search, 1)):  # fmt: skip
        if not least <= value <= 10_000_000:
            raise AlgolensError(f"{name} must be between {least} and 10,000,000, got {value}")
    if op not in (None, "add", "sub", "sub_direct"):
        raise AlgolensError(f"--op must be add, sub or sub_direct, got {op!r}")
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
    if "groups" in result:
        return group_lines(result["groups"])
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


def group_lines(g: dict[str, Any]) -> list[str]:
    """A neuron-group measurement (the one-hot MLP's frequency vote): the contested and clear
    pairs with intervals, the untrained copy, and IIA per tenth of the vote swapped."""
    lines = [f"hypothesis {g['hypothesis']} ({g['source']}): {len(g['frequencies'])} groups"]
    for kind in ("contested", "clear"):
        r = g[kind]
        lo, hi = r["interval"]
        lines.append(f"{kind} pairs {r['iia']:.3f} [{lo:.3f}, {hi:.3f}] of {r['pairs']:,}")
    lines.append(f"untrained copy (contested pairs) {g['untrained']['iia']:.3f}")
    lines += [f"  {b['share'][0]:.1f}-{b['share'][1]:.1f} of the vote swapped: {b['iia']:.3f} "
              f"of {b['pairs']:,}" for b in g["bins"] if b["pairs"]]  # fmt: skip
    return lines


@app.command()
@friendly
def circuit(
    run: RunArg,
    questions: Annotated[
        int, typer.Option(help="Questions of each distribution to verify the circuit on.")
    ] = 100_000,
    minimality: Annotated[
        int, typer.Option(help="Training questions for each node's minimality check (0: skip).")
    ] = 2_000,
    mode: Annotated[str, typer.Option(help="How outside nodes are ablated: mean or resample.")] = (
        "mean"
    ),
    out: Annotated[Path | None, typer.Option(help="Also write the JSON to this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON.")] = False,
) -> None:
    """The circuit: the nodes whose mean ablation alone breaks answers, grown until the circuit
    alone fails no more than the model; then sufficiency (every other head and MLP ablated, the
    rest verified as a model on both distributions, with intervals) and minimality (each circuit
    node ablated as well)."""
    if not 1 <= questions <= 100_000_000:
        raise AlgolensError(f"--questions must be between 1 and 100,000,000, got {questions}")
    if not 0 <= minimality <= 1_000_000:
        raise AlgolensError(f"--minimality must be between 0 and 1,000,000, got {minimality}")
    if mode not in ("mean", "resample"):
        raise AlgolensError(f"--mode must be mean or resample, got {mode!r}")
    if out is not None and (out.is_dir() or out.is_symlink()):
        raise AlgolensError(f"--out {out} is a folder or a symbolic link: name a file")
    from algolens.runs import load

    result = circuit_json(load(run), questions, minimality, mode)
    if out is not None:
        out.write_text(json.dumps(result, indent=1) + "\n")
    typer.echo(json.dumps(result, indent=1) if as_json else "\n".join(circuit_lines(result)))


def circuit_json(run: Any, questions: int, minimality: int, mode: str) -> dict[str, Any]:
    """The circuit unit (:class:`algolens.analysis.units.CircuitUnit`): find the circuit, verify
    it alone beside the model, and (``minimality`` > 0) ablate each node as well."""
    from algolens.analysis.causal import Budget

    if not hasattr(run.model, "blocks"):
        raise AlgolensError(f"a {run.config.model.get('kind')} model has no heads or MLP nodes")
    budget = Budget(questions=questions, minimality=minimality, mode=mode)
    return {"run": run.name, **run.causal(("circuit",), budget=budget)["circuit"]}


def circuit_lines(result: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{k} {v}" for k, v in result["counts"].items())
    lines = [f"{result['run']}: circuit of {len(result['circuit'])} nodes ({counts})",
             "  " + " ".join(result["circuit"])]  # fmt: skip
    for dist, r in result["results"].items():
        lo, hi = r["interval"]
        rate = f"{r['failures_per_million']:.1f} per million, 95% CI {lo:.1f}-{hi:.1f}"
        lines.append(f"  alone, {dist}: {r['failures']:,} of {r['questions']:,} wrong ({rate})")
    lines.append(f"  sufficient: {'yes' if result['sufficient'] else 'no'} "
                 f"(at most {result['max_failures_per_million']:g} per million more than the "
                 f"model, {result.get('min_accuracy', 0.9):.0%} right)")  # fmt: skip
    if "minimality" in result:
        m = result["minimality"]
        on = f"on {m['questions']:,} questions; the circuit fails {m['circuit_failures']}"
        lines.append(
            f"  minimal: {'yes' if m['minimal'] else 'no'} (each node ablated as well {on})"
        )
    return lines
