"""Which token sits where in an arithmetic question, and the question sets the analyses use."""

from __future__ import annotations

import torch
from torch import Tensor

from algolens.families.arithmetic.task import ArithmeticTask
from algolens.tasks.base import Batch, on_cpu


def position_name(pos: int) -> str:
    return f"P{pos}"


def token_roles(task: ArithmeticTask) -> list[str]:
    """What each position holds: ``['D4', …, 'D0', '+', "D'4", …, '=', 'A5', …, 'A0']``."""
    n = task.n_digits
    op = {"add": "+", "sub": "-", "mix": "±"}[task.op]
    return (
        [f"D{n - 1 - i}" for i in range(n)]
        + [op]
        + [f"D'{n - 1 - i}" for i in range(n)]
        + ["="]
        + task.answer_names
    )


def digit_positions(task: ArithmeticTask, column: int) -> tuple[int, int]:
    """Positions of the question digits D_c and D'_c of column ``column`` (units = 0)."""
    n = task.n_digits
    return n - 1 - column, 2 * n - column


def predicting_position(task: ArithmeticTask, digit: int) -> int:
    """The position whose logits predict answer digit A_digit (one before it is emitted)."""
    return task.answer_start - 1 + (task.n_digits - digit)


@on_cpu
def sample_questions(task: ArithmeticTask, n: int, seed: int = 0) -> Batch:
    """``n`` questions from the task's (enriched) training generator under ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return task.sample(n, gen) if n else task.sample(1, gen)


@on_cpu
def class_balanced_questions(task: ArithmeticTask, per_class: int, seed: int = 0) -> Batch:
    """Up to ``per_class`` questions of every question class (cascades are rare otherwise)."""
    gen = torch.Generator().manual_seed(seed)
    enriched = ArithmeticTask(task.op, task.n_digits, 1.0, 0.45, task.sub_share)
    picked: dict[str, list[Tensor]] = {c: [] for c in task.class_names}
    for attempt in range(50):
        batch = enriched.sample(4096, gen)
        for i, name in enumerate(task.question_classes(batch)):
            if len(picked[name]) < per_class:
                picked[name].append(batch.inputs[i])
        # a class still empty after a few batches cannot occur (a cascade needs 3+ digits)
        if all(len(v) >= per_class or (attempt >= 4 and not v) for v in picked.values()):
            break
    rows = [t for v in picked.values() for t in v]
    return task.batch_from_tokens(torch.stack(rows))
