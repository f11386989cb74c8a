"""One typed run configuration: task, model, training, initialisation and provenance.

``config.json`` is a :class:`RunConfig`, written once when a run starts and never rewritten.
Every section is parsed strictly: an unknown key or a value of the wrong type is one line
(``unknown training option 'lr_max' (did you mean 'lr'?)``). The task and model sections are
checked by their owners (the task family and the model's config class); this module checks
their shape and everything else.

Worked example (abridged)::

    {"format": 2, "name": "add_d5_l2_h3_s0",
     "task": {"name": "add", "n_digits": 5, ...},
     "model": {"kind": "transformer", "n_layers": 2, "n_heads": 3, "d_model": 96, ...},
     "train": {"steps": 2500, "batch_size": 256, "lr": 0.003, "seed": 0, ...},
     "init": {"source": null, "reuse": null, ...},
     "provenance": {"argv": ["algolens", "train", "add"], "versions": {...}}}
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from algolens.errors import AlgolensError
from algolens.options import check_seed, from_dict, require

FORMAT = 2
MAX_STEPS, MAX_BATCH = 10**9, 2**20
Reuse = Literal["ins1", "ins2", "ins3"]


@dataclass
class TrainConfig:
    """Optimisation settings; the defaults are the papers' (AdamW 8e-5, wd 0.1, batch 64)."""

    steps: int = 15_000
    batch_size: int = 64
    lr: float = 8e-5
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.98
    optimizer: Literal["adamw", "adam"] = "adamw"
    warmup_frac: float = 0.2  # linear warm-up over this share of the steps ...
    warmup_start: float = 0.01  # ... from this fraction of lr, then cosine decay
    min_lr_frac: float = 0.0  # the cosine ends at this fraction of lr
    grad_clip: float = 0.0  # 0: no clipping
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 1000
    keep_every: int = 0  # >0: also keep checkpoints/step_XXXXXX.safetensors every this many steps
    grokfast_alpha: float = 0.98  # Grokfast: EMA decay of the gradients ...
    grokfast_lamb: float = 0.0  # ... added back times lamb (0: off)
    # deep supervision: weight of the mean loss of the earlier blocks' logit-lens answers, each
    # block on the answers the task's layer_masks give it (LEGO: one chain hop per block)
    layer_loss: float = 0.0
    # e.g. "val_acc>=1" or "val_loss<1e-3": stop at the first metrics row that meets it
    stop_when: str = ""
    log: Literal["", "tensorboard", "wandb"] = ""  # an experiment log beside metrics.jsonl
    device: str = "cpu"  # where the model and batches live: cpu, cuda, cuda:1 (auto resolved)
    # bfloat16: the forward and backward matmuls under autocast (the weights, the optimiser and
    # the float64 loss stay as they are); faster only where the hardware has native bfloat16
    precision: Literal["float32", "bfloat16"] = "float32"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "checkpoint_every", "keep_every"):
            value, low = getattr(self, name), 0 if name == "keep_every" else 1
            high = MAX_BATCH if name == "batch_size" else MAX_STEPS
            require(low <= value <= high, f"{name} must be {low} to {high:,}, got {value}")
        base, _, index = self.device.partition(":")
        require(
            self.device == "auto"
            or (base in ("cpu", "cuda") and (not index or (index.isascii() and index.isdigit()))),
            f"device must be cpu, cuda, cuda:N or auto, got {self.device!r}",
        )
        check_seed(self.seed)
        require(self.lr > 0, f"lr must be positive, got {self.lr}")
        require(self.weight_decay >= 0, f"weight_decay must be 0 or more, got {self.weight_decay}")
        require(self.grad_clip >= 0, f"grad_clip must be 0 (off) or more, got {self.grad_clip}")
        require(self.layer_loss >= 0, f"layer_loss must be 0 or more, got {self.layer_loss}")
        require(
            self.grokfast_lamb >= 0, f"grokfast_lamb must be 0 or more, got {self.grokfast_lamb}"
        )
        for name in ("beta1", "beta2", "grokfast_alpha"):
            value = getattr(self, name)
            require(0 <= value < 1, f"{name} must be in [0, 1), got {value}")
        for name in ("warmup_frac", "warmup_start", "min_lr_frac"):
            value = getattr(self, name)
            require(0 <= value <= 1, f"{name} must be between 0 and 1, got {value}")
        if self.stop_when:
            parse_stop_when(self.stop_when)
        require(
            self.precision in ("float32", "bfloat16"),
            f"precision must be float32 or bfloat16, got {self.precision!r}",
        )


STOP_WHEN = re.compile(r"\s*(\w+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*")


def parse_stop_when(text: str) -> tuple[str, str, float]:
    """``"val_loss<1e-3"`` -> ``("val_loss", "<", 0.001)``."""
    m = STOP_WHEN.fullmatch(text)
    try:
        key, op, value = m.group(1), m.group(2), float(m.group(3))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raise AlgolensError(f"stop_when must look like 'val_loss<1e-3', got {text!r}") from None
    require(math.isfinite(value), f"stop_when needs a finite number, got {text!r}")
    return key, op, value


@dataclass
class InitConfig:
    """Where the weights start. ``source`` is a run whose weights seed this one where names and
    shapes fit (the papers' model reuse); ``reuse`` names the papers' mode: ``ins1`` copies once,
    ``ins2`` also re-copies the inserted heads the source model needs every ``recopy_every``
    steps, ``ins3`` those heads and the inserted MLPs. ``copied`` records what was copied.
    ``variant`` and ``family`` hold a family's own initialisation (LEGO: the encoder variant
    and its mimic init)."""

    source: str | None = None
    reuse: Reuse | None = None
    freeze_heads: bool = False
    recopy_every: int = 100
    copied: list[str] = field(default_factory=list)
    recopy: list[str] = field(default_factory=list)
    variant: str | None = None
    family: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require(self.recopy_every >= 1, f"recopy_every must be at least 1, got {self.recopy_every}")
        if self.source is None:
            require(
                not self.freeze_heads, "freeze_heads needs an initialisation source (--init-from)"
            )
            require(self.reuse is None, f"reuse mode {self.reuse} needs --init-from")
        elif self.reuse is None:
            self.reuse = "ins1"


@dataclass
class Provenance:
    """How the run was made: the command line, the versions of what made it, and the CPU
    threads torch trained with (float sums round differently on another count, so the same seed
    gives other weights there)."""

    argv: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    threads: int | None = None  # set by training; None: imported, or older than the field


@dataclass
class RunConfig:
    """A run's whole configuration, as stored in ``config.json``."""

    name: str
    task: dict[str, Any]
    model: dict[str, Any]
    train: TrainConfig = field(default_factory=TrainConfig)
    init: InitConfig = field(default_factory=InitConfig)
    provenance: Provenance = field(default_factory=Provenance)
    format: int = FORMAT

    def __post_init__(self) -> None:
        for section in ("task", "model"):
            value = getattr(self, section)
            require(
                isinstance(value, dict), f"the {section} section must be a table, got {value!r}"
            )
        require(isinstance(self.task.get("name"), str), "the task section needs a name")
        require(
            isinstance(self.model.get("kind", "transformer"), str), "the model kind must be text"
        )
        self.model.setdefault("kind", "transformer")  # a model section without it: the default

    @property
    def seed(self) -> int:
        return self.train.seed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunConfig:
        """Strictly, from ``config.json`` (earlier layouts are read and upgraded)."""
        if not isinstance(data, dict):
            raise AlgolensError(f"a run config must be a table, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            data = upgrade(data)
        sections = {
            "train": (TrainConfig, "training"),
            "init": (InitConfig, "initialisation"),
            "provenance": (Provenance, "provenance"),
        }
        parsed = dict(data)
        for key, (section_cls, what) in sections.items():
            parsed[key] = from_dict(section_cls, data.get(key, {}), what)
        return from_dict(cls, parsed, "run config")


def upgrade(old: dict[str, Any]) -> dict[str, Any]:
    """A config.json of the first layout (training settings and reuse mixed, provenance at the
    top level) in this one. The numbers are unchanged; a field of the wrong type is one line."""
    if "task" not in old or "model" not in old:
        raise AlgolensError("this run config names no task or model")
    train = dict(_old_field(old, "train", dict, {}))
    source = train.pop("init_from", None)
    freeze = train.pop("freeze_heads", False)
    family: dict[str, Any] = {}
    if "mimic_init" in old:
        mimic = _old_field(old, "mimic_init", dict, {})
        family["mimic"] = {k: v for k, v in mimic.items() if k != "run"}
    variant = old.get("variant")
    if variant in ("mimic", "parent"):
        source = None  # the mimic init made it; it is redone from family["mimic"]
    copied = [] if source is None else list(_old_field(old, "init_copied", list, []))
    init = {"source": source, "freeze_heads": freeze, "copied": copied}
    init.update(variant=variant, family=family)
    return {
        "format": FORMAT,
        "name": old.get("name") or "run",
        "task": old["task"],
        "model": old["model"],
        "train": train,
        "init": init,
        "provenance": {
            "argv": list(_old_field(old, "argv", list, [])),
            "versions": dict(_old_field(old, "versions", dict, {})),
        },
    }


def _old_field(old: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    """A field of a first-layout config, checked to be a ``kind`` (absent or null: ``default``)."""
    value = old.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        wanted = "a table" if kind is dict else "a list"
        raise AlgolensError(f"this run config's {key!r} must be {wanted}, got {value!r}"[:300])
    return value


def run_name(task: dict[str, Any], model: dict[str, Any], seed: int) -> str:
    """The papers' naming: ``add_d5_l2_h3_s0``."""
    parts = [str(task["name"])]
    if "n_digits" in task:
        parts.append(f"d{task['n_digits']}")
    if "n_layers" in model:
        parts.append(f"l{model['n_layers']}")
    if "n_heads" in model:
        parts.append(f"h{model['n_heads']}")
    parts.append(f"s{seed}")
    return "_".join(parts)
