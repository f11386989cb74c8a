"""Verify adders algolens did not train: a Python file in the AdderBoard format.

A submission defines ``build_model() -> (model, metadata)`` and ``add(model, a, b) -> int``,
and may define ``add_batch(model, a_list, b_list) -> list[int]`` to answer many questions at
once. :class:`SubmissionModel` turns it into a model the verification engine
(:mod:`algolens.verify`) checks like any other: its logits put all their weight on the answer
tokens of ``add``'s sum, so the engine's exact-match verdicts, intervals, question classes, the
complete carry suite and the papers' lists (Quirke & Barez 2024) apply unchanged. The
AdderBoard's own questions (:func:`adderboard_pairs`) are checked too, so the number can be
compared with the leaderboard's.

``add`` raising an exception or returning an integer that is not the sum is a counted failure;
returning something that is not an integer, ``add_batch`` returning the wrong number of answers,
or a call that does not return within the timeout is one ``error:`` line.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import operator
import random
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypedDict, Unpack

import torch
from torch import Tensor, nn

from algolens.errors import AlgolensError
from algolens.families.arithmetic.suites import verify_suite
from algolens.families.arithmetic.task import EQUALS, MAX_DIGITS, ArithmeticTask
from algolens.tasks.base import Batch
from algolens.verify import VerifyResult, verify, verify_batches

Pair = tuple[int, int]
ADDERBOARD_DIGITS = 10
ADDERBOARD_SEED = 2025
ADDERBOARD_RANDOM = 10_000
_TOP = 10**ADDERBOARD_DIGITS - 1
# the AdderBoard harness's edge cases, asked before its seeded random pairs
ADDERBOARD_EDGE_CASES: tuple[Pair, ...] = (
    (0, 0), (0, 1), (_TOP, 0), (_TOP, 1), (_TOP, _TOP), (5_000_000_000, 5_000_000_000),
    (1_111_111_111, 8_888_888_889), (1_234_567_890, 9_876_543_210), (_TOP, _TOP), (1, _TOP),
)  # fmt: skip
CACHE_LIMIT = 1 << 16  # answers kept for the engine's second look at failing questions
ODD_LIMIT = 1000  # raised calls and out-of-range answers remembered for the examples


def adderboard_pairs(seed: int = ADDERBOARD_SEED, count: int = ADDERBOARD_RANDOM) -> list[Pair]:
    """The AdderBoard's questions: its 10 edge cases, then ``count`` pairs of 10-digit operands
    drawn as ``(rng.randint(0, 10**10 - 1), rng.randint(0, 10**10 - 1))`` from
    ``random.Random(seed)``."""
    rng = random.Random(seed)
    drawn = [(rng.randint(0, _TOP), rng.randint(0, _TOP)) for _ in range(count)]
    return [*ADDERBOARD_EDGE_CASES, *drawn]


@dataclass
class Submission:
    """A loaded submission: its model, metadata and functions."""

    path: Path
    model: Any
    metadata: dict[str, Any]
    add: Callable[..., Any]
    add_batch: Callable[..., Any] | None = None

    @property
    def n_digits(self) -> int | None:
        """The digit count the metadata states (``n_digits`` or ``digits``), if any."""
        value = self.metadata.get("n_digits", self.metadata.get("digits"))
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DIGITS:
            raise AlgolensError(
                f"{self.path}: metadata n_digits must be a whole number 1 to {MAX_DIGITS}, "
                f"got {value!r}"
            )
        return value

    def parameters(self) -> int | None:
        """Unique parameters of the model (tied weights counted once), if it is a torch module."""
        if not isinstance(self.model, nn.Module):
            return None
        seen: dict[int, int] = {}
        for p in self.model.parameters():
            seen.setdefault(p.data_ptr(), p.numel())
        return sum(seen.values())


class _Hang(BaseException):
    """Raised by the alarm in a call that overran its time (not an ``Exception``, so that a
    submission's own ``except Exception`` cannot swallow it)."""


@contextlib.contextmanager
def alarms(timeout: float | None) -> Iterator[float | None]:
    """Inside, SIGALRM raises :class:`_Hang`; yields the timeout for :func:`timed_call`, or None
    where alarms are unavailable (not the main thread, or no ``setitimer``): calls go untimed."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable or not timeout:
        yield None
        return

    def ring(signum: int, frame: Any) -> None:
        raise _Hang

    old = signal.signal(signal.SIGALRM, ring)
    try:
        yield timeout
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def timed_call(timeout: float | None, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or one ``error:`` line if it does not return within ``timeout`` s; inside
    :func:`alarms` (``timeout`` is what it yields: None runs ``fn`` untimed)."""
    if not timeout:
        return fn(*args)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Hang:
        raise AlgolensError(f"{what} did not return within {timeout:g} s (--timeout)") from None


def load_submission(path: str | Path, timeout: float | None = None) -> Submission:
    """Import ``path`` and call its ``build_model()``; anything wrong is one clear line."""
    path = Path(path)
    if not path.is_file():
        raise AlgolensError(f"no submission file {path}")
    if path.suffix != ".py":
        raise AlgolensError(f"a submission is a Python file (.py), got {path}")
    module = _import(path)
    for name in ("build_model", "add"):
        if not callable(getattr(module, name, None)):
            raise AlgolensError(f"{path} defines no function {name}() (the AdderBoard format)")
    try:
        with alarms(timeout) as limit:
            built = timed_call(limit, "build_model()", module.build_model)
    except AlgolensError:
        raise
    except Exception as e:
        raise AlgolensError(f"{path}: build_model() raised {_error_text(e)}") from None
    if not (isinstance(built, tuple) and len(built) == 2):
        raise AlgolensError(
            f"{path}: build_model() must return (model, metadata), got {type(built).__name__}"
        )
    model, metadata = built
    if metadata is not None and not isinstance(metadata, dict):
        raise AlgolensError(f"{path}: metadata must be a dict, got {type(metadata).__name__}")
    batch = getattr(module, "add_batch", None)
    return Submission(
        path, model, dict(metadata or {}), module.add, batch if callable(batch) else None
    )


def _import(path: Path) -> ModuleType:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"algolens_submission_{digest}", path)
    if spec is None or spec.loader is None:
        raise AlgolensError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # a syntax error, a missing import, an error at import time
        raise AlgolensError(f"importing {path} raised {_error_text(e)}") from None
    return module


def _error_text(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


def _as_int(value: Any, what: str) -> int:
    """An integer answer (int, numpy or integer torch scalar), else one clear line."""
    if not isinstance(value, bool):
        with contextlib.suppress(TypeError, ValueError, RuntimeError):
            return operator.index(value)
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:40] + "..."
    raise AlgolensError(f"{what} returned {type(value).__name__} {shown}, not an int")


@dataclass
class Outcomes:
    """What the submission did besides answering: calls that raised, answers out of range."""

    calls: int = 0
    raised: int = 0
    first_error: str | None = None
    out_of_range: int = 0
    odd: dict[Pair, str] = field(default_factory=dict)  # (a, b) -> what it gave, for examples

    def note(self, pair: Pair, text: str) -> None:
        if len(self.odd) < ODD_LIMIT:
            self.odd[pair] = text


class SubmissionModel(nn.Module):
    """A submission as a model of an :class:`ArithmeticTask` (addition, ``n_digits``).

    ``forward(tokens)`` reads each row's operands, asks the submission for the sum and returns
    logits ``[batch, pos, d_vocab]`` with weight 1 on the sum's answer tokens at the positions
    that predict them (0 elsewhere), so the engine's argmax is the submission's answer. Rows
    may be cut short (greedy decoding asks prefixes): each position still predicts its token.
    An answer that raised, is negative or has too many digits predicts ``=`` everywhere, a token
    never right. Answers are cached, so the engine's second look costs no call.
    """

    def __init__(
        self, submission: Submission, task: ArithmeticTask, timeout: float | None = 30.0
    ) -> None:
        super().__init__()
        if task.op != "add":
            raise AlgolensError(f"a submission adds; the task is {task.op}")
        self.task, self.timeout = task, timeout
        self._sub = [submission]  # in a list: the submission's model is not our submodule
        self.outcomes = Outcomes()
        self._cache: dict[Pair, list[int]] = {}

    @property
    def submission(self) -> Submission:
        return self._sub[0]

    def forward(self, tokens: Tensor) -> Tensor:
        n, first = self.task.n_digits, self.task.answer_start - 1
        tokens = tokens.cpu()
        pairs = list(
            zip(_numbers(tokens[:, :n]), _numbers(tokens[:, n + 1 : 2 * n + 1]), strict=True)
        )
        answers = torch.tensor(self._answers(pairs), dtype=torch.long).reshape(len(pairs), n + 1)
        logits = torch.zeros(len(pairs), tokens.shape[1], self.task.d_vocab)
        k = min(tokens.shape[1], self.task.n_ctx - 1) - first  # answer tokens in reach
        if k > 0:
            logits[:, first : first + k].scatter_(-1, answers[:, :k, None], 1.0)
        return logits

    def _answers(self, pairs: list[Pair]) -> list[list[int]]:
        missing = list(dict.fromkeys(p for p in pairs if p not in self._cache))
        if len(self._cache) + len(missing) > CACHE_LIMIT:
            self._cache.clear()
        if missing:
            batch = self.submission.add_batch
            sums = self._batch(batch, missing) if batch else self._one_by_one(missing)
            for pair, value in zip(missing, sums, strict=True):
                self._cache[pair] = self._tokens(pair, value)
        return [self._cache[p] for p in pairs]

    def _one_by_one(self, pairs: list[Pair]) -> list[int | None]:
        sub, out = self.submission, list[int | None]()
        with alarms(self.timeout) as limit:
            for a, b in pairs:
                self.outcomes.calls += 1
                try:
                    value = timed_call(limit, f"add(model, {a}, {b})", sub.add, sub.model, a, b)
                except AlgolensError:
                    raise
                except Exception as e:  # a counted failure: the question is not answered
                    self._raised((a, b), e)
                    out.append(None)
                    continue
                out.append(value if type(value) is int else _as_int(value, f"add(model, {a}, {b})"))
        return out

    def _batch(self, add_batch: Callable[..., Any], pairs: list[Pair]) -> list[int | None]:
        sub = self.submission
        a_list, b_list = [p[0] for p in pairs], [p[1] for p in pairs]
        what = f"add_batch(model, [{a_list[0]}, ...], [{b_list[0]}, ...])"
        self.outcomes.calls += 1
        try:
            with alarms(self.timeout) as limit:
                values = timed_call(limit, what, add_batch, sub.model, a_list, b_list)
        except AlgolensError:
            raise
        except Exception as e:
            raise AlgolensError(f"{what} raised {_error_text(e)}") from None
        try:
            values = list(values)
        except TypeError:
            raise AlgolensError(f"{what} returned {type(values).__name__}, not a list") from None
        if len(values) != len(pairs):
            raise AlgolensError(f"{what} gave {len(values)} answers to {len(pairs)} questions")
        return [v if type(v) is int else _as_int(v, what) for v in values]

    def _raised(self, pair: Pair, e: Exception) -> None:
        self.outcomes.raised += 1
        if self.outcomes.first_error is None:
            self.outcomes.first_error = f"add(model, {pair[0]}, {pair[1]}): {_error_text(e)}"
        self.outcomes.note(pair, f"raised {type(e).__name__}")

    def _tokens(self, pair: Pair, value: int | None) -> list[int]:
        n = self.task.n_digits
        if value is not None and 0 <= value < 10 ** (n + 1):
            return [int(ch) for ch in str(value).zfill(n + 1)]
        if value is not None:
            self.outcomes.out_of_range += 1
            self.outcomes.note(pair, str(value))
        return [EQUALS] * (n + 1)


def _numbers(digits: Tensor) -> list[int]:
    """Each row of digits ``[batch, n]`` (most significant first) as a Python int."""
    if digits.shape[1] <= 18:  # fits int64
        powers = 10 ** torch.arange(digits.shape[1] - 1, -1, -1)
        return [int(v) for v in (digits * powers).sum(-1).tolist()]
    return [int("".join(map(str, row))) for row in digits.tolist()]


def adderboard_batches(task: ArithmeticTask, batch_size: int = 256) -> Iterator[Batch]:
    """The AdderBoard's questions (:func:`adderboard_pairs`) as batches of ``task``."""
    n = task.n_digits
    if n < ADDERBOARD_DIGITS:
        raise AlgolensError(f"the AdderBoard's questions need 10 or more digits, not {n}")
    operands = torch.tensor(adderboard_pairs(), dtype=torch.long)  # [questions, 2]
    powers = 10 ** torch.arange(ADDERBOARD_DIGITS - 1, -1, -1)
    digits = torch.zeros(len(operands), 2, n, dtype=torch.long)  # the top n - 10 digits are 0
    digits[..., n - ADDERBOARD_DIGITS :] = (operands[..., None] // powers) % 10
    for start in range(0, len(digits), batch_size):
        part = digits[start : start + batch_size]
        yield task.make_batch(part[:, 0], part[:, 1])


@dataclass
class SubmissionCheck:
    """Everything ``algolens verify --submission`` found: one verdict per question set."""

    submission: Submission
    n_digits: int
    results: dict[str, VerifyResult]
    outcomes: Outcomes

    def to_dict(self) -> dict[str, Any]:
        meta = {k: v for k, v in self.submission.metadata.items() if _plain(v)}
        o = self.outcomes
        return {
            "submission": str(self.submission.path),
            "metadata": meta,
            "unique_parameters": self.submission.parameters(),
            "n_digits": self.n_digits,
            "calls": o.calls,
            "raised": o.raised,
            "first_error": o.first_error,
            "out_of_range": o.out_of_range,
            **{name: r.to_dict() for name, r in self.results.items()},
        }

    def lines(self) -> list[str]:
        """A header, then each question set's summary."""
        meta, o = self.submission.metadata, self.outcomes
        name = meta.get("name") or self.submission.path.stem
        counted = self.submission.parameters()
        params = f", {meta['params']} parameters claimed" if "params" in meta else ""
        if counted is not None:
            params += f", {counted:,} counted"
        out = [f"{name}: {self.n_digits}-digit addition{params}"]
        if o.raised:
            out.append(f"  add raised on {o.raised:,} questions (counted wrong; first: "
                       f"{o.first_error})")  # fmt: skip
        if o.out_of_range:
            out.append(f"  {o.out_of_range:,} answers were negative or too long (counted wrong)")
        out += [r.summary() for r in self.results.values()]
        board = self.results.get("adderboard")
        if board is not None and board.questions:
            acc = 1 - board.failures / board.questions
            verdict = "at least" if acc >= 0.99 else "below"
            out.append(f"  AdderBoard accuracy {100 * acc:.2f}% ({verdict} its 99% to qualify)")
        return out


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | type(None))


def verify_submission(
    submission: Submission,
    n_digits: int | None = None,
    questions: int = 100_000,
    seed: int = 0,
    distributions: tuple[str, ...] = ("uniform",),
    suite: str | None = "all",
    examples: int = 10,
    timeout: float | None = 30.0,
    progress: bool = False,
) -> SubmissionCheck:
    """The checks algolens runs on its own adders, at the submission's digit count
    (``n_digits``, else its metadata's, else the AdderBoard's 10): seeded random questions of
    each distribution (0 questions: none), suite ``suite`` (default ``all``: the papers' lists
    and the complete carry suite; None: none) and, at 10 or more digits, the AdderBoard's own
    10,010 questions. Torch runs on one thread meanwhile: the engine's tensors are tiny and the
    submission's calls are Python (2.3x faster here than on two threads; restored after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _verify_submission(submission, n_digits, questions, seed, distributions, suite,
                                  examples, timeout, progress)  # fmt: skip
    finally:
        torch.set_num_threads(threads)


class SubmissionChecks(TypedDict, total=False):
    """What :func:`check_file` passes on to :func:`verify_submission` (whose signature holds
    the defaults): the digit count, questions and seed, distributions, suite, examples, bars."""

    n_digits: int | None
    questions: int
    seed: int
    distributions: tuple[str, ...]
    suite: str | None
    examples: int
    progress: bool


def check_file(
    path: str | Path, *, timeout: float, **checks: Unpack[SubmissionChecks]
) -> SubmissionCheck:
    """The family's ``submission`` hook (``algolens verify --submission FILE``): load the file
    (its import limited to ``timeout`` seconds) and run :func:`verify_submission` on it."""
    return verify_submission(load_submission(path, timeout), timeout=timeout, **checks)


def _verify_submission(
    submission: Submission,
    n_digits: int | None,
    questions: int,
    seed: int,
    distributions: tuple[str, ...],
    suite: str | None,
    examples: int,
    timeout: float | None,
    progress: bool,
) -> SubmissionCheck:
    n = n_digits or submission.n_digits or ADDERBOARD_DIGITS
    task = ArithmeticTask("add", n)
    model = SubmissionModel(submission, task, timeout)
    results: dict[str, VerifyResult] = {}
    for dist in distributions if questions else ():
        results[dist] = verify(model, task, questions=questions, distribution=dist, seed=seed,  # type: ignore[arg-type]
                               examples=examples, progress=progress, precision="float32",
                               workers=1)  # fmt: skip
    if suite is not None:
        results[f"suite {suite}"] = verify_suite(model, task, suite, examples, "float32")
    if n >= ADDERBOARD_DIGITS:
        source = f"AdderBoard: 10 edge cases and {ADDERBOARD_RANDOM:,} pairs (seed 2025)"
        results["adderboard"] = verify_batches(
            model, task, adderboard_batches(task), source=source, examples=examples,
            precision="float32")  # fmt: skip
    for result in results.values():
        _show_given(result, model.outcomes, task)
    return SubmissionCheck(submission, n, results, model.outcomes)


def _show_given(result: VerifyResult, outcomes: Outcomes, task: ArithmeticTask) -> None:
    """Examples whose call raised or whose answer was out of range say what it gave."""
    for ex in result.examples:
        a, _, b = task.parse(ex["question"])
        if (a, b) in outcomes.odd:
            ex["model_answer"] = outcomes.odd[(a, b)]
            ex["pattern"] = "N" * task.n_answer
