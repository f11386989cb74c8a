"""``algolens analyse`` for modular addition: the cosine MLP (Bussmann 2023) or the grokking
transformer (Nanda et al. 2023), with the papers' claims checked.

The numbers come from :mod:`.mlp` and :mod:`.fourier`; this module runs the model over the full
table once, and turns what comes back into claims. :mod:`.report` draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from algolens import store
from algolens.analysis.claims import Claim
from algolens.analysis.progress import Stages
from algolens.families.base import Analysis
from algolens.families.modular.fourier import (
    Progress,
    TransformerAnalysis,
    analyse_transformer,
    grokking_phases,
    progress_measures,
)
from algolens.families.modular.mlp import MLPAnalysis, analyse_mlp
from algolens.models import build_model

PAPER_MLP = "Bussmann 2023"
PAPER_TF = "Nanda et al. 2023"
PROGRESS = "progress.json"  # precomputed progress measures (zoo runs carry no checkpoints)


@dataclass
class ModularAnalysis:
    """What the modular report draws: the evaluation, and the MLP's or the transformer's
    analysis (with the progress measures over the kept checkpoints and the phases)."""

    evaluation: dict[str, float]
    metrics: list[dict[str, Any]]
    mlp: MLPAnalysis | None = None
    transformer: TransformerAnalysis | None = None
    progress: Progress | None = None
    phases: dict[str, int | None] | None = None


def analyse(
    run: Any, questions: int = 0, seed: int = 0, progress: bool = False, source: Any = None
) -> Analysis:
    """The MLP's cosine fits, replacement and construction, or the transformer's Fourier
    spectra, key frequencies and progress measures; and the claims."""
    task, model = run.task, run.model
    ev = task.evaluate(model)
    facts = {"run": run.name, "p": task.p, "train share": task.train_frac}
    facts |= {k.replace("_", " "): f"{v:.4g}" for k, v in ev.items()}
    if run.config.model.get("kind") == "mlp":
        res = analyse_mlp(model.W_in, model.b_in, model.W_out, model.b_out, progress=progress)
        data = ModularAnalysis(ev, run.metrics, mlp=res)
        return Analysis(
            f"Modular addition MLP, p = {task.p}", mlp_claims(res, ev), data, facts=facts
        )
    with Stages("modular transformer analysis", 3, progress) as stages:
        logits, cache = stages.run(
            "activations",
            model.run_with_cache,
            task.all_inputs(),
            names_filter="blocks.0.mlp.hook_post",
        )
        acts = cache["blocks.0.mlp.hook_post"][:, -1]
        res_t = stages.run(
            "Fourier analysis", analyse_transformer, model.embed.W_E, acts, logits[:, -1]
        )
        measures = stages.run("progress measures", progress_for, run, res_t.key_freqs)
    phases = grokking_phases(run.metrics)
    data = ModularAnalysis(ev, run.metrics, transformer=res_t, progress=measures, phases=phases)
    claims = tf_claims(res_t, ev, phases, run)
    return Analysis(f"Modular addition transformer, p = {task.p}", claims, data, facts=facts)


def progress_for(run: Any, freqs: list[int]) -> Progress:
    """Progress measures from the run's kept checkpoints, or from its ``progress.json``.

    Zoo runs ship without their checkpoints (size), so they carry the measures precomputed.
    """
    saved = run.path / PROGRESS if run.path is not None else None
    steps_logits = _checkpoint_logits(run)
    if not steps_logits and saved is not None and saved.exists():
        return Progress(**store.read_json(saved, "progress measures"))
    task, here = run.task, torch.get_default_device()  # the analysis's device
    targets, train, val = (t.to(here) for t in (task.all_targets(), task.train_idx, task.val_idx))
    return progress_measures([(s, x.to(here)) for s, x in steps_logits], targets, freqs, train, val)


def _checkpoint_logits(run: Any) -> list[tuple[int, torch.Tensor]]:
    """Full-table logits at every kept checkpoint (``checkpoints/step_*.safetensors``)."""
    if run.path is None or not (run.path / "checkpoints").is_dir():
        return []
    model = build_model(run.config.model)
    model.eval()
    out = []
    for path in sorted((run.path / "checkpoints").glob("step_*.safetensors")):
        store.load_weights(model, path)
        out.append((int(path.stem.split("_")[1]), run.task.all_logits(model)))
    return out


def mlp_claims(res: MLPAnalysis, ev: dict[str, float]) -> list[Claim]:
    """Bussmann 2023's findings: four about the trained network, two about the algorithm."""
    rel = res.relations
    at = dict(zip(res.fractions, res.replacement, strict=True))
    close = (
        float((rel.phase_error[rel.same_freq].abs() < math.pi / 8).double().mean())
        if bool(rel.same_freq.any())
        else 0.0
    )
    return [
        Claim(
            "near-perfect train and validation accuracy after training",
            "~100% / ~100%",
            f"{ev['train_acc']:.4f} / {ev['val_acc']:.4f}",
            ev["train_acc"] >= 0.99 and ev["val_acc"] >= 0.99,
            PAPER_MLP,
        ),
        Claim(
            "input weights from a and b and the output weights share one frequency",
            ">= 90% of neurons",
            f"{rel.share_same_freq:.0%} of neurons",
            rel.share_same_freq >= 0.9,
            PAPER_MLP,
        ),
        Claim(
            "output phase ~ phase a + phase b",
            ">= 80% of neurons within pi/8",
            f"median error {rel.median_abs_phase_error:.3f} rad; {close:.0%} within pi/8",
            close >= 0.8,
            PAPER_MLP,
        ),
        Claim(
            "replacing > 90% of neurons by their fits keeps accuracy > 80%",
            "> 0.80 at 90%",
            f"{at[0.9]:.4f} at 90%, {at[1.0]:.4f} at 100%",
            at[0.9] > 0.8,
            PAPER_MLP,
        ),
        *construction_claims(res.sizes, res.construction, res.construction_2pi),
    ]


def construction_claims(sizes: list[int], cons: list[float], cons_2pi: list[float]) -> list[Claim]:
    """The algorithm, built with no training: N random cosine neurons (phases U[0, pi]).
    The wrong output rule (phase a - phase b) fails both (tests/unit/test_claims.py)."""
    at, at2 = dict(zip(sizes, cons, strict=True)), dict(zip(sizes, cons_2pi, strict=True))
    more = f"; 1024: {at[1024]:.4f} / {at2[1024]:.4f}" if 1024 in at else ""
    return [
        Claim(
            "the algorithm, with no training: 256 random cosine neurons reach > 95% accuracy",
            "> 0.95",
            f"{at[256]:.4f} (phases U[0, 2 pi]: {at2[256]:.4f})",
            at[256] > 0.95,
            PAPER_MLP,
        ),
        Claim(
            "the algorithm, with no training: 512 random cosine neurons reach 100% accuracy",
            "1.0000",
            f"{at[512]:.4f} (phases U[0, 2 pi]: {at2[512]:.4f}{more})",
            at[512] == 1.0,
            PAPER_MLP,
        ),
    ]


# ---- transformer ---------------------------------------------------------------------------------
def tf_claims(
    res: TransformerAnalysis, ev: dict[str, float], phases: dict[str, int | None], run: Any
) -> list[Claim]:
    train = run.config.train
    grok = phases["grokked"]
    per_step = min(1.0, train.batch_size / run.task.n_train)
    epochs = grok * per_step if grok is not None else None
    memorised = phases["memorised"] * per_step if phases["memorised"] is not None else None
    papers_recipe = train.lr == 1e-3 and train.weight_decay == 1.0 and not train.grokfast_lamb
    recipe = (
        "the paper's recipe"
        if papers_recipe
        else f"AdamW {train.lr}, wd {train.weight_decay}"
        + (f", Grokfast x{train.grokfast_lamb}" if train.grokfast_lamb else "")
    )
    if epochs is None or memorised is None:
        measured, grokked = "no generalisation in the log", False
    else:
        measured = (
            f"memorised at epoch {memorised:.0f}, val accuracy >= 99% at {epochs:.0f} ({recipe})"
        )
        # the paper's timing holds for its recipe only; any recipe must generalise long after
        # it memorises, or it is not grokking
        grokked = 10_000 <= epochs <= 15_000 if papers_recipe else epochs >= 3 * memorised
    return [
        Claim(
            "the model generalises: validation loss small",
            "val loss < 1e-3",
            f"{ev['val_loss']:.3g} (val accuracy {ev['val_acc']:.4f})",
            ev["val_loss"] < 1e-3,
            PAPER_TF,
        ),
        Claim(
            "it groks: test loss falls long after the training set is memorised, around epoch "
            "10K-15K with the paper's recipe",
            "the paper's recipe: 10,000-15,000 epochs; faster recipes: >= 3x the memorisation "
            "epoch",
            measured,
            grokked,
            PAPER_TF,
        ),
        Claim(
            "a few key frequencies (5 in the paper's run)",
            "~5",
            f"{len(res.key_freqs)}: {res.key_freqs}",
            3 <= len(res.key_freqs) <= 7,
            PAPER_TF,
        ),
    ]
