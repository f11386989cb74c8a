"""Run directories on disk, and nothing else: the only module that reads or writes run files.

A run directory holds ``config.json`` (a :class:`~algolens.config.RunConfig`, written once),
``model.safetensors`` (the latest weights), ``metrics.jsonl`` (one row per logged step) and,
while a run can be resumed, ``checkpoint.pt``: the whole training state in one file (weights,
optimiser, scheduler, sampler and Grokfast state, step, and how far the metrics log had got),
so that it is written by one rename and can never pair weights with another step's optimiser.
Every file is written to a temporary name beside it and renamed into place; no file is ever
written through a symbolic link. ``train.lock`` keeps a second writer out.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from algolens.config import RunConfig
from algolens.errors import AlgolensError

CONFIG, WEIGHTS, METRICS, CHECKPOINT, LOCK = (
    "config.json",
    "model.safetensors",
    "metrics.jsonl",
    "checkpoint.pt",
    "train.lock",
)
LEGACY_STATE = "train_state.pt"  # the first layout's resume file (weights kept apart)
SHIPPED_FILES = (CONFIG, WEIGHTS, METRICS)  # what a finished, shipped (zoo) run keeps


def refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise AlgolensError(f"{path} is a symbolic link: run files are never written through one")


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    refuse_symlink(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a run is as readable as any file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise AlgolensError(f"no {what} at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError, OSError) as e:
        raise AlgolensError(f"corrupt {path}: {type(e).__name__}") from None


# ---- config -------------------------------------------------------------------------------------
def read_config(run_dir: Path) -> RunConfig:
    """The run's config, parsed strictly (one line on any problem)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise AlgolensError(f"no run directory at {run_dir}")
    if not (run_dir / CONFIG).is_file():
        raise AlgolensError(f"{run_dir} is not a run directory: no {CONFIG}")
    return RunConfig.from_dict(read_json(run_dir / CONFIG, "run config"))


def make_run_dir(run_dir: Path) -> None:
    """Create the run directory (one line if it cannot be)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise AlgolensError(f"--out {run_dir} is a file, not a directory")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AlgolensError(f"cannot create {run_dir}: {e.strerror}") from None
    if not os.access(run_dir, os.W_OK):
        raise AlgolensError(f"cannot write in {run_dir}")


def write_config(run_dir: Path, config: RunConfig) -> None:
    """Write a new run's config, once: a directory that already holds a run is refused (one
    that holds only a failed start's config is reused). Call it holding :func:`writer_lock`."""
    if has_progress(run_dir):
        raise AlgolensError(f"{run_dir} already holds a run: use --resume or another --out")
    write_json(run_dir / CONFIG, config.to_dict())
    refuse_symlink(run_dir / METRICS)
    (run_dir / METRICS).unlink(missing_ok=True)  # a failed start's rows, from before any weights


def has_progress(run_dir: Path) -> bool:
    """True when the directory holds trained weights or a checkpoint (more than a config)."""
    return any((run_dir / f).exists() for f in (WEIGHTS, CHECKPOINT, LEGACY_STATE))


# ---- weights ------------------------------------------------------------------------------------
def save_weights(model: Any, path: Path) -> None:
    """safetensors, with tied (shared) parameters stored once."""
    from safetensors.torch import save_model

    atomic_write(path, lambda p: save_model(model, str(p)))


def load_weights(model: Any, path: Path) -> None:
    """Load ``path`` into ``model``; wrong names or shapes are one line."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    try:
        missing, unexpected = load_model(model, str(path), strict=False)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
        raise AlgolensError(f"weights {path} do not fit the model: {first}") from None
    except (SafetensorError, OSError) as e:
        raise AlgolensError(f"cannot read weights {path}: {e}") from None
    if missing or unexpected:
        raise AlgolensError(f"weights {path} do not fit the model: missing {sorted(missing)[:3]}")


def weights_path(run_dir: Path) -> Path:
    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise AlgolensError(f"{run_dir} has no {WEIGHTS}: was training started?")
    return path


# ---- metrics ------------------------------------------------------------------------------------
def _metrics_bytes(path: Path) -> bytes:
    """The log's bytes (none when it does not exist); one line if it is not a readable file."""
    if not path.exists() and not path.is_symlink():
        return b""
    if not path.is_file():
        raise AlgolensError(f"{path} is not a file")
    try:
        return path.read_bytes()
    except OSError as e:
        raise AlgolensError(f"cannot read {path}: {e.strerror}") from None


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The metrics log, one dict per logged step. A torn last line (a writer killed mid-line)
    is skipped; any other line that is not a row is a corrupt log."""
    path = Path(run_dir) / METRICS
    try:
        text = _metrics_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise AlgolensError(f"corrupt {path}: it is not UTF-8 text") from None
    lines = text.split("\n")
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
        elif line.strip() and number < len(lines):  # a whole line that is not a row
            raise AlgolensError(f"corrupt {path}: line {number} is not a metrics row")
    return rows


class MetricsLog:
    """Appends one JSON row per logged step, keeping the sha256 of all it holds, so that a
    checkpoint records exactly which log it continues (:meth:`cut_back` checks and cuts)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / METRICS
        refuse_symlink(self.path)
        self._hash = hashlib.sha256(_metrics_bytes(self.path))
        self._file = self.path.open("ab")

    def write(self, row: dict[str, Any]) -> None:
        data = (json.dumps(row) + "\n").encode("utf-8")
        self._file.write(data)
        self._file.flush()
        self._hash.update(data)

    def position(self) -> int:
        return self._file.tell()

    def digest(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        self._file.close()

    @staticmethod
    def check(run_dir: Path, size: int, digest: str | None) -> None:
        """Refuse to continue a log that is not the one the checkpoint saw: shorter than it was,
        or with other bytes in the part the checkpoint covers."""
        path = Path(run_dir) / METRICS
        refuse_symlink(path)
        data = _metrics_bytes(path)
        if not isinstance(size, int) or not 0 <= size <= len(data):
            raise AlgolensError(
                f"{path} is shorter than at the checkpoint ({len(data)} < {size} bytes): "
                "it was edited or replaced, so the run cannot resume"
            )
        if digest is not None and hashlib.sha256(data[:size]).hexdigest() != digest:
            raise AlgolensError(f"{path} was edited since the checkpoint: the run cannot resume")

    @staticmethod
    def truncate(run_dir: Path, size: int) -> None:
        """Cut the log back to ``size`` bytes (where it stood at the checkpoint)."""
        path = Path(run_dir) / METRICS
        refuse_symlink(path)
        if path.exists():
            with path.open("r+b") as f:
                f.truncate(size)


# ---- checkpoints --------------------------------------------------------------------------------
def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """The whole training state in one file, renamed into place."""
    import torch

    atomic_write(Path(run_dir) / CHECKPOINT, lambda p: torch.save(state, p))


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    """The checkpoint, read with ``weights_only=True`` (no pickled code runs)."""
    import torch

    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        if (Path(run_dir) / LEGACY_STATE).exists():
            raise AlgolensError(f"{run_dir} was written by an earlier algolens: it cannot resume")
        if (Path(run_dir) / WEIGHTS).exists():
            raise AlgolensError(f"nothing to resume in {run_dir}: its training finished")
        raise AlgolensError(f"nothing to resume in {run_dir}: no {CHECKPOINT}")
    try:
        state = torch.load(path, weights_only=True)
    except Exception as e:  # any unpickling problem is a corrupt file to the user
        raise AlgolensError(f"corrupt {path}: {type(e).__name__}") from None
    need = {"step", "model", "optimizer", "scheduler", "generator", "metrics_bytes"}
    if not isinstance(state, dict) or not need <= set(state):
        raise AlgolensError(f"corrupt {path}: it is not an algolens checkpoint")
    return state


def drop_checkpoint(run_dir: Path) -> None:
    """Remove the resume state of a finished run (its weights stay in model.safetensors)."""
    for name in (CHECKPOINT, LEGACY_STATE):
        (Path(run_dir) / name).unlink(missing_ok=True)


# ---- one writer ---------------------------------------------------------------------------------
STALE_EMPTY_LOCK = 10.0  # seconds: a writer needs microseconds between creating and filling it


@contextmanager
def writer_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``train.lock`` (pid and host) while training; a second writer gets one line.

    A lock left by a process that no longer runs on this host is taken over.
    """
    path = Path(run_dir) / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = lock_holder(run_dir)
            if holder is None:  # stale: its process is gone
                path.unlink(missing_ok=True)
                continue
            raise AlgolensError(
                f"{run_dir} is being trained by process {holder.get('pid')} on "
                f"{holder.get('host')}: one writer per run"
            ) from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    _drop_torn_writes(Path(run_dir))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def lock_holder(run_dir: Path) -> dict[str, Any] | None:
    """Who holds ``train.lock`` (pid and host) while it is live; None when free or stale."""
    path = Path(run_dir) / LOCK
    if not path.is_file() or _stale(path):
        return None
    return _holder(path)


def _drop_torn_writes(run_dir: Path) -> None:
    """Remove the temporary files of writes a killed process left unfinished (``.NAME.*.tmp``,
    which :func:`atomic_write` renames into place when a write completes)."""
    for folder in (run_dir, run_dir / "checkpoints"):
        for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)


def _holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}


def _stale(path: Path) -> bool:
    """True when the lock's process is gone, or when it is empty and old (its writer was killed
    between creating it and writing its pid)."""
    holder = _holder(path)
    if not holder:
        try:
            return time.time() - path.stat().st_mtime > STALE_EMPTY_LOCK
        except OSError:
            return True
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
