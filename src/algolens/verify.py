"""Exact-match verification: does the model give every answer token right?

Works on any :class:`~algolens.tasks.base.SequenceTask`. A question passes when the float32
argmax at every answer position equals the oracle's token. With the right answer fed in
(teacher forcing) that holds exactly when greedy decoding gets it right too: each greedy step
then sees the same prefix as the teacher-forced pass. Failing examples are shown as greedy
decoding answers them.

``verify`` (random questions, from either distribution), ``verify_exhaustive`` (every question,
resumable) and ``verify_batches`` (any questions, e.g. a family's named suites) return a
:class:`VerifyResult`: failures, a 95% Clopper-Pearson interval, the "nines", failures by
question class, by group (e.g. operator) and by answer digit, and the first failing questions.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from jaxtyping import Int
from torch import Tensor, nn
from tqdm.auto import tqdm

from algolens import store
from algolens.answers import answers, auto_workers
from algolens.errors import AlgolensError
from algolens.screen import Precision, readout_logits
from algolens.stats import clopper_pearson, nines
from algolens.tasks.base import Batch, SequenceTask, greedy_answers
from algolens.verify_state import VERSION, SavedState, is_own_state, read_state, resume_batches

Distribution = Literal["uniform", "training"]
DISTRIBUTIONS: tuple[Distribution, ...] = ("uniform", "training")
EXHAUSTIVE_LIMIT = 10**8
QUESTION_CHUNK = 4096  # questions drawn per generator call (part of the seeded stream)
# the stream's first questions, where failures are counted on the way: a quick re-check of a card
PREFIXES = (QUESTION_CHUNK, 5 * QUESTION_CHUNK)
PREFIX_QUESTIONS = PREFIXES[0]


def require_sequence(task: Any) -> SequenceTask:
    """The task, if its answers can be verified token by token; one clear line otherwise."""
    if not isinstance(task, SequenceTask):
        name = getattr(task, "name", type(task).__name__)
        raise AlgolensError(
            f"verify checks tasks whose answer is a token sequence; {name!r} is measured by "
            "its evaluation instead (algolens info, algolens analyse)"
        )
    return task


@torch.inference_mode()
def answer_argmax(
    model: nn.Module, task: SequenceTask, tokens: Int[Tensor, "batch n_ctx"]
) -> Tensor:
    """Teacher-forced argmax at every answer position (the plain forward)."""
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
    precision: str = "float32"  # or "bfloat16 screen": see algolens.screen
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


# ---- drivers ---------------------------------------------------------------------------------
def verify_batches(
    model: nn.Module,
    task: SequenceTask,
    batches: Iterable[Batch],
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
    :mod:`algolens.screen`); ``float32`` runs float32 alone; ``bfloat16`` forces the screen.
    ``workers`` > 1 answers the batches in that many one-thread CPU processes and folds them in
    order (same result: see :mod:`algolens.answers`); ``on_batch`` is called after each fold.
    """
    task = require_sequence(task)
    model.eval()
    res = result or VerifyResult(source, task.answer_names, max_examples=examples)
    res.separator = task.predict_separator
    for batch, pred, again in answers(model, task, batches, precision, workers):
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
    task: SequenceTask, questions: int, distribution: Distribution, seed: int, batch_size: int
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
    batches = random_batches(task, questions, distribution, seed, bs)
    workers = auto_workers(model, math.ceil(questions / bs)) if workers is None else workers
    bar = tqdm(total=questions, disable=not progress, unit="q", unit_scale=True, desc=distribution)
    source = f"{questions:,} {distribution} questions (seed {seed})"
    res = VerifyResult(source, task.answer_names, max_examples=examples)

    def folded(batch: Batch) -> None:
        bar.update(len(batch))
        if res.questions in PREFIXES:
            res.prefix = [*(res.prefix or []), [res.questions, res.failures]]

    verify_batches(model, task, batches, source, examples, res, precision, workers, folded)
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
    task: SequenceTask, batch_size: int, start_batch: int = 0
) -> Iterator[Batch]:
    """Every question of the task, in batches, from batch ``start_batch`` on."""
    size = task.exhaustive_size()
    for start in range(start_batch * batch_size, size, batch_size):
        yield task.exhaustive_batch(start, min(start + batch_size, size))


def verify_exhaustive(
    model: nn.Module,
    task: SequenceTask,
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
    :mod:`algolens.verify_state`, which refuses any other file). ``stop_after`` batches (tests)
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
        exhaustive_batches(task, batch_size, done_batches), last - done_batches
    )
    saver = _Saver(state_path, key, done_batches, res)
    bar = tqdm(total=size, initial=res.questions, disable=not progress, unit="q", unit_scale=True)
    bar.set_description("verify (exhaustive)")
    res.complete = False

    def folded(batch: Batch) -> None:
        saver.folded()
        bar.update(len(batch))

    try:
        verify_batches(model, task, batches, res.source, examples, res, precision, workers, folded)
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
