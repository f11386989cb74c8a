"""Exhaustive verification split into shards that run as Ray tasks (local, or a cluster).

The question space ``[0, N)`` is cut into ``shards`` contiguous ranges. Each range is verified by
one Ray task that loads the run itself (a run directory or ``zoo:NAME``, through the ``load``
the caller hands over: ``algolens.runs.load``, a floor above) and returns its
:class:`~algolens.verify.result.VerifyResult`; a finished shard's result is saved in the state
folder, so a rerun skips it (an interrupted sweep loses only the shards in flight). The merged
counts, class tables and examples equal an unsharded run's: shards are merged in question order
and each keeps its own first failures.

Ray is imported here only, so commands that do not shard never start it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

from torch import nn

from algolens import store
from algolens.errors import AlgolensError
from algolens.memory import keep_freed_memory
from algolens.options import Precision
from algolens.tasks.base import SequenceTask
from algolens.verify.engine import default_batch_size, model_fingerprint, verify_batches
from algolens.verify.result import VerifyResult
from algolens.verify.state import read_shard


class Loaded(Protocol):
    """What ``load(run)`` gives a shard: the run's model and task (an ``algolens.runs.Run``)."""

    model: nn.Module
    task: Any


Loader = Callable[[str], Loaded]


@dataclass(frozen=True)
class ShardSettings:
    """How every shard verifies its questions (the same for all, so the merge is exact)."""

    batch_size: int
    examples: int
    precision: Precision


def shard_ranges(size: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous, nearly equal ranges covering ``[0, size)``."""
    if shards < 1:
        raise AlgolensError(f"--shards must be at least 1, got {shards}")
    cuts = [size * i // shards for i in range(shards + 1)]
    return [(a, b) for a, b in pairwise(cuts) if b > a]


def verify_range(
    model: nn.Module,
    task: SequenceTask,
    *,
    start: int,
    stop: int,
    batch_size: int,
    examples: int,
    precision: Precision = "auto",
) -> VerifyResult:
    """Questions ``start`` to ``stop`` of the exhaustive order, verified."""
    res = VerifyResult(f"questions {start:,}-{stop:,}", task.answer_names, max_examples=examples)
    batches = (task.exhaustive_batch(lo, min(lo + batch_size, stop))
               for lo in range(start, stop, batch_size))  # fmt: skip
    return verify_batches(model, task, batches, source=res.source, result=res, precision=precision)


def merge(parts: list[VerifyResult], *, source: str, examples: int) -> VerifyResult:
    """One result from shard results given in question order."""
    out = VerifyResult(source, parts[0].answer_names, max_examples=examples)
    out.separator = parts[0].separator
    for part in parts:
        out.questions += part.questions
        out.failures += part.failures
        for table, theirs in ((out.by_class, part.by_class), (out.by_group, part.by_group)):
            for key, (n, f) in theirs.items():
                row = table.setdefault(key, [0, 0])
                row[0], row[1] = row[0] + n, row[1] + f
        out.digit_failures = [
            a + b for a, b in zip(out.digit_failures, part.digit_failures, strict=True)
        ]
        out.examples += part.examples[: examples - len(out.examples)]
        out.rechecked += part.rechecked
        if part.precision != "float32":  # any shard the screen ran on
            out.precision = part.precision
    return out


def _run_shard(
    load: Loader, run: str, span: tuple[int, int], settings: ShardSettings
) -> VerifyResult:
    """One shard, in a Ray worker process: the run loaded there, its questions ``span``."""
    keep_freed_memory()  # a Ray worker process: see algolens.memory
    loaded = load(run)
    start, stop = span
    return verify_range(loaded.model, loaded.task, start=start, stop=stop,
                        batch_size=settings.batch_size, examples=settings.examples,
                        precision=settings.precision)  # fmt: skip


def verify_sharded(
    run: str,
    *,
    load: Loader,
    shards: int,
    state_dir: Path,
    workers: int | None = None,
    address: str | None = None,
    examples: int = 10,
    progress: bool = False,
    precision: Precision = "auto",
) -> VerifyResult:
    """Every question of ``run``, in ``shards`` Ray tasks; finished shards are kept in
    ``state_dir`` (one JSON file each) and skipped when the same run is verified again.
    ``load`` turns ``run`` into its model and task, here and in every Ray task."""
    loaded = load(run)
    size = loaded.task.exhaustive_size()
    batch_size = default_batch_size(loaded.model)
    key = {"model": model_fingerprint(loaded.model), "task": loaded.task.to_dict(), "v": 1}
    ranges = shard_ranges(size, shards)
    names = loaded.task.answer_names
    saved = {i: _saved(state_dir, i, key, span, names) for i, span in enumerate(ranges)}
    done = {i: res for i, res in saved.items() if res is not None}
    todo = [i for i in range(len(ranges)) if i not in done]
    if todo:
        settings = ShardSettings(batch_size, examples, precision)
        results = _on_ray(load, run, [ranges[i] for i in todo], settings,
                          workers=workers, address=address, progress=progress)  # fmt: skip
        for i, res in zip(todo, results, strict=True):
            state_dir.mkdir(parents=True, exist_ok=True)
            store.write_json(state_dir / f"shard_{i:04d}.json", {"key": key, "result": res.state()})
            done[i] = res
    parts = [done[i] for i in range(len(ranges))]
    return merge(parts, source=f"all {size:,} questions ({len(ranges)} shards)", examples=examples)


def _saved(
    state_dir: Path, index: int, key: dict[str, Any], span: tuple[int, int], names: list[str]
) -> VerifyResult | None:
    """Shard ``index``'s saved verdict, checked (see :func:`algolens.verify.state.read_shard`:
    anything else in its place is one line, and left alone); None if it has none."""
    saved = read_shard(state_dir / f"shard_{index:04d}.json", key, span, names)
    return None if saved is None else VerifyResult(**saved)


def start_ray(workers: int | None, address: str | None, missing: str) -> Any:
    """The ``ray`` module, connected: to the cluster at ``address``, else to a local instance
    with ``workers`` CPUs (all by default); ``missing`` is the one line when Ray is absent."""
    try:
        import ray
    except ImportError:
        raise AlgolensError(missing) from None
    if not ray.is_initialized():
        # "local": a new instance even where ray_current_cluster names another (or a dead) one
        kwargs: dict[str, Any] = (
            {"address": address} if address else {"address": "local", "num_cpus": workers}
        )
        try:
            ray.init(include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR, **kwargs)  # fmt: skip
        except ConnectionError as e:
            if not address:  # a local instance that would not start: Ray's own error
                raise
            cause = (str(e).strip().splitlines() or [type(e).__name__])[-1]
            raise AlgolensError(f"cannot join Ray at {address}: {cause}; {AUTH_HINT}") from None
    return ray


# ``ray start --head`` (Ray 2.60) turns on token authentication; a driver sends the token only
# when asked to (tested in tests/integration/test_ray_address.py)
AUTH_HINT = (
    "a cluster with token authentication needs RAY_AUTH_MODE=token here, and its token in "
    "~/.ray/auth_token or RAY_AUTH_TOKEN"
)


def _on_ray(
    load: Loader,
    run: str,
    ranges: list[tuple[int, int]],
    settings: ShardSettings,
    *,
    workers: int | None,
    address: str | None,
    progress: bool,
) -> list[VerifyResult]:
    """Each range as one Ray task; results in the order of ``ranges``."""
    from tqdm.auto import tqdm

    ray = start_ray(workers, address, "sharded verification needs Ray: pip install 'ray>=2.9'")
    task = ray.remote(num_cpus=1)(_run_shard)
    refs = [task.remote(load, run, span, settings) for span in ranges]
    out: dict[Any, VerifyResult] = {}
    with tqdm(total=len(refs), disable=not progress, desc="shards", unit="shard") as bar:
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            out[ready[0]] = ray.get(ready[0])
            bar.update(1)
    return [out[ref] for ref in refs]
