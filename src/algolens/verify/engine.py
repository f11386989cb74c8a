"""Exact-match verification: does the model give every answer token right?

Works on any :class:`~algolens.tasks.base.SequenceTask`. A question passes when the float32
argmax at every answer position equals the oracle's token. With the right answer fed in
(teacher forcing) that holds exactly when greedy decoding gets it right too: each greedy step
then sees the same prefix as the teacher-forced pass. Failing examples are shown as greedy
decoding answers them.

The drivers draw the questions and fold the answers: ``verify`` (random questions, from either
distribution), ``verify_exhaustive`` (every question, resumable through
:mod:`algolens.verify.state`) and ``verify_batches`` (any questions, e.g. a family's named
suites). Each hands its batches to :mod:`algolens.verify.answers` and folds the answers into a
:class:`~algolens.verify.result.VerifyResult`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from algolens import store
from algolens.errors import AlgolensError
from algolens.options import Precision
from algolens.tasks.base import Batch, SequenceTask, greedy_answers
from algolens.verify.answers import answers, auto_workers
from algolens.verify.result import VerifyResult
from algolens.verify.state import VERSION, SavedState, is_own_state, read_state, resume_batches

Distribution = Literal["uniform", "training"]
DISTRIBUTIONS: tuple[Distribution, ...] = ("uniform", "training")
EXHAUSTIVE_LIMIT = 10**8
QUESTION_CHUNK = 4096  # questions drawn per generator call (part of the seeded stream)
# the stream's first questions, where failures are counted on the way: a quick re-check of a card
PREFIXES = (QUESTION_CHUNK, 5 * QUESTION_CHUNK)


def require_sequence(task: Any) -> SequenceTask:
    """The task, if its answers can be verified token by token; one clear line otherwise."""
    if not isinstance(task, SequenceTask):
        name = getattr(task, "name", type(task).__name__)
        raise AlgolensError(
            f"verify checks tasks whose answer is a token sequence; {name!r} is measured by "
            "its evaluation instead (algolens info, algolens analyse)"
        )
    return task


# ---- drivers ---------------------------------------------------------------------------------
def verify_batches(
    model: nn.Module,
    task: SequenceTask,
    batches: Iterable[Batch],
    *,
    source: str,
    examples: int = 10,
    result: VerifyResult | None = None,
    precision: Precision = "auto",
    workers: int = 1,
    on_batch: Callable[[Batch], None] | None = None,
) -> VerifyResult:
    """Fold every batch into a :class:`VerifyResult` (exact float32 argmax vs the oracle).

    ``precision`` ``auto`` screens with a bfloat16 copy of the model where the hardware has
    native bfloat16, re-checking in float32 every answer it is unsure of (same verdicts: see
    :mod:`algolens.verify.screen`); ``float32`` runs float32 alone; ``bfloat16`` forces the screen.
    ``workers`` > 1 answers the batches in that many one-thread CPU processes and folds them in
    order (same result: see :mod:`algolens.verify.answers`); ``on_batch`` is called after each fold.
    """
    task = require_sequence(task)
    model.eval()
    res = result or VerifyResult(source, task.answer_names, max_examples=examples)
    res.separator = task.predict_separator
    for batch, pred, again in answers(model, task, batches, precision=precision, workers=workers):
        if again is not None:
            res.precision, res.rechecked = "bfloat16 screen", res.rechecked + again
        before = len(res.examples)
        res.add(task, batch, pred)
        if len(res.examples) > before:
            with torch.inference_mode():
                _greedy_examples(model, task, res.examples[before:])
        if on_batch is not None:
            on_batch(batch)
    return res


def _greedy_examples(model: nn.Module, task: SequenceTask, examples: list[dict[str, Any]]) -> None:
    """Replace the examples' teacher-forced answers by what greedy decoding says.

    A question fails under teacher forcing exactly when it fails greedily, but the digits after
    the first wrong one can differ (greedy feeds its own wrong digit back in).
    """
    tokens = task.encode_batch([ex["question"] for ex in examples])
    greedy = greedy_answers(model, task, tokens)
    right = tokens[:, task.answer_start :]
    for ex, row, want in zip(examples, greedy, right, strict=True):
        ex["model_answer"] = task.decode(row)
        ex["pattern"] = "".join(
            "y" if m == r else "N" for m, r in zip(row.tolist(), want.tolist(), strict=True)
        )


def default_batch_size(model: nn.Module) -> int:
    """Batches whose MLP activations stay within about 2 MB, in cache (64 to 512): measured on
    2 cores, a 5-digit d_model 96 model checks 10-11.7k questions/s in batches of 192-256 against
    7.5k in 512 and 6.1k in 4,096; a d_model 510 one 520/s in 64 against 420-470 in 128-512."""
    cfg = getattr(model, "cfg", None)
    d_mlp = int(getattr(cfg, "d_mlp", 512) or 512)
    n_ctx = int(getattr(cfg, "n_ctx", 18) or 18)
    target = max(64, min(512, 2**21 // (d_mlp * n_ctx)))
    return 2 ** round(math.log2(target))


def random_batches(
    task: SequenceTask, *, questions: int, distribution: Distribution, seed: int, batch_size: int
) -> Iterator[Batch]:
    """``questions`` seeded random questions in batches of ``batch_size``, independent draws.

    ``training`` is the task's training mixture drawn one question at a time
    (``sample_independent``); ``uniform`` draws from the whole question space
    (``sample_uniform``). The stream depends on the seed and the number of questions drawn so
    far only, not on ``batch_size``.
    """
    if questions <= 0:
        raise AlgolensError(f"--questions must be at least 1, got {questions}")
    if distribution not in DISTRIBUTIONS:
        raise AlgolensError(f"distribution must be uniform or training, got {distribution!r}")
    draw = task.sample_independent if distribution == "training" else task.sample_uniform
    gen = torch.Generator().manual_seed(seed)
    pending: Batch | None = None
    done = 0
    while done < questions:  # fixed chunks, so that the batch size cannot move the stream
        chunk = draw(min(QUESTION_CHUNK, questions - done), gen)
        done += len(chunk)
        pending = chunk if pending is None else Batch.cat([pending, chunk])
        while len(pending) >= batch_size or (done >= questions and len(pending)):
            cut = min(batch_size, len(pending))
            yield pending.rows(0, cut)
            pending = pending.rows(cut, len(pending))


def verify(
    model: nn.Module,
    task: SequenceTask,
    *,
    questions: int = 100_000,
    distribution: Distribution = "training",
    seed: int = 0,
    batch_size: int | None = None,
    examples: int = 10,
    progress: bool = False,
    precision: Precision = "auto",
    workers: int | None = None,
) -> VerifyResult:
    """Exact-match verdict on ``questions`` seeded random questions (the papers' 1M check).

    ``prefix`` records the failures among the first 4,096 and 20,480 questions (:data:`PREFIXES`),
    which are the same for any ``questions`` at least that large: a card can be re-checked
    quickly (recorded when a batch ends there, as it does for power-of-two batch sizes).
    ``workers``: one-thread CPU processes answering batches (default: one per core torch may
    use, for 64 batches or more; the result is the same for any number).
    """
    task = require_sequence(task)
    bs = batch_size or default_batch_size(model)
    batches = random_batches(
        task, questions=questions, distribution=distribution, seed=seed, batch_size=bs
    )
    workers = auto_workers(model, math.ceil(questions / bs)) if workers is None else workers
    bar = tqdm(total=questions, disable=not progress, unit="q", unit_scale=True, desc=distribution)
    source = f"{questions:,} {distribution} questions (seed {seed})"
    res = VerifyResult(source, task.answer_names, max_examples=examples)

    def folded(batch: Batch) -> None:
        bar.update(len(batch))
        if res.questions in PREFIXES:
            res.prefix = [*(res.prefix or []), [res.questions, res.failures]]

    verify_batches(model, task, batches, source=source, result=res, precision=precision,
                   workers=workers, on_batch=folded)  # fmt: skip
    bar.close()
    return res


# ---- every question ------------------------------------------------------------------------------
def model_fingerprint(model: nn.Module) -> str:
    """sha256 of the weights: a resume state only applies to the model that wrote it."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def exhaustive_batches(
    task: SequenceTask, *, batch_size: int, start_batch: int = 0
) -> Iterator[Batch]:
    """Every question of the task, in batches, from batch ``start_batch`` on."""
    size = task.exhaustive_size()
    for start in range(start_batch * batch_size, size, batch_size):
        yield task.exhaustive_batch(start, min(start + batch_size, size))


def verify_exhaustive(
    model: nn.Module,
    task: SequenceTask,
    *,
    state_path: Path | None = None,
    batch_size: int | None = None,
    examples: int = 10,
    progress: bool = False,
    stop_after: int | None = None,
    precision: Precision = "auto",
    workers: int | None = None,
) -> VerifyResult:
    """Every question (at most 10^8), resumable: progress is saved to ``state_path`` every few
    seconds and when interrupted (Ctrl-C), and a later call with the same model and task
    continues from there (in its batch size unless another one divides the questions done: see
    :mod:`algolens.verify.state`, which refuses any other file). ``stop_after`` batches (tests)
    returns an incomplete result. The state file is removed when done. ``workers`` as in
    :func:`verify`.
    """
    task = require_sequence(task)
    size = task.exhaustive_size()
    if not 0 < size <= EXHAUSTIVE_LIMIT:
        raise AlgolensError(
            f"--exhaustive needs a space of 1 to 10^8 questions; this task has {size:.1e}"
        )
    key = {"task": task.to_dict(), "model": model_fingerprint(model), "v": VERSION}
    saved = read_state(state_path, key, size, task.answer_names)  # checked; None if no file
    batch_size = batch_size or (saved.batch_size if saved else default_batch_size(model))
    key["batch_size"] = batch_size
    res, done_batches = _resume_state(saved, state_path, batch_size, size, task, examples)
    total_batches = math.ceil(size / batch_size)
    last = total_batches if stop_after is None else min(total_batches, done_batches + stop_after)
    workers = auto_workers(model, last - done_batches) if workers is None else workers
    batches = itertools.islice(
        exhaustive_batches(task, batch_size=batch_size, start_batch=done_batches),
        last - done_batches,
    )
    saver = _Saver(state_path, key, done_batches, res)
    bar = tqdm(total=size, initial=res.questions, disable=not progress, unit="q", unit_scale=True)
    bar.set_description("verify (exhaustive)")
    res.complete = False

    def folded(batch: Batch) -> None:
        saver.folded()
        bar.update(len(batch))

    try:
        verify_batches(model, task, batches, source=res.source, result=res,
                       precision=precision, workers=workers, on_batch=folded)  # fmt: skip
        res.complete = saver.batches == total_batches
    finally:  # interrupted or stopped: the last whole batch's state, so a rerun resumes there
        bar.close()
        if not res.complete:
            saver.write()
    if res.complete and state_path is not None and is_own_state(state_path, key):
        state_path.unlink()
    return res


class _Saver:
    """An exhaustive run's resume state, written every few seconds and when it stops."""

    def __init__(
        self, path: Path | None, key: dict[str, Any], batches: int, res: VerifyResult
    ) -> None:
        self.path, self.key, self.batches, self.res = path, key, batches, res
        self.snapshot = self._state()
        self.last_write = time.monotonic()

    def _state(self) -> dict[str, Any]:
        return {"key": self.key, "batches": self.batches, "result": self.res.state()}

    def folded(self) -> None:
        self.batches += 1
        self.snapshot = self._state()
        if self.path is not None and time.monotonic() - self.last_write > 2.0:
            self.write()

    def write(self) -> None:
        if self.path is not None:
            store.write_json(self.path, self.snapshot)
            self.last_write = time.monotonic()


def _resume_state(
    saved: SavedState | None,
    path: Path | None,
    batch_size: int,
    size: int,
    task: SequenceTask,
    examples: int,
) -> tuple[VerifyResult, int]:
    """The verdict so far and the batches of ``batch_size`` done: a fresh one with no state."""
    if saved is None or path is None:
        fresh = VerifyResult(f"all {size:,} questions", task.answer_names, max_examples=examples)
        return fresh, 0
    return VerifyResult(**saved.result), resume_batches(saved, batch_size, size, path)
