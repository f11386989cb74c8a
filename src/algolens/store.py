"""Run directories: save and load a trained model with everything needed to reproduce it.

A run directory holds ``config.json`` (task, model, training, seed, argv, versions),
``model.safetensors`` and ``metrics.jsonl``; while training it also holds ``train_state.pt``
(optimizer and sampler state, read back with ``weights_only=True``). Every file is written to a
temporary name and renamed into place, so a killed process never leaves a file that half loads.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model
from torch import nn

from algolens.errors import AlgolensError
from algolens.tasks import make_task

CONFIG, WEIGHTS, METRICS, TRAIN_STATE = (
    "config.json",
    "model.safetensors",
    "metrics.jsonl",
    "train_state.pt",
)
CARD_FILES = (CONFIG, WEIGHTS, METRICS)  # what a shipped (zoo) run keeps


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
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


def save_weights(model: nn.Module, path: Path) -> None:
    """safetensors, with tied (shared) parameters stored once."""
    atomic_write(path, lambda p: save_model(model, str(p)))


def load_weights(model: nn.Module, path: Path) -> None:
    try:
        missing, unexpected = load_model(model, str(path), strict=False)
    except (SafetensorError, OSError, RuntimeError) as e:
        raise AlgolensError(f"cannot read weights {path}: {e}") from None
    if missing or unexpected:
        raise AlgolensError(f"weights {path} do not fit the model: missing {sorted(missing)[:3]}")


def build_model(model_config: dict[str, Any]) -> nn.Module:
    """A fresh model from the ``model`` section of a run config (``kind`` picks the class)."""
    from algolens.models import MODEL_KINDS

    kind = model_config.get("kind", "transformer")
    if kind not in MODEL_KINDS:
        raise AlgolensError(f"unknown model kind {kind!r}")
    cfg_cls, model_cls = MODEL_KINDS[kind]
    cfg = cfg_cls.from_dict({k: v for k, v in model_config.items() if k != "kind"})
    return model_cls(cfg)


@dataclass
class Run:
    """A loaded run: ``.model`` (in eval mode), ``.task``, ``.config`` and ``.predict``."""

    path: Path | None
    config: dict[str, Any]
    model: nn.Module
    task: Any
    metrics: list[dict[str, Any]] = field(default_factory=list)

    def predict(self, questions: list[str]) -> list[str]:
        """Greedy answers: ``run.predict(['12+34', '99+1']) == ['046', '100']``."""
        from algolens.verify import predict

        return predict(self.model, self.task, questions)

    @property
    def name(self) -> str:
        return str(self.config.get("name") or (self.path.name if self.path else "run"))


def read_config(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise AlgolensError(f"no run directory at {path}")
    try:
        config = json.loads((path / CONFIG).read_text())
    except FileNotFoundError:
        raise AlgolensError(f"{path} is not a run directory: no {CONFIG}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AlgolensError(f"corrupt {path / CONFIG}: {e}") from None
    if not isinstance(config, dict) or "task" not in config or "model" not in config:
        raise AlgolensError(f"corrupt {path / CONFIG}: it names no task or model")
    return config


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The metrics log; a torn last line (a killed writer) is skipped."""
    rows = []
    if (path / METRICS).exists():
        for line in (path / METRICS).read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def load_run(path: str | Path) -> Run:
    """Load a run directory; a missing or corrupt one raises :class:`AlgolensError`."""
    path = Path(path)
    config = read_config(path)
    task = make_task(config["task"])
    model = build_model(config["model"])
    if not (path / WEIGHTS).exists():
        raise AlgolensError(f"{path} has no {WEIGHTS}: was training started?")
    load_weights(model, path / WEIGHTS)
    model.eval()
    return Run(path=path, config=config, model=model, task=task, metrics=read_metrics(path))


def load(name: str | Path) -> Run:
    """A run from a directory, a zoo name (``'zoo:add_d5_l2'``) or a Hugging Face hub id."""
    text = str(name)
    if text.startswith("zoo:"):
        from algolens.zoo import zoo_path

        return load_run(zoo_path(text[4:]))
    if Path(text).exists():
        return load_run(text)
    if text.count("/") == 1 and not text.startswith((".", "/")):
        return HubRun.from_pretrained(text).run
    raise AlgolensError(f"no run directory at {text}")


def save_run_files(run: Run, out: Path) -> None:
    """Write a run's config, weights and metrics into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / CONFIG, run.config)
    save_weights(run.model, out / WEIGHTS)
    lines = "".join(json.dumps(r) + "\n" for r in run.metrics)
    atomic_write(out / METRICS, lambda p: p.write_text(lines))


def _hub_mixin() -> type:
    from huggingface_hub import ModelHubMixin

    return ModelHubMixin


class HubRun(_hub_mixin(), library_name="algolens", tags=["algolens"]):  # type: ignore[misc,call-arg]
    """A run in the Hugging Face layout, through ``huggingface_hub.ModelHubMixin``.

    ``HubRun(run).save_pretrained(folder)`` writes it; ``HubRun.from_pretrained(folder_or_id)``
    reads a local folder, or fetches a hub id (which needs the network).
    """

    def __init__(self, run: Run):
        self.run = run

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> HubRun:  # type: ignore[override]
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except AlgolensError:
            raise
        except Exception as e:  # offline, unknown repo, no permission: one clear line
            raise AlgolensError(
                f"cannot fetch {str(pretrained_model_name_or_path)!r} from the Hugging Face hub "
                f"({type(e).__name__}); without network, pass a local run directory instead"
            ) from None

    def _save_pretrained(self, save_directory: Path) -> None:
        save_run_files(self.run, Path(save_directory))

    @classmethod
    def _from_pretrained(  # type: ignore[override]
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        **kwargs: Any,
    ) -> HubRun:
        if Path(model_id).is_dir():
            return cls(load_run(model_id))
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            repo_id=model_id,
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
        )
        return cls(load_run(folder))


def save_train_state(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda p: torch.save(state, p))


def load_train_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise AlgolensError(f"nothing to resume in {path.parent}: no {path.name}") from None
    except Exception as e:
        raise AlgolensError(f"corrupt {path}: {e}") from None
