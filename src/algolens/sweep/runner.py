"""Run a sweep: each configuration is one Ray task that trains, then verifies, one run directory.

A run directory under the sweep's folder is an ordinary run (``algolens verify``, ``analyse``
and ``report`` read it). Its ``sweep_result.json`` holds the card (training, both distributions,
the complete suites) and the results row; a rerun of the sweep skips runs that have one, resumes
runs that hold a checkpoint and starts the rest. Ctrl-C cancels the tasks in flight, each of
which saves a checkpoint like ``train`` does on Ctrl-C, so nothing trained is lost.

Ray is imported here only, inside :func:`run_sweep`.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from algolens import store
from algolens.errors import AlgolensError
from algolens.memory import keep_freed_memory
from algolens.sweep.rows import late_loss_max, result_row, trained_settings
from algolens.sweep.spec import SweepSpec, family_keys, point_config, point_key

RESULT = "sweep_result.json"


@dataclass
class SweepRun:
    """One configuration of the sweep: its grid point, folder and config."""

    point: dict[str, Any]
    out: Path
    config: Any


@dataclass
class SweepOutcome:
    """What a sweep call did: the rows of finished runs, and whether Ctrl-C stopped it."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    interrupted: bool = False
    failed: list[str] = field(default_factory=list)


def plan(spec: SweepSpec, folder: Path, device: str | None) -> list[SweepRun]:
    """Every grid point's config, checked before anything runs, and its run folder."""
    argv = ["algolens", "sweep", spec.name]
    runs: list[SweepRun] = []
    seen: dict[str, dict[str, Any]] = {}  # what a run trains -> the first point that trains it
    for point in spec.points():
        config = point_config(point, spec, device, argv)
        trains = json.dumps([config.task, config.model, config.train, config.init], default=str)
        if trains in seen:
            raise AlgolensError(
                f"grid points {seen[trains]} and {point} train the same run: give it once"
            )
        seen[trains] = point
        reused = f"_{config.init.reuse}" if config.init.source else ""
        variant = f"_{config.init.variant}" if config.init.variant else ""
        out = folder / "runs" / f"{config.name}{variant}{reused}-{point_key(point, spec)}"
        runs.append(SweepRun(point, out, config))
    return runs


def saved_row(out: Path, questions: int) -> dict[str, Any] | None:
    """The results row of a finished run verified on ``questions`` questions, else None; its
    settings are read back from the run's config.json."""
    saved = _saved(out, questions)
    if saved is None:
        return None
    row = saved.get("row")
    if not isinstance(row, dict):
        raise AlgolensError(f"corrupt {out / RESULT}: no results row; remove it to verify again")
    if "late_loss_max" not in row:  # a row written before the column existed
        row["late_loss_max"] = _late_loss(out, row.get("steps_done") or 0)
    point = saved.get("point")
    trained = _as_trained(out, point if isinstance(point, dict) else {})
    rest = {k: v for k, v in row.items() if k not in trained and k != "run"}
    return {"run": row.get("run", out.name), **trained, **rest}


def _saved(out: Path, questions: int) -> dict[str, Any] | None:
    """The run's sweep_result.json if it was verified on ``questions`` questions."""
    path = out / RESULT
    if not path.is_file():
        return None
    saved = store.read_json(path, "sweep result")
    return saved if isinstance(saved, dict) and saved.get("questions") == questions else None


def _as_trained(out: Path, point: dict[str, Any]) -> dict[str, Any]:
    """The run's settings read back from its config.json (a row says what ran, whatever the
    spec said: see :func:`~algolens.sweep.rows.trained_settings`)."""
    config = store.read_json(out / store.CONFIG, "run config")
    task = config.get("task", {}).get("name") if isinstance(config, dict) else None
    if not isinstance(task, str):
        raise AlgolensError(f"corrupt {out / store.CONFIG}: no task name")
    return trained_settings(point, config, family_keys(task))


def _late_loss(out: Path, steps: int) -> float | None:
    metrics = store.read_metrics(out) if (out / store.METRICS).exists() else []
    return late_loss_max(metrics, steps)


def run_status(item: SweepRun, questions: int) -> str:
    """Where a run stands, for ``--dry-run``: done, part-trained, trained or not started."""
    if _saved(item.out, questions) is not None:
        return "done"
    holder = store.lock_holder(item.out)
    if holder is not None or (item.out / store.CHECKPOINT).exists():
        rows = store.read_metrics(item.out) if (item.out / store.METRICS).exists() else []
        logged = f"logged step {rows[-1]['step'] if rows else 0:,} of {item.config.train.steps:,}"
        if holder is not None:
            return f"training now (process {holder.get('pid')} on {holder.get('host')}): {logged}"
        return f"interrupted: {logged}; the next sweep resumes it"
    state, detail = store.run_state(item.out)
    if state == "finished":
        return "trained, not verified"
    if state == "cut":  # weights the trainer never marked finished: a rerun refuses it
        return f"cut: {detail}"
    return "to run"


def run_one(item: SweepRun, questions: int, threads: int | None = None) -> dict[str, Any]:
    """Train (or resume, or keep) one run, then verify it, on ``threads`` threads (None: the
    worker's own); its results row, or ``{"interrupted": True}`` when a cancel stopped its
    training (its checkpoint is saved)."""
    import torch

    keep_freed_memory()  # a Ray worker process: see algolens.memory
    was = torch.get_num_threads()
    torch.set_num_threads(threads or was)
    try:
        return _train_and_verify(item, questions)
    finally:
        torch.set_num_threads(was)


def _train_and_verify(item: SweepRun, questions: int) -> dict[str, Any]:
    from algolens.runs import load_run, resume_run, train_run
    from algolens.zoo.build import make_card

    out = item.out
    state, detail = store.run_state(out)
    if state == "resumable":
        result = resume_run(out, progress=False)
    elif state == "new":
        result = train_run(out, item.config, progress=False)
    elif state == "finished":
        result = None  # trained before; only its verification was missing
    else:  # cut: weights the trainer never marked finished are no trained model
        raise AlgolensError(detail)
    if result is not None and result.interrupted:
        return {"interrupted": True}
    verifying = time.perf_counter()
    run = load_run(out)
    # every training segment's; a run trained before (an earlier call that stopped before its
    # verification, or `algolens train` into the sweep's folder): what its run.json records
    recorded = store.training_seconds(out) if result is None else result.seconds
    seconds = recorded or 0.0
    card = make_card(run, seconds, " ".join(item.config.provenance.argv), questions=questions)
    if recorded is None:
        card["training"]["wall_seconds"] = None
    card["training"]["cpu_seconds"] = round(result.cpu_seconds, 1) if result else None
    # training over every segment (a resumed run's earlier ones too) plus this verification
    trained = _as_trained(out, item.point)
    row = result_row(out.name, trained, card, seconds + time.perf_counter() - verifying)
    row["late_loss_max"] = _late_loss(out, card["training"]["steps"])
    store.write_json(
        out / RESULT, {"questions": questions, "point": item.point, "card": card, "row": row}
    )
    return row


def run_sweep(
    spec: SweepSpec,
    folder: Path,
    *,
    workers: int | None = None,
    address: str | None = None,
    gpus_per_run: float = 0,
    device: str | None = None,
    progress: bool = True,
    on_rows: Callable[[list[dict[str, Any]]], object] | None = None,
) -> SweepOutcome:
    """Every configuration of ``spec`` in ``folder``, one Ray task each; finished runs are
    skipped. Returns the rows in grid order (finished runs only); ``on_rows`` gets them after
    each run that finishes, so a long sweep's results can be read while it runs."""
    runs = plan(spec, folder, device)
    described = {"name": spec.name, "grid": spec.grid, "questions": spec.questions}
    store.write_json(folder / "spec.json", {**described, "fixed": spec.fixed})
    rows: dict[int, dict[str, Any]] = {}
    for i, item in enumerate(runs):
        row = saved_row(item.out, spec.questions)
        if row is not None:
            rows[i] = row
    todo = [i for i in range(len(runs)) if i not in rows]
    outcome = SweepOutcome(skipped=len(rows))
    if todo:
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            ray = _ray(workers, address)
            task = ray.remote(num_cpus=1, num_gpus=gpus_per_run, max_retries=0)(run_one)
            threads = None if address else run_threads(workers)
            refs = {task.remote(runs[i], spec.questions, threads): i for i in todo}
            _collect(ray, refs, rows, runs, outcome, progress, on_rows)
        finally:  # a caller's own handlers come back
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
    outcome.rows = [rows[i] for i in sorted(rows)]
    return outcome


def run_threads(workers: int | None) -> int:
    """Threads each run trains with on the local Ray: this machine's cores shared among the
    runs at once (Ray alone gives each task one thread: ``--workers 1`` on 2 cores trained on
    one of them)."""
    cores = os.cpu_count() or 1
    return max(1, cores // min(workers or cores, cores))


def _ray(workers: int | None, address: str | None) -> Any:
    from algolens.verify.shards import start_ray

    ray = start_ray(workers, address, "sweeps run on Ray: pip install 'algolens[cluster]'")
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGTERM stops like Ctrl-C
        signal.signal(sig, signal.default_int_handler)
    return ray


def _collect(
    ray: Any,
    refs: dict[Any, int],
    rows: dict[int, dict[str, Any]],
    runs: list[SweepRun],
    outcome: SweepOutcome,
    progress: bool,
    on_rows: Callable[[list[dict[str, Any]]], object] | None,
) -> None:
    """Wait for the tasks; on Ctrl-C cancel the rest (each saves its checkpoint) and return."""
    from tqdm.auto import tqdm

    pending, total = list(refs), len(runs)
    with tqdm(total=total, initial=total - len(pending), disable=not progress, desc="runs",
              unit="run") as bar:  # fmt: skip
        try:
            while pending:  # a short timeout: a blocked wait would never see Ctrl-C
                ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
                for ref in ready:
                    if _take(ray, ref, refs[ref], rows, runs, outcome) and on_rows is not None:
                        on_rows([rows[i] for i in sorted(rows)])
                    bar.update(1)
        except KeyboardInterrupt:
            outcome.interrupted = True
            _cancel(ray, pending)


def _take(
    ray: Any, ref: Any, i: int, rows: dict[int, Any], runs: list[SweepRun], outcome: SweepOutcome
) -> bool:
    """Fold one finished task into ``rows``; True if it added a row."""
    try:
        row = ray.get(ref)
    except Exception as e:  # a run that fails is reported, the others go on
        outcome.failed.append(f"{runs[i].out.name}: {_cause(e)}")
        return False
    if row.get("interrupted"):
        outcome.interrupted = True
        return False
    rows[i] = row
    return True


def _cause(error: Exception) -> str:
    cause = getattr(error, "cause", None) or error
    return str(cause).strip().splitlines()[-1][:200] if str(cause).strip() else type(cause).__name__


def _cancel(ray: Any, pending: list[Any], wait_seconds: float = 120) -> None:
    """Ask each task in flight to stop (a KeyboardInterrupt in the task: the trainer saves a
    checkpoint and returns), and give them time to write it."""
    for ref in pending:
        ray.cancel(ref, force=False)
    ray.wait(pending, num_returns=len(pending), timeout=wait_seconds)


def write_results(folder: Path, rows: list[dict[str, Any]]) -> list[Path]:
    """``results.csv`` and ``results.json``: one row per finished run."""
    import csv
    import io

    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path, json_path = folder / "results.csv", folder / "results.json"
    store.atomic_write(csv_path, lambda p: p.write_text(buffer.getvalue()))
    store.atomic_write(json_path, lambda p: p.write_text(json.dumps(rows, indent=1) + "\n"))
    return [csv_path, json_path]


def publish(folder: Path, name: str, rows: list[dict[str, Any]], planned: int) -> list[Path]:
    """The results files and the page for ``rows`` (finished runs, grid order)."""
    from algolens.sweep.page import write_page

    return [*write_results(folder, rows), write_page(folder, name, rows, planned)]
