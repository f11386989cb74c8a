"""Model reuse, measured: accuracy over the checkpoints a run kept, on fixed questions.

The second paper (Quirke, Neo & Barez 2024) initialises a mixed add/sub model from a trained
addition model ("ins1") and finds it learns faster. :func:`accuracy_curve` measures every kept
checkpoint on the same questions; :func:`steps_to` reads the first step that meets a bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from algolens.analysis.claims import Claim
from algolens.families.arithmetic.claims import CONFIRM, MIN_ACCURACY
from algolens.sections import Section, Table
from algolens.store import load_weights
from algolens.tasks.base import SequenceTask
from algolens.verify import verify


@dataclass
class CurvePoint:
    """Accuracy of one kept checkpoint on a fixed question set."""

    step: int
    questions: int
    failures: int
    add_failures: int
    sub_failures: int

    @property
    def accuracy(self) -> float:
        return 1 - self.failures / self.questions


def accuracy_curve(
    model: nn.Module, task: SequenceTask, run_dir: Path, questions: int = 20_000, seed: int = 1
) -> list[CurvePoint]:
    """Exact-match accuracy of every kept checkpoint (``checkpoints/step_*.safetensors``), each
    on the same questions of the training distribution, so curves compare like with like."""
    points = []
    for path in sorted((Path(run_dir) / "checkpoints").glob("step_*.safetensors")):
        load_weights(model, path)
        model.eval()
        res = verify(model, task, questions=questions, distribution="training", seed=seed)
        groups = res.to_dict()["by_group"]
        points.append(
            CurvePoint(
                step=int(path.stem.split("_")[1]),
                questions=res.questions,
                failures=res.failures,
                add_failures=int(groups.get("add", {}).get("failures", 0)),
                sub_failures=int(groups.get("sub", {}).get("failures", 0)),
            )
        )
    return points


def steps_to(curve: list[CurvePoint], accuracy: float) -> int | None:
    """The first kept step whose accuracy reaches ``accuracy`` (None if none does)."""
    return next((p.step for p in curve if p.accuracy >= accuracy), None)


def curve_to_json(curve: list[CurvePoint]) -> list[dict[str, Any]]:
    return [asdict(p) | {"accuracy": p.accuracy} for p in curve]


# ---- the same nodes, the same jobs ----------------------------------------------------------
@dataclass
class ReuseRow:
    """One sub-task the source model confirms at a node, and what the reused model does there."""

    nodes: str
    label: str  # e.g. "SA3"
    digit: int
    source_match: float
    target_match: float | None  # None: the reused model's analysis did not test it there

    @property
    def kept(self) -> bool:
        return self.target_match is not None and self.target_match >= CONFIRM


@dataclass
class ReuseResult:
    """The source's confirmed addition sub-tasks checked in the reused model; and, by ablation in
    the reused model, the nodes subtraction uses alone (added for it) and the nodes both
    operators use (polysemantic, as the papers find for the inserted heads)."""

    source: str
    rows: list[ReuseRow]
    added_for_sub: list[str]
    shared: list[str] = field(default_factory=list)

    @property
    def overlap(self) -> float:
        return sum(r.kept for r in self.rows) / len(self.rows) if self.rows else 0.0


def compare_reuse(source_name: str, source: Any, target: Any) -> ReuseResult:
    """``source`` and ``target`` are :class:`ArithmeticAnalysis` of the addition model and of
    the model initialised from it (the papers' ins1): do the nodes keep their jobs?"""
    from algolens.families.arithmetic.subtraction import confirmed

    add_labels = ("SA", "SC", "SS", "ST")
    in_target = {_key(r): r for r in target.interventions if r.subtask in add_labels}
    rows = []
    for r in confirmed(source.interventions, add_labels):
        hit = in_target.get(_key(r))
        target_match = hit.match_informative if hit else None
        rows.append(ReuseRow(_key(r)[0], r.label, r.digit, r.match_informative, target_match))
    only_sub, both = nodes_by_operator(target)
    return ReuseResult(source_name, rows, only_sub, both)


def _key(r: Any) -> tuple[str, str, int]:
    return "+".join(r.nodes), r.label, r.digit


def nodes_by_operator(a: Any, threshold: float = 0.01) -> tuple[list[str], list[str]]:
    """Nodes whose mean ablation breaks subtraction questions only, and those breaking both
    addition and subtraction questions (> ``threshold`` of each)."""
    res, is_sub = a.nodes, a.questions.labels["is_sub"]
    new_fail = res.failed & ~res.clean_failed  # [node, question]
    rate_sub = new_fail[:, is_sub].double().mean(-1) if bool(is_sub.any()) else None
    rate_add = new_fail[:, ~is_sub].double().mean(-1) if bool((~is_sub).any()) else None
    if rate_sub is None or rate_add is None:
        return [], []
    names = [n.name for n in res.nodes]
    only_sub = [m for m, s, d in zip(names, rate_sub, rate_add, strict=True) if s > threshold >= d]
    both = [
        m
        for m, s, d in zip(names, rate_sub, rate_add, strict=True)
        if s > threshold and d > threshold
    ]
    return only_sub, both


def reuse_claim(result: ReuseResult | None, accuracy: float) -> Claim | None:
    """Quirke, Neo & Barez 2024: the inserted addition nodes keep their jobs in the mixed model
    (their ins1 model: 88% of inserted nodes used by addition)."""
    if result is None:
        return None
    claim = f"The nodes reused from {result.source} do the same job in the mixed model"
    expected = (
        f">= 3 sub-tasks confirmed in the source, and >= 50% of them confirmed (>= "
        f"{CONFIRM:.0%}) at the same nodes on addition questions"
    )
    kept = sum(r.kept for r in result.rows)
    measured = (
        f"{kept} of {len(result.rows)} kept ({result.overlap:.0%}); added for "
        f"subtraction: {', '.join(result.added_for_sub) or 'none'}"
    )
    if accuracy < MIN_ACCURACY:
        measured = f"the model answers only {accuracy:.1%} right; " + measured
    passed = accuracy >= MIN_ACCURACY and len(result.rows) >= 3 and result.overlap >= 0.5
    return Claim(claim, expected, measured, passed, "Quirke, Neo & Barez 2024")


# ---- the reuse comparison across models ----------------------------------------------------
def comparison_rows(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per mixed model card with a learning curve (Quirke, Neo & Barez 2024's reuse
    comparison): how it started (scratch, ins1, ins2, ins3), its subtraction share, the first
    kept steps at 99%, 99.9% and no failure on the curve's fixed questions, and its final
    failures per million (add/sub) on both million-question distributions."""
    rows = []
    for card in cards:
        curve = card.get("learning_curve")
        if card.get("task", {}).get("name") != "mix" or not curve:
            continue
        init = card.get("training", {}).get("init", {})
        row: dict[str, Any] = {
            "model": card["name"],
            "start": init.get("reuse") or "scratch",
            "source": init.get("source"),
            "sub_share": card["task"].get("sub_share"),
            "steps": card["training"]["steps"],
            "checkpoint_every": _spacing(curve["points"]),
            **{f"steps_to_{k}": v for k, v in curve["steps_to"].items()},
        }
        for dist in ("uniform", "training"):
            rec = card.get("verification", {}).get(dist, {})
            groups = rec.get("by_group", {})
            row[f"{dist}_add_sub"] = [groups.get(g, {}).get("failures") for g in ("add", "sub")]
            row[f"{dist}_questions"] = rec.get("questions")
        rows.append(row)
    return rows


def _spacing(points: list[dict[str, Any]]) -> int | None:
    steps = [p["step"] for p in points]
    return steps[1] - steps[0] if len(steps) > 1 else None


def comparison_figure(cards: list[dict[str, Any]]) -> Any:
    """The reuse comparison as learning curves: wrong answers on each mixed card's fixed curve
    questions against the training step, one line per model (log scale; a checkpoint with no
    wrong answer is drawn at 0.5 and marked so on hover)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for card in cards:
        curve = card.get("learning_curve")
        if card.get("task", {}).get("name") != "mix" or not curve:
            continue
        start = card.get("training", {}).get("init", {}).get("reuse") or "scratch"
        points = curve["points"]
        fig.add_trace(go.Scatter(
            x=[p["step"] for p in points], y=[max(p["failures"], 0.5) for p in points],
            mode="lines+markers", name=f"{card['name']} ({start})",
            text=[f"{p['failures']} wrong of {p['questions']:,}" for p in points],
            hovertemplate="step %{x}: %{text}",
        ))  # fmt: skip
    fig.update_layout(
        yaxis_type="log", xaxis_title="training step", height=460,
        yaxis_title="wrong answers on the fixed questions (0 drawn at 0.5)",
        title="Reuse (Quirke, Neo & Barez 2024): from scratch against ins1, ins2 and ins3",
    )  # fmt: skip
    return fig


def comparison_section(cards: list[dict[str, Any]], this: str = "") -> Section | None:
    """The reuse comparison as a report section (table and learning curves) over ``cards``,
    marking the row of the model ``this`` report is about; ``None`` without mixed curves."""
    rows = comparison_rows(cards)
    if not rows:
        return None
    columns = ["model", "start", "subtraction share", "steps", "99%", "99.9%", "no failure",
               "uniform add/sub", "training add/sub"]  # fmt: skip
    table = [
        [f"{r['model']} (this model)" if r["model"] == this else r["model"], r["start"],
         r["sub_share"], r["steps"],
         *(_never(r.get(f"steps_to_{k}")) for k in ("99%", "99.9%", "no failure")),
         pair_text(r, "uniform"), pair_text(r, "training")]
        for r in rows
    ]  # fmt: skip
    text = ("How the zoo's mixed models learned (Quirke, Neo & Barez 2024's reuse comparison): "
            "the first kept checkpoint at 99%, 99.9% and no failure on each model's fixed "
            "enriched questions, and the final failures in a million questions of each "
            "distribution. One seed each.")  # fmt: skip
    return Section("Reuse: from scratch against ins1, ins2 and ins3", text,
                   [comparison_figure(cards)], [Table(columns, table)], ["reuse-curves"],
                   "reuse-comparison")  # fmt: skip


def _never(step: int | None) -> Any:
    return "never" if step is None else step


def pair_text(row: dict[str, Any], dist: str) -> str:
    add, sub = row[f"{dist}_add_sub"]
    n = row.get(f"{dist}_questions")
    return f"{add}/{sub} of {n:,}" if n else "-"


def zoo_sections(run: Any, cards: Callable[[], list[dict[str, Any]]]) -> list[Section]:
    """The family's ``zoo_sections`` hook: a mixed add/sub model's report carries the reuse
    comparison over the zoo's mixed models (``cards()`` reads them); other models get none and
    read no card."""
    if run.task.name != "mix":
        return []
    section = comparison_section(cards(), this=run.name)
    return [section] if section is not None else []
