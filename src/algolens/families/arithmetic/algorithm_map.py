"""The algorithm map: per answer digit, the nodes it needs and what each of them computes.

Tags per node, like the papers' "quanta" maps: the answer digits its ablation breaks, the digit
pair it attends to, and the sub-task (``SA2``, ``ST1``, ...) an interchange intervention
confirms. Saved as JSON next to the report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from algolens.analysis.ablation import AblationResult
from algolens.families.arithmetic.interventions import InterventionResult
from algolens.families.arithmetic.staircase import Staircase


@dataclass
class NodeTags:
    """What one node does."""

    node: str
    failure_rate: float
    breaks: list[str]  # answer digits, e.g. ['A3']
    failing_classes: list[str]
    attends: str = ""  # e.g. "D2 D'2" for a pair, or the top positions
    subtask: str = ""  # best-confirmed sub-task, e.g. "SA2"; "" when none passes
    subtask_score: float = 0.0
    candidates: dict[str, float] = field(default_factory=dict)


@dataclass
class AlgorithmMap:
    """Per answer digit the needed nodes; per node its tags."""

    digits: dict[str, list[str]]
    nodes: dict[str, NodeTags]
    threshold: float

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "digits": self.digits,
            "nodes": {k: asdict(v) for k, v in self.nodes.items()},
        }

    @classmethod
    def load(cls, path: Path) -> AlgorithmMap:
        data = json.loads(Path(path).read_text())
        nodes = {k: NodeTags(**v) for k, v in data["nodes"].items()}
        return cls(digits=data["digits"], nodes=nodes, threshold=data["threshold"])


def build_map(
    ablation: AblationResult,
    stair: Staircase | None,
    interventions: list[InterventionResult],
    threshold: float = 0.01,
    confirm: float = 0.8,
) -> AlgorithmMap:
    """Tag every node whose ablation breaks some digit in more than ``threshold`` of questions.

    A node's sub-task is the candidate whose prediction its interventions match best, if that
    share (over informative pairs) reaches ``confirm``.
    """
    rates = ablation.extra_failure_rate().tolist()
    breaks = ablation.impacted_digits(threshold)
    classes = ablation.failing_classes(threshold)
    digits: dict[str, list[str]] = {d: [] for d in ablation.answer_names}
    nodes: dict[str, NodeTags] = {}
    for i, node in enumerate(ablation.nodes):
        if not breaks[i]:
            continue
        tags = NodeTags(node.name, rates[i], breaks[i], classes[i])
        if stair is not None and node.kind == "head" and node.pos in stair.positions:
            col = int(stair.column[node.layer, node.head, stair.positions.index(node.pos)])
            if col >= 0:
                tags.attends = f"D{col} D'{col}"
        nodes[node.name] = tags
        for d in breaks[i]:
            digits[d].append(node.name)
    for res in interventions:
        pair = len(res.nodes) > 1
        for name in res.nodes:
            if name not in nodes:
                continue
            tags = nodes[name]
            key = f"{res.label}->A{res.digit}" + (" with " + "+".join(res.nodes) if pair else "")
            tags.candidates[key] = round(res.match_informative, 4)
            if res.informative and res.match_informative > tags.subtask_score:
                tags.subtask_score = res.match_informative
                label = res.label + (" (pair)" if pair else "")
                tags.subtask = label if res.match_informative >= confirm else ""
    return AlgorithmMap(digits=digits, nodes=nodes, threshold=threshold)
