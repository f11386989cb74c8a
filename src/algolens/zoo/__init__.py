"""The zoo: trained models shipped inside the package, each a run directory under ``models/``."""

from __future__ import annotations

from pathlib import Path

from algolens.errors import AlgolensError

ZOO_DIR = Path(__file__).parent / "models"


def zoo_names() -> list[str]:
    """Names of the shipped models."""
    if not ZOO_DIR.is_dir():
        return []
    return sorted(p.name for p in ZOO_DIR.iterdir() if (p / "config.json").exists())


def zoo_path(name: str) -> Path:
    """The run directory of zoo model ``name``."""
    path = ZOO_DIR / name
    if not (path / "config.json").exists():
        have = ", ".join(zoo_names()) or "none yet"
        raise AlgolensError(f"no zoo model {name!r} (the zoo has: {have})")
    return path
