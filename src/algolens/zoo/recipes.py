"""Recipes of the arithmetic zoo models: the seeds' set, sized for a 2-core CPU.

The seeds' dimensions (d_model 510, batch 64, AdamW 8e-5, 15K-40K steps) take about an hour per
model here. The CPU recipe keeps the seeds' depth and head counts and their most-significant-
first format, and trades width for batch size and learning rate: d_model 96 (d_head 32), batch
256, AdamW 3e-3 with a 5% warm-up and cosine decay. Each model's card says how it differs from
the seeds' and what it verified to.
"""

from __future__ import annotations

from algolens.presets import Preset, register

CPU_TRAIN = {
    "batch_size": 256,
    "lr": 3e-3,
    "warmup_frac": 0.05,
    "weight_decay": 0.1,
    "log_every": 50,
    "checkpoint_every": 250,
    "keep_every": 250,
}


def _model(layers: int, heads: int, d_model: int = 96, d_head: int = 32) -> dict:
    """d_head stays 32 as heads are added, so a 3-head model's heads copy into a 4-head one."""
    return {
        "kind": "transformer",
        "n_layers": layers,
        "n_heads": heads,
        "d_model": d_model,
        "d_head": d_head,
    }


ZOO_RECIPES: dict[str, Preset] = {
    "add_d5_l1": Preset(
        {"name": "add", "n_digits": 5},
        _model(1, 3),
        {**CPU_TRAIN, "steps": 2500},
        "1-layer 5-digit addition (the ICLR paper's model): fails on cascades",
    ),
    "add_d5_l2": Preset(
        {"name": "add", "n_digits": 5},
        _model(2, 3),
        {**CPU_TRAIN, "steps": 2500},
        "2-layer 5-digit addition: accurate",
    ),
    "add_d6_l2": Preset(
        {"name": "add", "n_digits": 6},
        _model(2, 3),
        {**CPU_TRAIN, "steps": 3000},
        "2-layer 6-digit addition",
    ),
    "sub_d6_l2": Preset(
        {"name": "sub", "n_digits": 6},
        _model(2, 3),
        {**CPU_TRAIN, "steps": 2000},
        "2-layer 6-digit subtraction",
    ),
    "mix_d6_l3": Preset(
        {"name": "mix", "n_digits": 6},
        _model(3, 4),
        {**CPU_TRAIN, "steps": 2000},
        "3-layer mixed add/sub, from scratch",
    ),
    "ins1_mix_d6_l3": Preset(
        {"name": "mix", "n_digits": 6},
        _model(3, 4),
        {**CPU_TRAIN, "steps": 2000, "init_from": "zoo:add_d6_l2"},
        "3-layer mixed add/sub initialised from add_d6_l2 (ins1)",
    ),
}

# the CPU recipe for 5-digit addition is also a preset: `algolens train add --preset cpu`
register("cpu", ZOO_RECIPES["add_d5_l2"])
