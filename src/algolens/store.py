"""Run directories on disk, and nothing else: the only module that reads or writes run files.

A run directory holds ``config.json`` (a :class:`~algolens.config.RunConfig`, written once),
``run.json`` (the run's identity, a random run id and the hash of its config, written at its
start, and ``"done": true`` written LAST, when its training has finished, with its training
seconds), ``model.safetensors`` (the latest weights), ``metrics.jsonl`` (one row per logged
step) and, while a run can be resumed, ``checkpoint.pt``: the whole training state in one
file (weights, optimiser, scheduler, sampler and Grokfast state, step, how far the metrics log
had got, and the run's identity), so that it is written by one rename and can never pair
weights with another step's optimiser or another run's. Every file is written to a temporary
name beside it and renamed into place; no file is ever written through a symbolic link, nor
into a symlinked folder inside the run. ``train.lock`` keeps a second writer out (an
``flock`` held while training).

Where a run stands (:func:`run_state`) follows from which files are there, in the order the
trainer writes them: a checkpoint first, then the weights, then ``run.json``'s ``done``, then
the checkpoint goes. A run written by an earlier algolens has no ``run.json``: with weights and
no checkpoint it is finished when its metrics reach its configured steps (or its stop rule),
and cut off (refused in one line) when they stop short.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeGuard

from algolens import locks
from algolens.config import RunConfig
from algolens.errors import AlgolensError
from algolens.options import did_you_mean

CONFIG, WEIGHTS, METRICS, CHECKPOINT, LOCK = (
    "config.json",
    "model.safetensors",
    "metrics.jsonl",
    "checkpoint.pt",
    "train.lock",
)
RUN = "run.json"  # identity and the finished marker (written last)
LEGACY_STATE = "train_state.pt"  # the first layout's resume file (weights kept apart)
SHIPPED_FILES = (CONFIG, WEIGHTS, METRICS)  # what a finished, shipped (zoo) run keeps
SNAPSHOTS = "checkpoints"  # keep_every weight snapshots
# every name algolens writes in a run directory (experiment logs and a sweep's result too)
RUN_NAMES = frozenset({CONFIG, RUN, WEIGHTS, METRICS, CHECKPOINT, LOCK, LEGACY_STATE, SNAPSHOTS,
                       "tensorboard", "wandb", "result.json", "card.json"})  # fmt: skip


def refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise AlgolensError(f"{path} is a symbolic link: run files are never written through one")


def inside(root: Path, path: Path) -> Path:
    """``path``, checked to lie inside the folder ``root`` with no symbolic link on the way
    (``root`` itself is the user's to choose); the folders between are made. One line if not."""
    root, path = Path(root), Path(path)
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise AlgolensError(f"{path} is outside {root}: algolens writes only inside it") from None
    if not parts or ".." in parts:
        raise AlgolensError(f"{path} is not a file inside {root}")
    folder = root
    for part in parts[:-1]:
        folder = folder / part
        refuse_symlink(folder)
        folder.mkdir(exist_ok=True)
    refuse_symlink(path)
    return path


def atomic_write(path: Path, write: Callable[[Path], object], *, root: Path | None = None) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.
    With ``root``, ``path`` must lie inside that folder with no symlinked folder on the way."""
    if root is not None:
        inside(root, path)
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


def write_json(path: Path, data: Any, *, root: Path | None = None) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"), root=root)


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise AlgolensError(f"no {what} at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError, OSError) as e:
        raise AlgolensError(f"corrupt {path}: {type(e).__name__}") from None
    except RecursionError:
        raise AlgolensError(f"corrupt {path}: nested too deeply") from None


# ---- config and the run's identity ---------------------------------------------------------
def read_config(run_dir: Path) -> RunConfig:
    """The run's config, parsed strictly (one line on any problem)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise AlgolensError(f"no run directory at {run_dir}")
    if not (run_dir / CONFIG).is_file():
        raise AlgolensError(f"{run_dir} is not a run directory: no {CONFIG}")
    return RunConfig.from_dict(read_json(run_dir / CONFIG, "run config"))


def config_hash(config: RunConfig) -> str:
    """sha256 of what training depends on (task, model, training, initialisation): not the
    name or the provenance, which say where and how the run was started."""
    data = config.to_dict()
    kept = {k: data[k] for k in ("task", "model", "train", "init")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def claim_run_dir(run_dir: Path, *, create: bool = True) -> None:
    """Make ``run_dir`` for a new run, or accept it: it must be absent, empty, or hold only
    what algolens writes in a run (a config.json that is not a run config is someone else's);
    never a file, never a folder of other things. One line if not. ``create=False`` only
    checks."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise AlgolensError(f"--out {run_dir} is a file, not a directory")
    if run_dir.is_dir():
        foreign = sorted(
            p.name for p in run_dir.iterdir() if p.name not in RUN_NAMES and not _is_tmp(p.name)
        )
        if foreign:
            raise AlgolensError(
                f"--out {run_dir} holds files algolens did not write ({', '.join(foreign[:3])}): "
                "give an empty or new folder"
            )
        check_links(run_dir)
        if (run_dir / CONFIG).exists():
            try:
                read_config(run_dir)
            except AlgolensError as e:
                raise AlgolensError(
                    f"--out {run_dir} holds a {CONFIG} that is not a run's ({e}): give an empty "
                    "or new folder"
                ) from None
    if not create:
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AlgolensError(f"cannot create {run_dir}: {e.strerror}") from None
    if not os.access(run_dir, os.W_OK):
        raise AlgolensError(f"cannot write in {run_dir}")


make_run_dir = claim_run_dir  # the earlier name


def _is_tmp(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def check_links(run_dir: Path) -> None:
    """Refuse a run directory in which any of algolens's names is a symbolic link: its writes,
    reads and cleanups would reach outside the run."""
    for name in sorted(RUN_NAMES):
        refuse_symlink(Path(run_dir) / name)


def write_config(run_dir: Path, config: RunConfig) -> None:
    """Write a new run's config and identity, once: a directory that already holds a run is
    refused (one that holds only a failed start's config is reused). Call it holding
    :func:`writer_lock`."""
    state, detail = run_state(run_dir)
    if state == "cut":
        raise AlgolensError(detail)
    if state != "new":
        raise AlgolensError(f"{run_dir} already holds a run: use --resume or another --out")
    refuse_symlink(run_dir / METRICS)
    (run_dir / METRICS).unlink(missing_ok=True)  # a failed start's rows, from before any weights
    write_json(run_dir / CONFIG, config.to_dict())
    identity = {"run_id": uuid.uuid4().hex, "config_sha256": config_hash(config), "done": False}
    write_json(run_dir / RUN, identity)


def read_marker(run_dir: Path) -> dict[str, Any] | None:
    """``run.json`` (run id, config hash, done), or None for a run of an earlier algolens."""
    path = Path(run_dir) / RUN
    if not path.exists() and not path.is_symlink():
        return None
    refuse_symlink(path)
    data = read_json(path, "run marker")
    ok = isinstance(data, dict) and isinstance(data.get("run_id"), str)
    if not ok or not isinstance(data.get("done"), bool):
        raise AlgolensError(f"corrupt {path}: it is not an algolens run marker")
    return dict(data)


def mark_finished(run_dir: Path, step: int, seconds: float | None = None) -> None:
    """Write ``"done": true`` into ``run.json``: the last write of a run's training; with
    ``seconds``, its training time over every segment (a sweep that only verifies the run
    reads it there)."""
    run_dir = Path(run_dir)
    marker = read_marker(run_dir) or {
        "run_id": uuid.uuid4().hex,  # a run of an earlier algolens, resumed to its end here
        "config_sha256": config_hash(read_config(run_dir)),
    }
    timed = {} if seconds is None else {"seconds": round(seconds, 3)}
    write_json(run_dir / RUN, {**marker, "done": True, "step": step, **timed})


def training_seconds(run_dir: Path) -> float | None:
    """A finished run's training time as ``run.json`` records it (None: not recorded)."""
    seconds = (read_marker(Path(run_dir)) or {}).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    return float(seconds)


def run_state(run_dir: Path) -> tuple[str, str]:
    """Where a run stands, and why: ``new`` (nothing to resume: no weights, no checkpoint),
    ``resumable`` (a checkpoint, not finished), ``finished`` (``run.json`` says done, or an
    earlier algolens's run that reached its end), or ``cut`` (weights with neither a checkpoint
    nor a finished marker: it can neither resume nor count as trained)."""
    run_dir = Path(run_dir)
    marker = read_marker(run_dir)
    has_weights, has_checkpoint = (run_dir / WEIGHTS).exists(), (run_dir / CHECKPOINT).exists()
    if marker is not None and marker["done"]:
        return "finished", f"{run_dir}: its training finished"
    if has_checkpoint:
        return "resumable", ""
    if (run_dir / LEGACY_STATE).exists():
        return "cut", f"{run_dir} was written by an earlier algolens: it cannot resume"
    if not has_weights:
        return "new", f"nothing to resume in {run_dir}: no {CHECKPOINT} (it never reached one)"
    if marker is None:
        return _legacy_state(run_dir)
    return "cut", (
        f"{run_dir} has {WEIGHTS} but no {CHECKPOINT} and its {RUN} does not mark it finished: "
        "it cannot resume; train it again into a new --out"
    )


def _legacy_state(run_dir: Path) -> tuple[str, str]:
    """A run without ``run.json`` (an earlier algolens), with weights and no checkpoint: finished
    when its last metrics row is at its configured steps or meets its stop rule (a shipped zoo
    run), or has no rows at all (an imported run); cut off otherwise."""
    config = read_config(run_dir)
    rows = read_metrics(run_dir)
    if not rows or rows[-1]["step"] >= config.train.steps or _stopped(config, rows[-1]):
        return "finished", f"{run_dir}: its training finished"
    return "cut", (
        f"{run_dir} stops at step {rows[-1]['step']:,} of {config.train.steps:,} with no "
        f"{CHECKPOINT} (an earlier algolens was stopped before its first checkpoint): it cannot "
        "resume; train it again into a new --out"
    )


def _stopped(config: RunConfig, row: dict[str, Any]) -> bool:
    """Whether ``row`` meets the run's ``stop_when`` rule (``val_loss<1e-3``)."""
    if not config.train.stop_when:
        return False
    import operator

    from algolens.config import parse_stop_when

    key, op, value = parse_stop_when(config.train.stop_when)
    compare = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}[op]
    got = row.get(key)
    return isinstance(got, int | float) and bool(compare(got, value))


def has_progress(run_dir: Path) -> bool:
    """True when the directory holds trained weights or a checkpoint (more than a config)."""
    return any((run_dir / f).exists() for f in (WEIGHTS, CHECKPOINT, LEGACY_STATE))


# ---- weights ------------------------------------------------------------------------------------
def save_weights(model: Any, path: Path, *, root: Path | None = None) -> None:
    """safetensors, with tied (shared) parameters stored once (inside ``root``, when given)."""
    from safetensors.torch import save_model

    atomic_write(path, lambda p: save_model(model, str(p)), root=root)


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
        except (ValueError, RecursionError):  # not JSON, an integer of over 4,300 digits, or
            row = None  # nested thousands deep
        if _is_row(row):
            rows.append(row)
        elif line.strip() and number < len(lines):  # a whole line that is not a row
            raise AlgolensError(f"corrupt {path}: line {number} is not a metrics row")
    return rows


def _is_row(row: Any) -> TypeGuard[dict[str, Any]]:
    """A metrics row: a table whose ``step`` is a whole number from 0, and whose whole-number
    values fit in 64 bits (the trainer writes nothing larger; a float of them is finite)."""
    if not isinstance(row, dict):
        return False
    step = row.get("step")
    if type(step) is not int or step < 0:
        return False
    return all(abs(v) < 2**63 for v in row.values() if type(v) is int)


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


# ---- the zoo and run references -----------------------------------------------------------------
ZOO_DIR = Path(__file__).parent / "zoo" / "models"


def zoo_path(name: str) -> Path:
    """The run directory of zoo model ``name``; names are plain words, never paths."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise AlgolensError(f"zoo names are letters, digits, '_' and '-': not {name!r}")
    path = ZOO_DIR / name
    if not (path / CONFIG).is_file():
        have = ", ".join(zoo_names()) or "none yet"
        hint = did_you_mean(name, zoo_names())
        raise AlgolensError(f"no zoo model {name!r}{hint} (the zoo has: {have})")
    return path


def zoo_names() -> list[str]:
    if not ZOO_DIR.is_dir():
        return []
    return sorted(p.name for p in ZOO_DIR.iterdir() if (p / CONFIG).is_file())


def check_ref(text: str) -> None:
    """Refuse a run reference that cannot load, before anything heavy is imported: a zoo name
    that is not in the zoo, or a path that does not exist (a hub id is checked when fetched).
    Commands call it first, so such a mistake is answered at once."""
    if text.startswith("zoo:"):
        zoo_path(text[4:])
    elif not text.startswith("hf:") and not Path(text).exists():
        raise AlgolensError(
            f"no run directory {text!r} (zoo models start with zoo:, hub ids with hf:)"
        )


# ---- one writer ---------------------------------------------------------------------------------
@contextmanager
def writer_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``train.lock`` while training (an flock: see :mod:`algolens.locks`); a second
    writer gets one line. A run with a symlink among its names is refused first, and the
    temporary files of a killed writer's unfinished writes are removed once the lock is ours."""
    run_dir = Path(run_dir)
    check_links(run_dir)
    fd = locks.take(run_dir / LOCK)
    try:
        _drop_torn_writes(run_dir)
        yield
    finally:
        locks.release(run_dir / LOCK, fd)


def lock_holder(run_dir: Path) -> dict[str, Any] | None:
    """Who holds ``train.lock`` (pid and host) while it is held; None when free or stale."""
    return locks.holder(Path(run_dir) / LOCK)


def _drop_torn_writes(run_dir: Path) -> None:
    """Remove the temporary files of writes a killed process left unfinished (``.NAME.*.tmp``,
    which :func:`atomic_write` renames into place when a write completes); never through a
    symlinked folder (:func:`check_links` refused one before)."""
    for folder in (run_dir, run_dir / SNAPSHOTS):
        if folder.is_symlink() or not folder.is_dir():
            continue
        for tmp in folder.glob(".*.tmp"):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)
