"""Arithmetic's own commands, added through the family record (:attr:`Family.zoo_commands`):
``algolens zoo reuse``, the reuse comparison (Quirke, Neo & Barez 2024) over the zoo's mixed
models."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer


def register_zoo(zoo_app: typer.Typer, api: Any, friendly: Callable[..., Any]) -> None:
    """Add ``zoo reuse`` to ``algolens zoo``; ``api.zoo_cards()`` reads the zoo's cards."""

    @zoo_app.command("reuse")
    @friendly
    def zoo_reuse(
        as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
        plot: Annotated[
            Path | None, typer.Option(help="Also write the learning curves as an HTML plot here.")
        ] = None,
    ) -> None:
        """The reuse comparison (Quirke, Neo & Barez 2024) over the zoo's mixed models: how
        each started (scratch, ins1, ins2, ins3), steps to 99%, 99.9% and no failure on the
        same fixed questions, and its failures (add/sub) in a million questions of each
        distribution."""
        from algolens.families.arithmetic.reuse import comparison_figure, comparison_rows

        cards = api.zoo_cards()
        rows = comparison_rows(cards)
        if plot is not None:
            plot.parent.mkdir(parents=True, exist_ok=True)
            comparison_figure(cards).write_html(plot, include_plotlyjs=True)
            typer.echo(f"plot written to {plot}", err=as_json)
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        typer.echo("\n".join(_table(rows)))


def _table(rows: list[dict[str, Any]]) -> list[str]:
    from algolens.families.arithmetic.reuse import pair_text

    head = f"{'model':<16} {'start':<8} {'sub':>4} {'steps':>6} {'99%':>6} {'99.9%':>6} {'none':>6}"
    out = [f"{head}  uniform add/sub  training add/sub"]
    for r in rows:
        marks = [r.get(f"steps_to_{k}") for k in ("99%", "99.9%", "no failure")]
        cells = " ".join(f"{m if m is not None else 'never':>6}" for m in marks)
        out.append(
            f"{r['model']:<16} {r['start']:<8} {r['sub_share']:>4} {r['steps']:>6} {cells}  "
            f"{pair_text(r, 'uniform'):<16} {pair_text(r, 'training')}"
        )
    out.append(
        "steps to a mark: the first kept checkpoint that reaches it on the curve's "
        "fixed questions (its spacing: checkpoint_every in --json)"
    )
    return out
