"""A run's ``checkpoint.pt``: the whole training state in one file, stamped with the run's
identity so that it resumes only its own run (see :mod:`algolens.store` for the run directory's
other files and the order the trainer writes them in).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from algolens.errors import AlgolensError
from algolens.store import (
    CHECKPOINT,
    CONFIG,
    LEGACY_STATE,
    RUN,
    atomic_write,
    config_hash,
    read_config,
    read_marker,
    refuse_symlink,
    run_state,
)


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """The whole training state in one file, renamed into place, stamped with the run's
    identity (``run.json``'s run id and config hash) so that it resumes only this run."""
    import torch

    marker = read_marker(run_dir) or {}
    identity = {"run_id": marker.get("run_id"), "config_sha256": marker.get("config_sha256")}
    atomic_write(Path(run_dir) / CHECKPOINT, lambda p: torch.save({**state, **identity}, p))


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    """The checkpoint, read with ``weights_only=True`` (no pickled code runs), checked to be
    this run's (:func:`check_identity`)."""
    import torch

    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        state, detail = run_state(run_dir)
        raise AlgolensError(detail if state != "finished" else f"nothing to resume in {detail}")
    try:
        state = torch.load(path, weights_only=True)
    except Exception as e:  # any unpickling problem is a corrupt file to the user
        raise AlgolensError(f"corrupt {path}: {type(e).__name__}") from None
    need = {"step", "model", "optimizer", "scheduler", "generator", "metrics_bytes"}
    if not isinstance(state, dict) or not need <= set(state):
        raise AlgolensError(f"corrupt {path}: it is not an algolens checkpoint")
    check_parts(state, path)
    check_identity(Path(run_dir), state)
    return state


def check_parts(state: dict[str, Any], path: Path) -> None:
    """One line naming the first part of a checkpoint that is not of the kind the trainer
    writes: the step and log size whole numbers from 0 (not ``true``), the log's hash hex text,
    the states tables, the sampler's state a byte tensor, the Grokfast averages tensors."""
    import torch

    def whole(v: Any) -> bool:
        return type(v) is int and 0 <= v < 2**63

    def seconds(v: Any) -> bool:  # a whole number of 400 digits is beyond any float
        return whole(v) or (type(v) is float and 0 <= v < math.inf)

    checks: dict[str, Callable[[Any], bool]] = {
        "step": whole,
        "elapsed": seconds,
        "metrics_bytes": whole,
        "metrics_sha256": lambda v: v is None or (isinstance(v, str) and len(v) == 64),
        "model": lambda v: isinstance(v, dict),
        "optimizer": lambda v: isinstance(v, dict),
        "scheduler": lambda v: isinstance(v, dict),
        "generator": lambda v: isinstance(v, torch.Tensor) and v.dtype == torch.uint8,
        "grokfast": lambda v: isinstance(v, list) and all(isinstance(t, torch.Tensor) for t in v),
        "final": lambda v: isinstance(v, bool),
        "run_id": lambda v: v is None or isinstance(v, str),
        "config_sha256": lambda v: v is None or isinstance(v, str),
    }
    for key, ok in checks.items():
        if key in state and not ok(state[key]):
            shown = repr(state[key]) if not isinstance(state[key], torch.Tensor) else "a tensor"
            raise AlgolensError(f"corrupt {path}: its {key} is {shown[:60]}")


def check_identity(run_dir: Path, state: dict[str, Any]) -> None:
    """Refuse a checkpoint of another run (copied in, or left by an earlier run in the folder):
    its run id and config hash must be those of ``run.json`` and ``config.json``. A run of an
    earlier algolens (no ``run.json``) resumes only a checkpoint that carries no identity."""
    marker = read_marker(run_dir)
    path = run_dir / CHECKPOINT
    if marker is None:
        if state.get("run_id") is not None:
            raise AlgolensError(f"{run_dir} has no {RUN}: {path} cannot be matched to it")
        return
    if state.get("run_id") != marker["run_id"]:
        raise AlgolensError(
            f"{path} belongs to another run (run id {str(state.get('run_id'))[:8]}, this run "
            f"is {marker['run_id'][:8]}): it cannot resume this one"
        )
    now = config_hash(read_config(run_dir))
    if not state.get("config_sha256") == marker.get("config_sha256") == now:
        raise AlgolensError(
            f"{run_dir / CONFIG} was changed since the run started: its checkpoint cannot resume"
        )


def drop_checkpoint(run_dir: Path) -> None:
    """Remove the resume state of a finished run (its weights stay in model.safetensors)."""
    for name in (CHECKPOINT, LEGACY_STATE):
        refuse_symlink(Path(run_dir) / name)
        (Path(run_dir) / name).unlink(missing_ok=True)
