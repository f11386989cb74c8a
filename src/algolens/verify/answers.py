"""The float32 argmax of every batch, in this process or in worker processes, in order.

On a CPU, one process with two threads answers verification's small batches (17 tokens, d_model
96) at about 1.3 times the rate of one thread: every matrix multiply is too small to split well.
Worker processes of one thread each split the batches instead of the multiplies (about 1.6 times
one thread on 2 cores, with this process drawing the questions and folding the answers).
``answers(..., workers=K)`` hands jobs of :data:`GROUP` batches to K processes (forked from this
one on Linux, so the model is shared, not copied) and yields the answers batch by batch in the
order of the batches, so whatever is folded from them is the same as with one process; each
worker screens with its own bfloat16 copy (:mod:`algolens.verify.screen`), which changes no verdict.
Inside a Ray task of one CPU torch has one thread, so :func:`auto_workers` picks one process.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np
import torch
from jaxtyping import Int
from torch import Tensor, nn

from algolens.errors import AlgolensError
from algolens.memory import keep_freed_memory
from algolens.options import Precision
from algolens.tasks.base import Batch, SequenceTask, model_device
from algolens.verify.screen import readout_logits, screen_for, screened_argmax

AUTO_MIN_BATCHES = 64  # below this, starting workers costs more than they save
# batches per job: one forward of 4 batches in a one-thread worker (1,024 questions at d_model
# 96) checked 24,300 q/s against 20,500 for one batch (median of 3 rounds, add_d5_l2, 2 workers)
GROUP = 4
_WORKER: dict[str, Any] = {}  # the worker process's model, task and precision


@torch.inference_mode()
def answer(
    model: nn.Module, task: SequenceTask, inputs: Tensor, targets: Tensor, precision: Precision
) -> tuple[Tensor, int | None]:
    """The float32 argmax at every answer position, and how many rows the screen re-checked in
    float32 (None when no screen ran)."""
    screen = screen_for(model, precision)
    if screen is None:
        return readout_logits(model, task, inputs).argmax(-1), None
    return screened_argmax(model, screen, task, inputs, targets)


@torch.inference_mode()
def answer_argmax(
    model: nn.Module, task: SequenceTask, tokens: Int[Tensor, "batch n_ctx"]
) -> Tensor:
    """Teacher-forced argmax at every answer position (the plain forward): what
    :func:`answer` must equal, for tests and benchmarks."""
    return task.answer_logits(model(tokens)).argmax(-1)


@torch.inference_mode()
def fast_answer_argmax(
    model: nn.Module, task: SequenceTask, tokens: Int[Tensor, "batch n_ctx"]
) -> Tensor:
    """:func:`answer_argmax` computing only what the answer needs, in float32.

    A causal model never needs the last token (it predicts nothing), and the model's readout
    path runs the last layer's queries, MLP and unembedding at the answer positions only.
    Rounding can differ from the full forward in the last bits; tests check equal verdicts.
    """
    return readout_logits(model, task, tokens).argmax(-1)


def auto_workers(model: nn.Module, batches: int | None) -> int:
    """One process per thread torch may use, on a CPU, for at least AUTO_MIN_BATCHES batches."""
    if model_device(model).type != "cpu" or (batches is not None and batches < AUTO_MIN_BATCHES):
        return 1
    if mp.current_process().daemon:  # a pool's worker may not start processes of its own
        return 1
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


def check_workers(model: nn.Module, workers: int) -> int:
    if workers < 1:
        raise AlgolensError(f"--workers must be at least 1, got {workers}")
    if workers > 1 and model_device(model).type != "cpu":
        raise AlgolensError("--workers K runs K CPU processes; on a GPU use one (the default)")
    return workers


def answers(
    model: nn.Module,
    task: SequenceTask,
    batches: Iterable[Batch],
    *,
    precision: Precision = "auto",
    workers: int = 1,
) -> Iterator[tuple[Batch, Tensor, int | None]]:
    """``(batch, argmax, rechecked)`` for every batch, in order; ``workers`` processes (CPU)."""
    device = model_device(model)
    if check_workers(model, workers) == 1:
        for batch in batches:
            batch = batch.to(device)
            yield batch, *answer(model, task, batch.inputs, batch.targets, precision)
        return
    pool = _pool(model, task, precision, workers)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # this process only draws and folds: idle OpenMP threads would spin
    try:
        waiting: deque[tuple[list[Batch], Future[tuple[np.ndarray, int | None]]]] = deque()
        stream = iter(batches)
        for group in iter(lambda: list(itertools.islice(stream, GROUP)), []):
            # as numpy arrays: torch would move each tensor to shared memory (slower here)
            inputs = torch.cat([b.inputs for b in group]).numpy()
            job = pool.submit(_work, inputs, torch.cat([b.targets for b in group]).numpy())
            waiting.append((group, job))
            if len(waiting) > 2 * workers:  # a bounded queue: batches are drawn as answered
                yield from _collect(*waiting.popleft())
        while waiting:
            yield from _collect(*waiting.popleft())
    finally:  # done, failed or interrupted: no worker outlives the call
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)


def _pool(
    model: nn.Module, task: SequenceTask, precision: Precision, workers: int
) -> ProcessPoolExecutor:
    """Forked workers share the model's memory (the DataLoader's pattern: one thread each, set
    before any work, so no OpenMP pool crosses the fork); elsewhere they get a pickled copy. A
    worker that dies (out of memory, killed) fails the call with BrokenProcessPool."""
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(workers, mp.get_context(method), initializer=_start,
                               initargs=(model, task, precision))  # fmt: skip


def _start(model: nn.Module, task: SequenceTask, precision: Precision) -> None:
    torch.set_num_threads(1)
    keep_freed_memory()  # no page faults afresh for every job's activations (algolens.memory)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it ends the pool
    _WORKER.update(model=model.eval(), task=task, precision=precision)


def _work(inputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, int | None]:
    model, task, precision = _WORKER["model"], _WORKER["task"], _WORKER["precision"]
    pred, again = answer(
        model, task, torch.from_numpy(inputs), torch.from_numpy(targets), precision
    )
    return pred.numpy(), again


def _collect(
    group: list[Batch], job: Future[tuple[np.ndarray, int | None]]
) -> Iterator[tuple[Batch, Tensor, int | None]]:
    """Each batch of a group with its rows of the answer (the re-checks counted on the first)."""
    pred, again = job.result()
    rows = torch.from_numpy(pred).split([len(b) for b in group])
    for i, (batch, part) in enumerate(zip(group, rows, strict=True)):
        yield batch, part, again if i == 0 or again is None else 0
