"""Model reuse, measured: accuracy over the checkpoints a run kept, on fixed questions.

The second paper (Quirke, Neo & Barez 2024) initialises a mixed add/sub model from a trained
addition model ("ins1") and finds it learns faster. :func:`accuracy_curve` measures every kept
checkpoint on the same questions; :func:`steps_to` reads the first step that meets a bar.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

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
