"""Training: one :class:`Trainer` with named parts (see :mod:`algolens.train.trainer`)."""

from algolens.config import TrainConfig
from algolens.train.objective import Objective, TaskObjective
from algolens.train.reuse import WriteBack, copy_matching_weights, head_entries, recopy_entries
from algolens.train.schedule import lr_at, lr_factor
from algolens.train.trainer import Trainer, TrainResult

__all__ = [
    "Objective",
    "TaskObjective",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "WriteBack",
    "copy_matching_weights",
    "head_entries",
    "lr_at",
    "lr_factor",
    "recopy_entries",
]
