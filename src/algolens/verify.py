"""Exact-match evaluation: does the model give every answer token right?

Verification runs in float32 under ``torch.inference_mode``: a question passes when the argmax
at every answer position equals the oracle's token. With the right answer fed in (teacher
forcing), that holds exactly when greedy decoding also gives the right answer: each greedy step
then sees the same prefix as the teacher-forced pass.

``verify`` (random questions), ``verify_exhaustive`` (every question, resumable) and
``verify_suite`` (named lists, see :mod:`algolens.suites`) all return a :class:`VerifyResult`
with the failure count, a 95% Clopper-Pearson interval, the "nines", a breakdown by question
class and by answer digit, and the first failing questions.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from jaxtyping import Int
from torch import Tensor, nn
from tqdm.auto import tqdm

from algolens.errors import AlgolensError
from algolens.stats import clopper_pearson, nines
from algolens.store import write_json
from algolens.tasks.arithmetic import ArithmeticTask
from algolens.tasks.base import Batch, answer_output

Distribution = Literal["uniform", "training"]
EXHAUSTIVE_LIMIT = 10**8


@torch.inference_mode()
def answer_argmax(
    model: nn.Module, task: ArithmeticTask, tokens: Int[Tensor, "batch n_ctx"]
) -> Int[Tensor, "batch n_answer"]:
    """Teacher-forced argmax at every answer position."""
    return task.answer_logits(model(tokens)).argmax(-1)


@torch.inference_mode()
def fast_answer_argmax(
    model: nn.Module, task: ArithmeticTask, tokens: Int[Tensor, "batch n_ctx"]
) -> Int[Tensor, "batch n_answer"]:
    """:func:`answer_argmax` computing only what the answer needs, in float32.

    A causal model never needs the last token (it predicts nothing), and the model's readout
    path runs the last layer's queries, MLP and unembedding at the answer positions only
    (about a third fewer multiply-adds for the 5-digit 2-layer model). Rounding can differ
    from the full forward in the last bits (other matrix shapes); tests check equal verdicts.
    """
    if getattr(getattr(model, "cfg", None), "causal", False):
        tokens = tokens[:, :-1]
    with torch.autocast("cpu", enabled=False):
        return answer_output(task, model, tokens).argmax(-1)


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
    if hasattr(task, "predict"):  # tasks whose inputs are not a token sequence answer themselves
        return task.predict(model, questions)  # type: ignore[no-any-return]
    tokens = task.encode_batch(questions)
    answers = greedy_answers(model, task, tokens)
    return [task.decode(row) for row in answers]


def exhaustive_batches(
    task: ArithmeticTask, batch_size: int = 16384, start_batch: int = 0
) -> Iterator[Batch]:
    """Every question of the task (every a, b and, for mix, both operators), in batches."""
    n = task.n_digits
    count = 10**n
    ops = {"add": [False], "sub": [True], "mix": [False, True]}[task.op]
    powers = 10 ** torch.arange(n - 1, -1, -1)
    index = 0
    for is_sub in ops:
        for start in range(0, count * count, batch_size):
            index += 1
            if index <= start_batch:
                continue
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


# ---- the result ------------------------------------------------------------------------------
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
    counts failing questions whose answer digit is wrong, per digit (``A5`` … ``A0``).
    """

    source: str
    answer_names: list[str]
    questions: int = 0
    failures: int = 0
    by_class: dict[str, list[int]] = field(default_factory=dict)  # class -> [questions, fails]
    by_op: dict[str, list[int]] = field(default_factory=dict)  # add / sub -> [questions, fails]
    digit_failures: list[int] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    max_examples: int = 10
    complete: bool = True
    prefix: list[int] | None = None  # [questions, failures] over the stream's first questions

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
            "by_op": {k: Tally(*v).to_dict() for k, v in self.by_op.items()},
            "by_class": {k: Tally(*v).to_dict() for k, v in self.by_class.items()},
            "by_digit": self.by_digit,
            "prefix": self.prefix,
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
        if len(self.by_op) > 1:
            parts = [f"{op} {v[1]:,}/{v[0]:,}" for op, v in self.by_op.items()]
            lines.append("  by operator: " + ", ".join(parts))
        parts = [f"{c} {v[1]:,}/{v[0]:,}" for c, v in self.by_class.items()]
        lines.append("  by class (failures/questions): " + ", ".join(parts))
        if self.failures:
            parts = [f"{d} {n:,}" for d, n in self.by_digit.items()]
            lines.append("  wrong answer digits: " + ", ".join(parts))
            for ex in self.examples[:5]:
                lines.append(
                    f"  {ex['question']}={ex['model_answer']} (right {ex['right_answer']}, "
                    f"{ex['pattern']}, {ex['class']})"
                )
        return "\n".join(lines)

    # ---- accumulation ------------------------------------------------------------------------
    def add(self, task: ArithmeticTask, batch: Batch, pred: Tensor) -> None:
        """Fold one batch's predictions [batch, n_answer] into the counts (no per-row Python)."""
        wrong = pred != batch.targets  # [batch, n_answer]
        fail = wrong.any(-1)
        is_sub = batch.labels["is_sub"]
        self.questions += len(batch)
        self.failures += int(fail.sum())
        names = task.class_names  # mix: addition's four classes, then subtraction's
        codes = batch.labels["class"] + (4 if task.op == "mix" else 0) * is_sub.long()
        total = torch.bincount(codes, minlength=len(names)).tolist()
        fails = torch.bincount(codes[fail], minlength=len(names)).tolist()
        for name, t, f in zip(names, total, fails, strict=True):
            if t:
                row = self.by_class.setdefault(name, [0, 0])
                row[0], row[1] = row[0] + t, row[1] + f
        for op, rows in (("add", ~is_sub), ("sub", is_sub)):
            if task.op in (op, "mix"):
                row = self.by_op.setdefault(op, [0, 0])
                row[0], row[1] = row[0] + int(rows.sum()), row[1] + int((fail & rows).sum())
        if not bool(fail.any()):
            return
        per_digit = wrong[fail].sum(0).tolist()
        pairs = zip(self.digit_failures, per_digit, strict=True)
        self.digit_failures = [a + int(b) for a, b in pairs]
        need = self.max_examples - len(self.examples)
        if need > 0:
            rows_idx = fail.nonzero()[:need, 0]
            classes = task.question_classes(batch)
            n_q = 2 * task.n_digits + 1
            for i in rows_idx.tolist():
                self.examples.append({
                    "question": task.decode(batch.inputs[i, :n_q]),
                    "model_answer": task.decode(pred[i]),
                    "right_answer": task.decode(batch.targets[i]),
                    "pattern": "".join("N" if w else "y" for w in wrong[i].tolist()),
                    "class": classes[i],
                })  # fmt: skip

    def state(self) -> dict[str, Any]:
        return asdict(self)


# ---- drivers ---------------------------------------------------------------------------------
def _require_arithmetic(task: Any) -> ArithmeticTask:
    if not isinstance(task, ArithmeticTask):
        name = getattr(task, "name", type(task).__name__)
        raise AlgolensError(f"verify works on add, sub and mix runs; this run's task is {name!r}")
    return task


@torch.inference_mode()
def verify_batches(
    model: nn.Module,
    task: ArithmeticTask,
    batches: Iterable[Batch],
    source: str,
    examples: int = 10,
    result: VerifyResult | None = None,
) -> VerifyResult:
    """Fold every batch into a :class:`VerifyResult` (exact float32 argmax vs the oracle)."""
    task = _require_arithmetic(task)
    model.eval()
    res = result or VerifyResult(source, task.answer_names, max_examples=examples)
    for batch in batches:
        pred = fast_answer_argmax(model, task, batch.inputs)
        before = len(res.examples)
        res.add(task, batch, pred)
        if len(res.examples) > before:
            _greedy_examples(model, task, res.examples[before:])
    return res


def _greedy_examples(model: nn.Module, task: ArithmeticTask, examples: list[dict]) -> None:
    """Replace the examples' teacher-forced answers by what greedy decoding says.

    A question fails under teacher forcing exactly when it fails greedily, but the digits after
    the first wrong one can differ (greedy feeds its own wrong digit back in).
    """
    tokens = task.encode_batch([ex["question"] for ex in examples])
    greedy = greedy_answers(model, task, tokens)
    for ex, row in zip(examples, greedy, strict=True):
        ex["model_answer"] = task.decode(row)
        pairs = zip(ex["model_answer"], ex["right_answer"], strict=True)
        ex["pattern"] = "".join("y" if m == r else "N" for m, r in pairs)


def default_batch_size(model: nn.Module) -> int:
    """Batches whose MLP activations stay within about 8 MB (cache-sized), at most 512: on this
    2-core CPU 256 questions a pass beat 64 (overhead) and 1024-4096 (memory traffic) at both
    d_model 510 and 128.
    """
    cfg = getattr(model, "cfg", None)
    d_mlp = int(getattr(cfg, "d_mlp", 512) or 512)
    n_ctx = int(getattr(cfg, "n_ctx", 18) or 18)
    target = max(64, min(512, 2**23 // (d_mlp * n_ctx)))
    return 2 ** round(math.log2(target))


def random_batches(
    task: ArithmeticTask,
    questions: int,
    distribution: Distribution,
    seed: int,
    batch_size: int,
) -> Iterator[Batch]:
    """``questions`` seeded random questions in batches of ``batch_size``, independent draws.

    ``training`` is the task's training mixture (enrichment and hard cases) drawn one question
    at a time (:meth:`ArithmeticTask.sample_independent`); ``uniform`` draws every digit
    uniformly (and, for mix, the operator at even odds). The stream depends on the seed and the
    number of questions drawn so far only, not on ``batch_size``.
    """
    if questions <= 0:
        raise AlgolensError(f"--questions must be at least 1, got {questions}")
    if distribution not in ("uniform", "training"):
        raise AlgolensError(f"distribution must be uniform or training, got {distribution!r}")
    draw = task.sample_independent if distribution == "training" else task.sample_uniform
    gen = torch.Generator().manual_seed(seed)
    pending: list[Batch] = []
    done = 0
    while done < questions:  # draw in fixed chunks so that the batch size cannot move the stream
        chunk = draw(min(QUESTION_CHUNK, questions - done), gen)
        done += len(chunk)
        pending.append(chunk)
        while sum(len(b) for b in pending) >= batch_size or (done >= questions and pending):
            merged = _cat(pending)
            yield _slice(merged, 0, min(batch_size, len(merged)))
            rest = _slice(merged, min(batch_size, len(merged)), len(merged))
            pending = [rest] if len(rest) else []


QUESTION_CHUNK = 4096  # questions drawn per generator call (part of the seeded stream)


def _cat(batches: list[Batch]) -> Batch:
    if len(batches) == 1:
        return batches[0]
    return Batch(
        torch.cat([b.inputs for b in batches]),
        torch.cat([b.targets for b in batches]),
        {k: torch.cat([b.labels[k] for b in batches]) for k in batches[0].labels},
    )


def _slice(batch: Batch, start: int, stop: int) -> Batch:
    return Batch(
        batch.inputs[start:stop],
        batch.targets[start:stop],
        {k: v[start:stop] for k, v in batch.labels.items()},
    )


PREFIX_QUESTIONS = 5 * QUESTION_CHUNK  # the first 20,480 questions: a quick re-check of a card


def verify(
    model: nn.Module,
    task: ArithmeticTask,
    questions: int = 100_000,
    distribution: Distribution = "training",
    seed: int = 0,
    batch_size: int | None = None,
    examples: int = 10,
    progress: bool = False,
) -> VerifyResult:
    """Exact-match verdict on ``questions`` seeded random questions (the papers' 1M check).

    ``prefix`` records the failures among the first :data:`PREFIX_QUESTIONS` questions, which
    are the same for any ``questions`` at least that large: a card can be re-checked quickly
    (recorded when a batch ends there, as it does for power-of-two batch sizes).
    """
    task = _require_arithmetic(task)
    bs = batch_size or default_batch_size(model)
    batches = random_batches(task, questions, distribution, seed, bs)
    bar = tqdm(total=questions, disable=not progress, unit="q", unit_scale=True, desc=distribution)
    source = f"{questions:,} {distribution} questions (seed {seed})"
    res = VerifyResult(source, task.answer_names, max_examples=examples)
    for batch in _counted(batches, bar):
        verify_batches(model, task, [batch], source, examples, result=res)
        if res.questions == PREFIX_QUESTIONS:
            res.prefix = [res.questions, res.failures]
    bar.close()
    return res


def _counted(batches: Iterable[Batch], bar: Any) -> Iterator[Batch]:
    for batch in batches:
        yield batch
        bar.update(len(batch))


def exhaustive_size(task: ArithmeticTask) -> int:
    return (2 if task.op == "mix" else 1) * 10 ** (2 * task.n_digits)


def model_fingerprint(model: nn.Module) -> str:
    """sha256 of the weights: a resume state only applies to the model that wrote it."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def verify_exhaustive(
    model: nn.Module,
    task: ArithmeticTask,
    state_path: Path | None = None,
    batch_size: int | None = None,
    examples: int = 10,
    progress: bool = False,
    stop_after: int | None = None,
) -> VerifyResult:
    """Every question (at most 10^8), resumable: progress is saved to ``state_path`` every few
    seconds and when interrupted (Ctrl-C), and a later call with the same model, task and batch
    size continues from there. ``stop_after`` batches (tests) returns an incomplete result; the
    state file is removed when done.
    """
    task = _require_arithmetic(task)
    size = exhaustive_size(task)
    if size > EXHAUSTIVE_LIMIT:
        raise AlgolensError(
            f"--exhaustive needs a space of at most 10^8 questions; this task has {size:.1e}"
        )
    batch_size = batch_size or default_batch_size(model)
    key = {"task": task.to_dict(), "model": model_fingerprint(model), "batch_size": batch_size}
    res = VerifyResult(f"all {size:,} questions", task.answer_names, max_examples=examples)
    done_batches = 0
    if state_path is not None and state_path.exists():
        try:
            saved = json.loads(state_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            saved = {}
        if saved.get("key") == key:
            res = VerifyResult(**saved["result"])
            done_batches = int(saved["batches"])
    bar = tqdm(total=size, initial=res.questions, disable=not progress, unit="q", unit_scale=True)
    bar.set_description("verify (exhaustive)")
    res.complete = False
    snapshot: dict[str, Any] = {"key": key, "batches": done_batches, "result": res.state()}
    last_write = time.monotonic()
    try:
        for i, batch in enumerate(exhaustive_batches(task, batch_size, start_batch=done_batches)):
            if stop_after is not None and i >= stop_after:
                break
            verify_batches(model, task, [batch], res.source, examples, result=res)
            done_batches += 1
            snapshot = {"key": key, "batches": done_batches, "result": res.state()}
            if state_path is not None and time.monotonic() - last_write > 2.0:
                write_json(state_path, snapshot)
                last_write = time.monotonic()
            bar.update(len(batch))
        else:
            res.complete = True
    finally:  # interrupted or stopped: the last whole batch's state, so a rerun resumes there
        bar.close()
        if state_path is not None and not res.complete:
            write_json(state_path, snapshot)
    if not res.complete:
        return res
    if state_path is not None and state_path.exists():
        state_path.unlink()
    return res


def verify_suite(
    model: nn.Module, task: ArithmeticTask, name: str, examples: int = 10
) -> VerifyResult:
    """A named question list (the seeds' lists or the generated cascade suite)."""
    from algolens.suites import suite_batch

    task = _require_arithmetic(task)
    batch = suite_batch(task, name)
    return verify_batches(model, task, [batch], f"suite {name}", examples=examples)
