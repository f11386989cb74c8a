"""The four LEGO encoder variants of Zhang et al. (2022), trained and compared on the same seeds.

- ``random``: a bidirectional encoder (the spine's Transformer, ``causal=False``) with a binary
  head read at each clause's assigned-variable token, from random initialisation;
- ``mimic``: the same, initialised by :func:`~algolens.models.lego_mimic.mimic_init` (heads
  trained towards the association and manipulation patterns), standing in for pretraining;
- ``tied``: one block applied ``n_layers`` times (ALBERT);
- ``conv``: a depthwise convolution along positions inside the query/key/value maps;
- ``parent`` (ours): ``mimic`` with a third template, each clause's name token attending to
  its parent clause's name token (one chain hop per layer), and a kernel-7 convolution in q/k/v
  so that layer 0's name token sees its operand. With deep supervision
  (``TrainConfig.layer_loss``) it is the recipe that solves n = 12, k = 6 in minutes on a CPU.

:func:`compare_variants` trains each variant per seed and measures accuracy by chain position,
head classes and shortcut probes; the result is one JSON-able dict.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from algolens.analysis.lego import (
    classify_heads,
    position_accuracies,
    root_rule_agreement,
    shortcut_probes,
)
from algolens.errors import AlgolensError
from algolens.models.lego_mimic import MimicConfig, mimic_run
from algolens.store import CONFIG, TRAIN_STATE, load_run, load_train_state, read_config, write_json
from algolens.train import TrainConfig, train

VARIANTS = ("random", "mimic", "tied", "conv", "parent")
MIMIC_VARIANTS = ("mimic", "parent")
PARENT_CONV = 7  # the name token's query must reach its operand, OPERAND = 3 positions on
MIMIC_DIR = "mimic_init"


def variant_model(variant: str, model_spec: dict[str, Any], conv_kernel: int = 3) -> dict[str, Any]:
    """The model section of ``variant`` built on ``model_spec``."""
    if variant not in VARIANTS:
        raise AlgolensError(f"unknown LEGO variant {variant!r}: choose from {', '.join(VARIANTS)}")
    spec = {"kind": "transformer", **model_spec, "causal": False, "d_vocab_out": 2}
    if variant == "tied":
        spec["tie_layers"] = True
    if variant == "conv":
        spec["conv_kernel"] = model_spec.get("conv_kernel") or conv_kernel
    if variant == "parent":
        spec["conv_kernel"] = model_spec.get("conv_kernel") or PARENT_CONV
    return spec


def variant_mimic(variant: str, cfg: MimicConfig) -> MimicConfig:
    """The mimic init a variant uses: ``cfg``, with at least one parent head for ``parent``."""
    return replace(cfg, n_parent=cfg.n_parent or 1) if variant == "parent" else cfg


def train_variant(
    out: str | Path,
    variant: str,
    task_spec: dict[str, Any],
    model_spec: dict[str, Any],
    train_cfg: TrainConfig,
    mimic_cfg: MimicConfig | None = None,
    *,
    progress: bool = True,
    argv: list[str] | None = None,
    stop_after: int | None = None,
) -> Path:
    """Train one variant into the run directory ``out``; returns it.

    For ``mimic`` and ``parent`` the initialisation is written first to ``out/mimic_init`` (a
    run directory whose config records the procedure), the task run starts from it through
    ``init_from``, and the task run's ``config.json`` gets a ``mimic_init`` section too.
    ``stop_after`` ends training early as the trainer's does (continue with
    ``train(out, resume=True)``).
    """
    out = Path(out)
    if (out / CONFIG).exists():
        raise AlgolensError(f"{out} already holds a run: choose another --out")
    spec = variant_model(variant, model_spec)
    cfg = replace(train_cfg)
    if variant in MIMIC_VARIANTS and cfg.init_from:
        raise AlgolensError(f"the {variant} variant makes its own initialisation: no init_from")
    if variant in MIMIC_VARIANTS:
        mimic_cfg = variant_mimic(variant, mimic_cfg or MimicConfig(seed=train_cfg.seed))
        init_dir = mimic_run(out / MIMIC_DIR, task_spec, spec, mimic_cfg, progress=progress)
        cfg = replace(cfg, init_from=str(init_dir))
    argv = argv if argv is not None else sys.argv
    train(out, task_spec, spec, cfg, argv=argv, progress=progress, stop_after=stop_after)
    config = read_config(out)
    config["variant"] = variant
    if variant in MIMIC_VARIANTS and mimic_cfg is not None:
        config["mimic_init"] = {"run": str(out / MIMIC_DIR), **asdict(mimic_cfg)}
    write_json(out / CONFIG, config)
    return out


def evaluate_run(path: Path, n: int = 2048, seed: int = 0) -> dict[str, Any]:
    """Accuracy by chain position, head classes and shortcut probes of a trained LEGO run."""
    run = load_run(path)
    task = run.task
    acc = position_accuracies(run.model, task, n, seed)
    k = task.k
    untrained = acc[k:]
    return {
        "run": str(path),
        "accuracy": acc,
        "acc_trained": sum(acc[:k]) / k,
        "acc_untrained": sum(untrained) / len(untrained) if untrained else None,
        "heads": [asdict(h) for h in classify_heads(run.model, task, min(n, 256), seed)],
        "probes": [asdict(p) for p in shortcut_probes(run.model, task, min(n, 1024), seed)],
        "root_rule_agreement": root_rule_agreement(run.model, task, min(n, 1024), seed),
        "steps": run.metrics[-1]["step"] if run.metrics else None,
        "wall_seconds": train_seconds(path),
    }


def train_seconds(path: Path) -> float | None:
    """Training wall seconds recorded in the run's checkpoint (None if it has none)."""
    if not (path / TRAIN_STATE).exists():
        return None
    elapsed = load_train_state(path / TRAIN_STATE).get("elapsed")
    return None if elapsed is None else float(elapsed)


def compare_variants(
    out: str | Path,
    task_spec: dict[str, Any],
    model_spec: dict[str, Any],
    train_cfg: TrainConfig,
    variants: tuple[str, ...] = VARIANTS,
    seeds: tuple[int, ...] = (0,),
    mimic_cfg: MimicConfig | None = None,
    *,
    n_eval: int = 2048,
    progress: bool = True,
) -> dict[str, Any]:
    """Train every variant on every seed under ``out/<variant>_s<seed>`` and measure them."""
    out = Path(out)
    for v in variants:  # validate every variant before training anything
        spec = variant_model(v, model_spec)
        wanted = variant_mimic(v, mimic_cfg or MimicConfig())
        heads = wanted.n_assoc + wanted.n_manip + wanted.n_parent
        if v in MIMIC_VARIANTS and heads > spec.get("n_heads", heads):
            raise AlgolensError(f"the {v} variant's mimic init needs {heads} heads per layer, "
                                f"the model has {spec['n_heads']}")  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for seed in seeds:
        for variant in variants:
            run_dir = out / f"{variant}_s{seed}"
            t0 = time.perf_counter()
            mcfg = replace(mimic_cfg or MimicConfig(), seed=seed)
            cfg = replace(train_cfg, seed=seed)
            train_variant(run_dir, variant, task_spec, model_spec, cfg, mcfg, progress=progress)
            row = {"seed": seed, "total_seconds": time.perf_counter() - t0}
            row.update(evaluate_run(run_dir, n_eval, seed=10_000 + seed))
            results[variant].append(row)
    return {
        "task": task_spec,
        "model": model_spec,
        "train": asdict(train_cfg),
        "mimic": asdict(mimic_cfg or MimicConfig()),
        "seeds": list(seeds),
        "variants": results,
    }
