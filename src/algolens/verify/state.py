"""The resume state of an exhaustive verification (``algolens verify --exhaustive --state``).

A state file holds ``{"key": {"task", "model", "batch_size", "v"}, "batches", "result"}``: the
questions and the weights it counts for, how many whole batches are done and the verdict so far.
It is read strictly: a file that is not a state, or the state of another model or task, is
refused in one line and left as it is (never overwritten, never deleted); a state whose numbers
do not add up (``"batches": -3``, more failures than questions) is refused the same way. A
state saved under another batch size resumes by question count when the new batch size
divides the questions done (the batches left are then those of a fresh run), else it is
refused with the batch size that resumes it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algolens.errors import AlgolensError

VERSION = 2
MAX_BYTES = 64 * 2**20  # a state is counts and a few examples: anything bigger is not one
RESULT_FIELDS = {
    "source": str, "answer_names": list, "questions": int, "failures": int, "by_class": dict,
    "by_group": dict, "digit_failures": list, "examples": list, "max_examples": int,
    "complete": bool, "separator": str, "prefix": list | None, "precision": str,
    "rechecked": int,
}  # fmt: skip
EXAMPLE_FIELDS = {"question", "model_answer", "right_answer", "pattern", "class"}


@dataclass
class SavedState:
    """A checked state: the verdict so far (VerifyResult's fields), batches done, their size."""

    result: dict[str, Any]
    batches: int
    batch_size: int

    @property
    def questions(self) -> int:
        return int(self.result["questions"])


def read_state(
    path: Path | None, key: dict[str, Any], size: int, answer_names: list[str]
) -> SavedState | None:
    """The state at ``path`` for this model and task (``key`` without its batch size), checked;
    None when there is no file. Anything else at ``path`` is one line, and is left alone."""
    if path is None or (not path.exists() and not path.is_symlink()):
        return None
    data = _load(path)
    saved = data["key"]
    if not isinstance(saved, dict) or saved.get("v") != VERSION:
        raise AlgolensError(f"--state {path} is a verification state of another version: {_GIVE}")
    for part, what in (("task", "task (other questions)"), ("model", "model (other weights)")):
        if saved.get(part) != key[part]:
            raise AlgolensError(f"--state {path} holds the progress of another {what}: {_GIVE}")
    batch_size = _whole(saved.get("batch_size"), path, "batch_size", low=1)
    batches = _whole(data["batches"], path, "batches", high=math.ceil(size / batch_size))
    _check_result(data["result"], path, min(batches * batch_size, size), answer_names)
    return SavedState(data["result"], batches, batch_size)


_GIVE = "give another --state (the file is left as it is)"


def is_own_state(path: Path, key: dict[str, Any]) -> bool:
    """Whether ``path`` holds a state of this model and task (any batch size): only such a file
    is removed when the verification completes."""
    try:
        data = _load(path)
    except AlgolensError:
        return False
    saved = data["key"]
    return isinstance(saved, dict) and all(saved.get(k) == key[k] for k in ("task", "model", "v"))


def resume_batches(saved: SavedState, batch_size: int, size: int, path: Path) -> int:
    """The batches of ``batch_size`` already done: the saved count, or the questions done in
    another batch size when ``batch_size`` divides them; else one line."""
    if batch_size == saved.batch_size:
        return saved.batches
    done = saved.questions
    if done == size:
        return math.ceil(size / batch_size)
    if done % batch_size:
        raise AlgolensError(
            f"--state {path} holds {done:,} questions checked in batches of "
            f"{saved.batch_size:,}, which batches of {batch_size:,} do not divide: resume with "
            f"--batch-size {saved.batch_size}, or {_GIVE}"
        )
    return done // batch_size


def read_shard(
    path: Path, key: dict[str, Any], span: tuple[int, int], answer_names: list[str]
) -> dict[str, Any] | None:
    """A finished shard's verdict (``verify --exhaustive --shards``: questions ``span``) at
    ``path``, checked as a state is; None when there is no file. Another model's or task's
    shard, or one of another --shards count, is refused and left as it is."""
    if not path.exists() and not path.is_symlink():
        return None
    data = _load(path, {"key", "result"})
    if data["key"] != key:
        raise AlgolensError(f"--state {path} holds another model's or task's shard: {_GIVE}")
    questions = span[1] - span[0]
    result = data["result"]
    if isinstance(result, dict) and result.get("questions") != questions:
        raise AlgolensError(
            f"--state {path} holds a shard of another size (another --shards count): {_GIVE}"
        )
    _check_result(result, path, questions, answer_names)
    return dict(result)


def _load(path: Path, parts: set[str] | None = None) -> dict[str, Any]:
    """The JSON object at ``path`` with a state's parts, else one line."""
    if path.is_symlink() or not path.is_file():
        raise AlgolensError(f"--state {path} is not a regular file: {_GIVE}")
    if path.stat().st_size > MAX_BYTES:
        raise AlgolensError(f"--state {path} is too big to be a verification state: {_GIVE}")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise AlgolensError(f"cannot read --state {path}: {e.strerror or e}") from None
    except (ValueError, RecursionError):  # not UTF-8 or JSON, a 5,000-digit number, 10^5 '['
        data = None
    if not isinstance(data, dict) or set(data) != (parts or {"key", "batches", "result"}):
        what = "is empty" if path.stat().st_size == 0 else "is not"
        raise AlgolensError(f"--state {path} {what} a verification state file: {_GIVE}")
    return data


def _whole(value: Any, path: Path, name: str, low: int = 0, high: int | None = None) -> int:
    """``value`` if it is a whole number in [low, high], else the one line of a bad state."""
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f"{low:,} to {high:,}" if high is not None else f"at least {low:,}"
        raise AlgolensError(f"--state {path} is malformed: {name} is {value!r}, not {bound}")
    return value


def _check_result(result: Any, path: Path, questions: int, answer_names: list[str]) -> None:
    """The saved verdict's fields have their types and add up to ``questions`` questions."""
    bad = f"--state {path} is malformed"
    if not isinstance(result, dict) or set(result) != set(RESULT_FIELDS):
        raise AlgolensError(f"{bad}: its result does not have a verdict's fields")
    for name, kind in RESULT_FIELDS.items():
        if (type(result[name]) is bool and kind is int) or not isinstance(result[name], kind):
            raise AlgolensError(f"{bad}: result {name} is {result[name]!r}")
    if result["questions"] != questions:
        raise AlgolensError(
            f"{bad}: {result['questions']!r} questions in its result, not the {questions:,} "
            "of its batches"
        )
    if result["answer_names"] != answer_names:
        raise AlgolensError(f"{bad}: its answer tokens are not this task's")
    failures = _whole(result["failures"], path, "failures", high=questions)
    _whole(result["rechecked"], path, "rechecked", high=questions)
    _whole(result["max_examples"], path, "max_examples")
    digits = result["digit_failures"]
    if len(digits) != len(answer_names):
        raise AlgolensError(f"{bad}: digit_failures has {len(digits)} counts")
    for count in digits:
        _whole(count, path, "a digit's failures", high=failures)
    _check_counts(result["by_class"], path, "by_class", questions, whole=True)
    _check_counts(result["by_group"], path, "by_group", questions, whole=False)
    for pair in result["prefix"] or []:
        _pair(pair, path, "prefix", questions)
    examples = result["examples"]
    if len(examples) > result["max_examples"] or not all(_example(e) for e in examples):
        raise AlgolensError(f"{bad}: its examples are not a list of at most max_examples")


def _example(example: Any) -> bool:
    """A failing question as the verdict lists it: its five texts."""
    return (
        isinstance(example, dict)
        and set(example) == EXAMPLE_FIELDS
        and all(isinstance(v, str) for v in example.values())
    )


def _check_counts(
    counts: dict[str, Any], path: Path, name: str, questions: int, whole: bool
) -> None:
    """``{name: [questions, failures]}`` within ``questions``; ``whole``: they sum to it."""
    total = sum(_pair(pair, path, name, questions) for pair in counts.values())
    if whole and total != questions:
        raise AlgolensError(
            f"--state {path} is malformed: {name} counts {total:,} questions, not {questions:,}"
        )


def _pair(pair: Any, path: Path, name: str, questions: int) -> int:
    """A ``[questions, failures]`` pair with 0 <= failures <= its questions <= ``questions``."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise AlgolensError(f"--state {path} is malformed: {name} holds {pair!r}")
    asked = _whole(pair[0], path, name, high=questions)
    _whole(pair[1], path, f"{name} failures", high=asked)
    return asked
