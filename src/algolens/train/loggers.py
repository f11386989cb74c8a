"""Experiment logs beside ``metrics.jsonl``: TensorBoard event files or a Weights & Biases run.

``TrainConfig.log`` picks one (``algolens train --log tensorboard``). Each logger gets every
metrics row the trainer writes: the loss per answer digit and per sub-task, the learning rate and
the task's validation numbers. ``metrics.jsonl`` stays the record; these are views of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from algolens.errors import AlgolensError

TENSORBOARD_DIR = "tensorboard"


class ExperimentLog(Protocol):
    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def tag(key: str) -> str:
    """``loss_A5`` -> ``loss/A5``; ``val_acc`` -> ``val/acc``; ``lr`` stays ``lr``."""
    head, sep, rest = key.partition("_")
    return f"{head}/{rest}" if sep and head in ("loss", "val", "train", "acc") else key


def scalars(row: dict[str, Any]) -> dict[str, float]:
    return {
        tag(k): float(v)
        for k, v in row.items()
        if k != "step" and isinstance(v, int | float) and not isinstance(v, bool)
    }


class TensorBoardLog:
    """Event files in ``RUN/tensorboard``; a resumed run purges events past its checkpoint."""

    def __init__(self, run_dir: Path, start: int):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise AlgolensError(
                "--log tensorboard needs the tensorboard package: pip install tensorboard"
            ) from None
        self.writer = SummaryWriter(
            log_dir=str(run_dir / TENSORBOARD_DIR), purge_step=start or None
        )

    def write(self, row: dict[str, Any]) -> None:
        for name, value in scalars(row).items():
            self.writer.add_scalar(name, value, row["step"])

    def close(self) -> None:
        self.writer.close()


class WandbLog:
    """A Weights & Biases run named after the run directory (offline unless configured)."""

    def __init__(self, run_dir: Path, start: int, config: dict[str, Any]):
        try:
            import wandb
        except ImportError:
            raise AlgolensError("--log wandb needs the wandb package: pip install wandb") from None
        try:
            self.run = wandb.init(
                project="algolens", name=run_dir.name, dir=str(run_dir), config=config
            )
        except Exception as e:  # not logged in, no network: one line, with the way out
            raise AlgolensError(
                f"wandb could not start a run ({type(e).__name__}); log in, or set "
                "WANDB_MODE=offline to write it locally"
            ) from None

    def write(self, row: dict[str, Any]) -> None:
        self.run.log(scalars(row), step=row["step"])

    def close(self) -> None:
        self.run.finish()


def open_log(
    kind: str, run_dir: Path | None, start: int, config: dict[str, Any]
) -> ExperimentLog | None:
    """The experiment log ``kind`` names (``''`` for none) for a run directory."""
    if not kind or run_dir is None:
        return None
    if kind == "tensorboard":
        return TensorBoardLog(run_dir, start)
    if kind == "wandb":
        return WandbLog(run_dir, start, config)
    raise AlgolensError(f"log must be tensorboard or wandb, got {kind!r}")
