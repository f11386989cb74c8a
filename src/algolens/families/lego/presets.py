"""The LEGO recipe (Zhang et al. 2022's task at n = 12): a 6-layer bidirectional encoder."""

from __future__ import annotations

from algolens.families.base import Preset

LEGO_MODEL = {"kind": "transformer", "n_layers": 6, "n_heads": 4, "d_model": 128, "d_mlp": 256}
LEGO_TRAIN = {"steps": 3000, "batch_size": 128, "lr": 1e-3, "warmup_frac": 0.05, "log_every": 100,
              "layer_loss": 1.0}  # fmt: skip
DEFAULTS = {"lego": "random"}


def presets() -> dict[str, dict[str, Preset]]:
    """The family's one recipe: ``lego`` from random init."""
    random = Preset(
        {"name": "lego", "n_vars": 12, "train_k": 6, "max_vars": 14},
        {**LEGO_MODEL, "causal": False, "d_vocab_out": 2},
        LEGO_TRAIN,
        "LEGO n = 12, loss on the first 6 chain positions: a 6-layer bidirectional encoder "
        "from random init, deep supervision (it stalls past position 2; the recipe that "
        "solves it is `algolens lego train --variant parent`)",
        "about 12 min on 2 CPU cores",
    )
    return {"lego": {"random": random}}
