"""The sweep's HTML page: the results table, failures per million by configuration, and every
run's loss curve overlaid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from algolens import store
from algolens.sections import Section, Table
from algolens.sweep.rows import DISTRIBUTIONS

SHOWN = ("run", "steps_done", "train_seconds", "final_loss", "late_loss_max", "uniform_failures",
         "uniform_questions", "training_failures", "training_questions")  # fmt: skip
BY_POSITION = "eval_accuracy_by_position_"


def failure_figure(rows: list[dict[str, Any]]) -> Any:
    """Failures per million per run and distribution, with 95% intervals (log scale; a run
    with no failure is drawn at its interval's upper end, hollow)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    names = [r["run"] for r in rows]
    for dist in DISTRIBUTIONS:
        key = f"{dist}_per_million"
        if not any(key in r for r in rows):
            continue
        rate = [r.get(key) for r in rows]
        high = [r.get(f"{key}_high") for r in rows]
        shown = [h if v == 0 else v for v, h in zip(rate, high, strict=True)]
        up = [max((h or 0) - (v or 0), 0) for h, v in zip(high, shown, strict=True)]
        low = [r.get(f"{key}_low") or 0 for r in rows]
        down = [max((v or 0) - lo, 0) for v, lo in zip(shown, low, strict=True)]
        fig.add_trace(go.Bar(
            x=names, y=shown, name=dist,
            marker_pattern_shape=["/" if v == 0 else "" for v in rate],
            error_y={"type": "data", "symmetric": False, "array": up, "arrayminus": down},
        ))  # fmt: skip
    fig.update_layout(barmode="group", yaxis_type="log", yaxis_title="failures per million",
                      xaxis_title="run", height=460, legend_title="questions")  # fmt: skip
    return fig


def loss_figure(folder: Path, rows: list[dict[str, Any]]) -> Any:
    """Training loss of every run against its step (log scale), overlaid."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for row in rows:
        metrics = store.read_metrics(folder / "runs" / row["run"])
        points = [(m["step"], m["loss"]) for m in metrics if "loss" in m]
        if points:
            steps, losses = zip(*points, strict=True)
            fig.add_trace(go.Scatter(x=steps, y=losses, mode="lines", name=row["run"]))
    fig.update_layout(yaxis_type="log", xaxis_title="step", yaxis_title="loss", height=460)
    return fig


def position_figure(rows: list[dict[str, Any]]) -> Any:
    """Accuracy at each chain position, one line per run (the families that measure it)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for row in rows:
        accs = [v for k, v in row.items() if k.startswith(BY_POSITION)]
        fig.add_trace(go.Scatter(x=list(range(1, len(accs) + 1)), y=accs, mode="lines+markers",
                                 name=row["run"]))  # fmt: skip
    fig.update_layout(xaxis_title="chain position", yaxis_title="accuracy", height=460,
                      yaxis_range=[0, 1.02])  # fmt: skip
    return fig


def write_page(folder: Path, name: str, rows: list[dict[str, Any]], planned: int) -> Path:
    """``sweep.html`` in ``folder``: one self-contained page."""
    from algolens.report.html import render_html

    first = rows[0] if rows else {}
    columns = [c for c in SHOWN if any(c in r for r in rows)]
    columns += [c for c in first if c.startswith(("suite_", "eval_"))
                and not c.startswith(BY_POSITION)]  # fmt: skip
    table = Table(columns, [[r.get(c) for c in columns] for r in rows], "one row per run")
    sections = [
        Section(
            "Results",
            "Every finished run: results.csv and results.json hold all columns "
            "(the grid point, the intervals, the suites). late_loss_max is the highest "
            "training loss logged in the last sixth of training: a loss still jumping there "
            "is worth a look.",
            tables=[table],
            key="results",
        )
    ]
    if any(f"{d}_per_million" in r for r in rows for d in DISTRIBUTIONS):
        sections.append(Section("Failures per million", "Exact-match failures per million "
                "questions, with 95% Clopper-Pearson intervals; a hatched bar is a run with no "
                "failure, drawn at its interval's upper end.", [failure_figure(rows)],
                key="failures"))  # fmt: skip
    if any(k.startswith(BY_POSITION) for r in rows for k in r):
        sections.append(Section("Accuracy by chain position", "Each run's accuracy at each "
                "chain position, on the fresh sentences of its card.", [position_figure(rows)],
                key="positions"))  # fmt: skip
    sections.append(Section("Loss curves", "Training loss of every run.",
                            [loss_figure(folder, rows)], key="loss"))  # fmt: skip
    facts = {"runs finished": f"{len(rows)} of {planned}", "folder": str(folder)}
    html = render_html(f"Sweep {name}", sections, subtitle="algolens sweep", facts=facts)
    path = folder / "sweep.html"
    store.atomic_write(path, lambda p: p.write_text(html))
    return path
