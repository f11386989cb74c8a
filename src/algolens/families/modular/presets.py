"""Modular-addition recipes: the two papers' (Bussmann 2023; Nanda et al. 2023) and ours."""

from __future__ import annotations

from algolens.families.base import Preset

BUSSMANN_STEPS = 20_000
NANDA_STEPS = 20_000
BUSSMANN_FAST_STEPS = 15_000
NANDA_FAST_STEPS = 2_000
GROKFAST = {"grokfast_alpha": 0.98, "grokfast_lamb": 2.0}
DEFAULTS = {"modadd": "bussmann"}


def bussmann() -> Preset:
    """Bussmann 2023: the MLP 226-100-113, 80% of the pairs train, AdamW 3e-3, wd 0.5."""
    return Preset(
        {"name": "modadd", "p": 113, "train_frac": 0.8, "input": "onehot"},
        {"kind": "mlp", "d_mlp": 100, "act_fn": "relu"},
        {
            "steps": BUSSMANN_STEPS,
            "batch_size": 128,
            "lr": 3e-3,
            "weight_decay": 0.5,
            "beta2": 0.999,
            "warmup_frac": 0.0,
            "min_lr_frac": 1.0,
            "log_every": 200,
            "checkpoint_every": 5000,
            "keep_every": 0,
        },
        "Bussmann 2023: MLP 226-100-113 on (a + b) mod 113, 80% train, AdamW 3e-3, wd 0.5",
        "about 40 s on 2 CPU cores",
    )


def nanda() -> Preset:
    """Nanda et al. 2023: 1 layer, d_model 128, 4 heads, no LayerNorm, 30% train, full batch."""
    model = {
        "kind": "transformer",
        "n_layers": 1,
        "n_heads": 4,
        "d_model": 128,
        "d_mlp": 512,
        "act_fn": "relu",
        "normalization_type": None,
    }
    return Preset(
        {"name": "modadd", "p": 113, "train_frac": 0.3, "input": "tokens"},
        model,
        {
            "steps": NANDA_STEPS,
            "batch_size": 1_000_000,
            "lr": 1e-3,
            "weight_decay": 1.0,
            "beta2": 0.98,
            "warmup_frac": 10 / NANDA_STEPS,
            "warmup_start": 0.0,
            "min_lr_frac": 1.0,
            "log_every": 100,
            "checkpoint_every": 1000,
            "keep_every": NANDA_STEPS // 50,
        },
        "Nanda et al. 2023: 1-layer transformer, 30% train, full batch, AdamW 1e-3, wd 1",
        "about 50 min on 2 CPU cores",
    )


def presets() -> dict[str, dict[str, Preset]]:
    """The papers' two recipes, and ours: the same models and data splits, trained faster
    (benchmarks/modular_speed.py)."""
    fast_mlp = bussmann()
    fast_mlp.train.update(steps=BUSSMANN_FAST_STEPS, **GROKFAST)
    fast_mlp.description = "bussmann + Grokfast (EMA 0.98, x2): 100% validation in ~10K steps"
    fast_mlp.cost = "about 20 s on 2 CPU cores"
    fast_tf = nanda()
    fast_tf.train.update(
        steps=NANDA_FAST_STEPS,
        lr=3e-3,
        weight_decay=3.0,
        warmup_frac=10 / NANDA_FAST_STEPS,
        log_every=50,
        keep_every=50,
    )
    # Grokfast is left out on purpose: with this optimiser it slowed grokking (1,150 steps
    # without, 1,350-1,650 with; benchmarks/modular_speed.py)
    fast_tf.description = "nanda with AdamW 3e-3 and wd 3: groks in ~1K full-batch steps, not ~10K"
    fast_tf.cost = "about 2 min on 2 CPU cores"
    named = {
        "bussmann": bussmann(),
        "nanda": nanda(),
        "bussmann-fast": fast_mlp,
        "nanda-fast": fast_tf,
    }
    return {"modadd": named}
