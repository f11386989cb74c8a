"""Exact-match evaluation: does the model give every answer token right?

Verification runs in float32 under ``torch.inference_mode``: a question passes when the argmax
at every answer position equals the oracle's token. With the right answer fed in (teacher
forcing), that holds exactly when greedy decoding also gives the right answer: each greedy step
then sees the same prefix as the teacher-forced pass.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from jaxtyping import Int
from torch import Tensor, nn

from algolens.tasks.arithmetic import ArithmeticTask
from algolens.tasks.base import Batch


@torch.inference_mode()
def answer_argmax(
    model: nn.Module, task: ArithmeticTask, tokens: Int[Tensor, "batch n_ctx"]
) -> Int[Tensor, "batch n_answer"]:
    """Teacher-forced argmax at every answer position."""
    return task.answer_logits(model(tokens)).argmax(-1)


@torch.inference_mode()
def greedy_answers(
    model: nn.Module, task: ArithmeticTask, tokens: Int[Tensor, "batch n_ctx"]
) -> Int[Tensor, "batch n_answer"]:
    """Greedy decoding: each answer token is the argmax given the model's own earlier tokens."""
    seq = tokens.clone()
    start = task.answer_start
    for k in range(task.n_answer):
        logits = model(seq[:, : start + k])
        seq[:, start + k] = logits[:, -1].argmax(-1)
    return seq[:, start:]


def predict(model: nn.Module, task: ArithmeticTask, questions: list[str]) -> list[str]:
    """``predict(model, task, ['12+34']) == ['046']`` for a working 2-digit addition model."""
    tokens = task.encode_batch(questions)
    answers = greedy_answers(model, task, tokens)
    return [task.decode(row) for row in answers]


def exhaustive_batches(task: ArithmeticTask, batch_size: int = 16384) -> Iterator[Batch]:
    """Every question of the task (every a, b and, for mix, both operators), in batches."""
    n = task.n_digits
    count = 10**n
    ops = {"add": [False], "sub": [True], "mix": [False, True]}[task.op]
    powers = 10 ** torch.arange(n - 1, -1, -1)
    for is_sub in ops:
        for start in range(0, count * count, batch_size):
            idx = torch.arange(start, min(start + batch_size, count * count))
            a, b = idx // count, idx % count
            x = (a[:, None] // powers) % 10
            y = (b[:, None] // powers) % 10
            yield task.make_batch(x, y, torch.full((len(idx),), is_sub))


@torch.inference_mode()
def count_failures(
    model: nn.Module, task: ArithmeticTask, batches: Iterator[Batch]
) -> tuple[int, int]:
    """(questions, failures) over the batches, by teacher-forced argmax."""
    model.eval()
    total = failures = 0
    for batch in batches:
        wrong = (answer_argmax(model, task, batch.inputs) != batch.targets).any(-1)
        total += len(batch)
        failures += int(wrong.sum())
    return total, failures
