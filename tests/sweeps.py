"""A tiny sweep spec (2-digit addition, one small layer), one run per step count, for the sweep
tests: inline (fast), on a local Ray and through ``--address`` (slow)."""

from __future__ import annotations

from pathlib import Path

TINY = """
name = "tiny"
questions = 300
[grid]
task = "add"
digits = 2
layers = 1
heads = 2
d_model = 32
steps = STEPS
[train]
batch_size = 32
log_every = 10
checkpoint_every = 20
"""


def tiny_spec(tmp: Path, steps: list[int]) -> Path:
    """The spec file, its runs trained for ``steps``, in that order; the sweep is named tiny."""
    path = tmp / "tiny.toml"
    path.write_text(TINY.replace("STEPS", str(steps)))
    return path
