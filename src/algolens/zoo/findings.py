"""The seeds' findings, measured on our own runs.

- Depth: the 1-layer model fails on carry cascades while the 2-layer one does not
  (:func:`failures_by_class` on the cascade suite).
- Reuse: a mixed add/sub model initialised from an addition model reaches its accuracy in fewer
  steps than one trained from scratch (:func:`accuracy_curve` over the checkpoints a run kept,
  :func:`steps_to` reads the first step that meets a bar).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from algolens.store import load_run, load_weights


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


def accuracy_curve(run_dir: Path, questions: int = 20_000, seed: int = 1) -> list[CurvePoint]:
    """Exact-match accuracy of every kept checkpoint (``checkpoints/step_*.safetensors``).

    Every checkpoint sees the same questions from the enriched training generator, so the curve
    compares like with like, between checkpoints and between runs of the same task.
    """
    from algolens.verify import verify

    run = load_run(run_dir)
    points = []
    for path in sorted((Path(run_dir) / "checkpoints").glob("step_*.safetensors")):
        load_weights(run.model, path)
        run.model.eval()
        res = verify(run.model, run.task, questions=questions, distribution="training", seed=seed)
        by_op = res.to_dict()["by_op"]
        points.append(
            CurvePoint(
                step=int(path.stem.split("_")[1]),
                questions=res.questions,
                failures=res.failures,
                add_failures=int(by_op.get("add", {}).get("failures", 0)),
                sub_failures=int(by_op.get("sub", {}).get("failures", 0)),
            )
        )
    return points


def steps_to(curve: list[CurvePoint], accuracy: float) -> int | None:
    """The first kept step whose accuracy reaches ``accuracy`` (None if none does)."""
    return next((p.step for p in curve if p.accuracy >= accuracy), None)


def curve_to_json(curve: list[CurvePoint]) -> list[dict[str, Any]]:
    return [asdict(p) | {"accuracy": p.accuracy} for p in curve]
