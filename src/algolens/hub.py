"""The Hugging Face hub: a run in the hub layout, through ``huggingface_hub.ModelHubMixin``.

Imported only for ``hf:`` ids and ``save_pretrained`` (huggingface_hub is slow to import).
``HubRun(run).save_pretrained(folder)`` writes a run; ``from_hub('owner/name')`` fetches one
(which needs the network, or a local folder, or the local cache with ``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huggingface_hub import ModelHubMixin

from algolens import store
from algolens.errors import AlgolensError


class HubRun(ModelHubMixin, library_name="algolens", tags=["algolens"]):  # type: ignore[call-arg,misc]
    """A run directory in the hub layout (config.json, model.safetensors, metrics.jsonl).

    ``HubRun(run).save_pretrained(folder)`` writes a loaded run; ``HubRun.from_pretrained(id)``
    fetches one and gives its local ``folder`` (``algolens.load('hf:ID')`` loads it in one go).
    """

    def __init__(self, run: Any = None, folder: Path | None = None):
        self.run, self.folder = run, folder

    def _save_pretrained(self, save_directory: Path) -> None:
        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        store.write_json(out / store.CONFIG, self.run.config.to_dict())
        store.save_weights(self.run.model, out / store.WEIGHTS)
        lines = "".join(json.dumps(r) + "\n" for r in self.run.metrics)
        store.atomic_write(out / store.METRICS, lambda p: p.write_text(lines))

    @classmethod
    def _from_pretrained(cls, *, model_id: str, **kwargs: Any) -> HubRun:  # type: ignore[override]
        return cls(folder=from_hub(model_id, **kwargs))


def from_hub(repo_id: str, **kwargs: Any) -> Path:
    """The local folder of hub run ``repo_id`` (downloaded, or from the cache)."""
    if Path(repo_id).is_dir():
        return Path(repo_id)
    from huggingface_hub import snapshot_download

    keep = {
        k: v
        for k, v in kwargs.items()
        if k in ("revision", "cache_dir", "token", "local_files_only")
    }
    try:
        return Path(snapshot_download(repo_id=repo_id, **keep))
    except Exception as e:  # offline, unknown repo, no permission: one clear line
        raise AlgolensError(
            f"cannot fetch hf:{repo_id} from the Hugging Face hub ({type(e).__name__}); "
            "without network, pass a local run directory instead"
        ) from None
