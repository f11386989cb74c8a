"""The verdict of exact-match verification: counts, breakdowns and the first failing questions.

:class:`VerifyResult` folds batches of predictions into failures by question class, by group
(arithmetic: ``add`` and ``sub``) and by answer digit, keeps the first failing questions, and
reports failures per million with a 95% Clopper-Pearson interval and the "nines"
(:mod:`algolens.verify.stats`). ``state()`` is what an exhaustive run's resume file and a
shard's file hold (:mod:`algolens.verify.state` checks it when read back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from algolens.tasks.base import Batch, SequenceTask
from algolens.verify.stats import clopper_pearson, nines


@dataclass
class Tally:
    questions: int = 0
    failures: int = 0

    def to_dict(self) -> dict[str, Any]:
        q, f = self.questions, self.failures
        lo, hi = clopper_pearson(f, q) if q else (0.0, 1.0)
        return {
            "questions": q,
            "failures": f,
            "failures_per_million": 1e6 * f / q if q else 0.0,
            "interval": [1e6 * lo, 1e6 * hi],
        }


@dataclass
class VerifyResult:
    """Exact-match verdict over a set of questions (counts, breakdowns, first failures).

    ``interval`` is the 95% Clopper-Pearson interval of failures per million; ``by_digit``
    counts failing questions whose answer digit is wrong, per answer token (``A5`` … ``A0``);
    ``by_group`` counts the task's question groups apart (arithmetic: ``add`` and ``sub``).
    """

    source: str
    answer_names: list[str]
    questions: int = 0
    failures: int = 0
    by_class: dict[str, list[int]] = field(default_factory=dict)  # class -> [questions, fails]
    by_group: dict[str, list[int]] = field(default_factory=dict)  # group -> [questions, fails]
    digit_failures: list[int] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    max_examples: int = 10
    complete: bool = True
    separator: str = "="  # between a question and its answer in the examples
    prefix: list[list[int]] | None = None  # [questions, failures] at each of PREFIXES
    precision: str = "float32"  # or "bfloat16 screen": see algolens.verify.screen
    rechecked: int = 0  # questions the screen handed back to float32

    def __post_init__(self) -> None:
        if not self.digit_failures:
            self.digit_failures = [0] * len(self.answer_names)

    @property
    def failures_per_million(self) -> float:
        return 1e6 * self.failures / self.questions if self.questions else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """95% Clopper-Pearson interval, in failures per million."""
        if not self.questions:
            return (0.0, 1e6)
        lo, hi = clopper_pearson(self.failures, self.questions)
        return (1e6 * lo, 1e6 * hi)

    @property
    def nines(self) -> int:
        return nines(self.failures, self.questions)

    @property
    def by_digit(self) -> dict[str, int]:
        return dict(zip(self.answer_names, self.digit_failures, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``algolens verify --json``."""
        return {
            "source": self.source,
            "complete": self.complete,
            **Tally(self.questions, self.failures).to_dict(),
            "nines": self.nines,
            "accuracy": 1 - self.failures / self.questions if self.questions else 0.0,
            "by_group": {k: Tally(*v).to_dict() for k, v in self.by_group.items()},
            "by_class": {k: Tally(*v).to_dict() for k, v in self.by_class.items()},
            "by_digit": self.by_digit,
            "prefix": self.prefix,
            "precision": self.precision,
            "rechecked": self.rechecked,
            "examples": self.examples,
        }

    def summary(self) -> str:
        """A few lines for people: verdict, interval, nines, breakdowns, first failures."""
        lo, hi = self.interval
        lines = [
            f"{self.source}: {self.failures:,} failures in {self.questions:,} questions "
            f"({self.failures_per_million:.2f} per million, 95% CI {lo:.2f}-{hi:.2f}; "
            f"{self.nines} nines)" + ("" if self.complete else " [incomplete]")
        ]
        if len(self.by_group) > 1:
            lines.append(
                "  by group: "
                + ", ".join(f"{g} {v[1]:,}/{v[0]:,}" for g, v in self.by_group.items())
            )
        if self.rechecked:
            lines.append(f"  {self.precision}: {self.rechecked:,} questions re-checked in float32")
        parts = [f"{c} {v[1]:,}/{v[0]:,}" for c, v in self.by_class.items()]
        lines.append("  by class (failures/questions): " + ", ".join(parts))
        if self.failures:
            lines.append(
                "  wrong answer digits: "
                + ", ".join(f"{d} {n:,}" for d, n in self.by_digit.items())
            )
            for ex in self.examples[:5]:
                lines.append(
                    f"  {ex['question']}{self.separator}{ex['model_answer']} "
                    f"(right {ex['right_answer']}, {ex['pattern']}, {ex['class']})"
                )
        return "\n".join(lines)

    # ---- accumulation ------------------------------------------------------------------------
    def add(self, task: SequenceTask, batch: Batch, pred: Tensor) -> None:
        """Fold one batch's predictions [batch, n_answer] into the counts (no per-row Python)."""
        wrong = pred != batch.targets  # [batch, n_answer]
        fail = wrong.any(-1)
        self.questions += len(batch)
        self.failures += int(fail.sum())
        self._count_classes(task, batch, fail)
        for group, rows in task.question_groups(batch).items():
            row = self.by_group.setdefault(group, [0, 0])
            row[0], row[1] = row[0] + int(rows.sum()), row[1] + int((fail & rows).sum())
        if not bool(fail.any()):
            return
        per_digit = wrong[fail].sum(0).tolist()
        self.digit_failures = [
            a + int(b) for a, b in zip(self.digit_failures, per_digit, strict=True)
        ]
        need = self.max_examples - len(self.examples)
        if need > 0:
            self._examples(task, batch, pred, fail.nonzero()[:need, 0].tolist())

    def _count_classes(self, task: SequenceTask, batch: Batch, fail: Tensor) -> None:
        names = task.class_names
        codes = task.class_codes(batch)
        total = torch.bincount(codes, minlength=len(names)).tolist()
        fails = torch.bincount(codes[fail], minlength=len(names)).tolist()
        for name, t, f in zip(names, total, fails, strict=True):
            if t:
                row = self.by_class.setdefault(name, [0, 0])
                row[0], row[1] = row[0] + t, row[1] + f

    def _examples(self, task: SequenceTask, batch: Batch, pred: Tensor, rows: list[int]) -> None:
        classes = task.question_classes(batch)
        n_q = task.answer_start - 1  # the question, without the separator before the answer
        for i in rows:
            wrong = (pred[i] != batch.targets[i]).tolist()
            self.examples.append(
                {
                    "question": task.decode(batch.inputs[i, :n_q]),
                    "model_answer": task.decode(pred[i]),
                    "right_answer": task.decode(batch.targets[i]),
                    "pattern": "".join("N" if w else "y" for w in wrong),
                    "class": classes[i],
                }
            )

    def state(self) -> dict[str, Any]:
        return asdict(self)
