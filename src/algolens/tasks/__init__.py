"""The ground floor of tasks: the contract every task family writes its task against."""

from algolens.tasks.base import (
    Batch,
    SequenceTask,
    SequenceTaskBase,
    Task,
    TaskBase,
    answer_logprobs,
    answer_output,
    greedy_answers,
)

__all__ = [
    "Batch",
    "SequenceTask",
    "SequenceTaskBase",
    "Task",
    "TaskBase",
    "answer_logprobs",
    "answer_output",
    "greedy_answers",
]
