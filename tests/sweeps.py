"""Tiny sweep specs for the sweep tests: inline (fast), on a local Ray and through ``--address``
(slow). ``tiny_spec``: 2-digit addition, one small layer, one run per step count; ``lego_spec``:
two LEGO variants (random, parent) of one small layer, and the ``lego train`` command line of
its parent run."""

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


LEGO = """
name = "legotiny"
[grid]
task = "lego"
variant = ["random", "parent"]
seed = 1
layers = 1
heads = 3
d_model = 24
d_mlp = 32
steps = 4
[task]
n_vars = 4
train_k = 2
max_vars = 5
[train]
batch_size = 16
lr = 1e-3
warmup_frac = 0.05
log_every = 2
layer_loss = 1.0
[init.mimic]
steps = 2
"""


LEGO_TRAIN = ["lego", "train", "--variant", "parent", "--seed", "1", "--n-vars", "4", "--train-k",
              "2", "--max-vars", "5", "--layers", "1", "--heads", "3", "--d-model", "24",
              "--d-mlp", "32", "--steps", "4", "--batch-size", "16", "--log-every", "2",
              "--mimic-steps", "2", "--no-progress"]  # fmt: skip


def lego_spec(tmp: Path) -> Path:
    """The LEGO spec file; the sweep is named legotiny."""
    path = tmp / "lego.toml"
    path.write_text(LEGO)
    return path
