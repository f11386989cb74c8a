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
from algolens.families.modular.gates import (
    ACTS,
    BROKEN,
    KEPT,
    LOG_MARGIN,
    Gates,
    Rate,
    frequency_ablation,
    gated,
    log_check,
    split_rates,
)
from algolens.families.modular.mlp import MLPAnalysis, NeuronEffect, analyse_mlp
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
    gates: Gates | None = None  # the model's accuracy as loaded, the log check, the ablation


def analyse(
    run: Any, questions: int = 0, seed: int = 0, progress: bool = False, source: Any = None
) -> Analysis:
    """The MLP's cosine fits, replacement and construction, or the transformer's Fourier
    spectra, key frequencies and progress measures; and the claims, each gated on the model's
    measured accuracy and on the causal effect of what it names (:mod:`.gates`)."""
    task, model = run.task, run.model
    ev = task.evaluate(model)
    facts = {"run": run.name, "p": task.p, "train share": task.train_frac}
    facts |= {k.replace("_", " "): f"{v:.4g}" for k, v in ev.items()}
    if run.config.model.get("kind") == "mlp":
        res = analyse_mlp(model.W_in, model.b_in, model.W_out, model.b_out, progress=progress)
        gates = Gates(split_rates(task.all_logits(model), task), task.split_seed)
        data = ModularAnalysis(ev, run.metrics, mlp=res, gates=gates)
        title = f"Modular addition MLP, p = {task.p}"
        return Analysis(title, mlp_claims(res, gates), data, facts=facts)
    with Stages("modular transformer analysis", 4, progress) as stages:
        logits, cache = stages.run(
            "activations", model.run_with_cache, task.all_inputs(), names_filter=ACTS
        )
        acts, logits = cache[ACTS][:, -1], logits[:, -1]
        res_t = stages.run("Fourier analysis", analyse_transformer, model.embed.W_E, acts, logits)
        ablation = stages.run(
            "frequency ablation",
            frequency_ablation,
            model,
            task,
            logits,
            res_t.acts,
            res_t.key_freqs,
        )
        measures = stages.run("progress measures", progress_for, run, res_t.key_freqs)
    rates = split_rates(logits, task)
    measured = rates.get("val", rates["all"])
    gates = Gates(rates, task.split_seed, log_check(run.metrics, measured), ablation)
    phases = grokking_phases(run.metrics)
    data = ModularAnalysis(
        ev, run.metrics, transformer=res_t, progress=measures, phases=phases, gates=gates
    )
    claims = tf_claims(res_t, ev, phases, run, gates)
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


def mlp_claims(res: MLPAnalysis, gates: Gates) -> list[Claim]:
    """Bussmann 2023's findings about the trained network, each gated on its accuracy and on
    what the neurons it describes do; then the construction's, reported as not the model's."""
    rel = res.relations
    at = dict(zip(res.fractions, res.replacement, strict=True))
    near = rel.phase_error[rel.same_freq].abs() < math.pi / 8
    close = float(near.double().mean()) if bool(rel.same_freq.any()) else 0.0
    n = len(rel.same_freq)
    same = Rate(int(rel.same_freq.sum()), n)
    within = Rate(int(near.sum()), int(rel.same_freq.sum()))
    total = res.seeds * res.p**2  # the pooled pairs of the replacement's random orders

    def pooled(acc: float) -> str:
        orders = _draws(res.seeds, "random neuron orders")
        return Rate(round(acc * total), total).text(f"pairs over {orders}")

    train, val = gates.rates["train"], gates.rates.get("val", gates.rates["all"])
    pairs = f"pairs, split seed {gates.split_seed}"
    return [
        Claim(
            "near-perfect train and validation accuracy after training",
            "~100% / ~100% (>= 0.99 each)",
            f"train {train.text(pairs)}; validation {val.text(pairs)}",
            train.value >= 0.99 and val.value >= 0.99,
            PAPER_MLP,
        ),
        gated(
            "input weights from a and b and the output weights share one frequency",
            ">= 90% of neurons",
            f"{rel.share_same_freq:.0%} of neurons ({same.text('neurons')})",
            rel.share_same_freq >= 0.9,
            gates,
            PAPER_MLP,
            _effect(res.same_freq_effect),
        ),
        gated(
            "output phase ~ phase a + phase b",
            ">= 80% of neurons within pi/8",
            f"median error {rel.median_abs_phase_error:.3f} rad; {close:.0%} within pi/8 "
            f"({within.text('neurons sharing one frequency')})",
            close >= 0.8,
            gates,
            PAPER_MLP,
            _effect(res.phase_effect),
        ),
        gated(
            "replacing > 90% of neurons by their fits keeps accuracy > 80%",
            f"> 0.80 at 90% (all pairs, mean of {_draws(res.seeds, 'random neuron orders')})",
            f"{pooled(at[0.9])} at 90%, {pooled(at[1.0])} at 100%",
            at[0.9] > 0.8,
            gates,
            PAPER_MLP,
        ),
        *construction_records(res.sizes, res.construction, res.construction_2pi, res.p, res.seeds),
    ]


def _draws(seeds: int, what: str = "draws") -> str:
    """``3 draws, seeds 0-2``."""
    return f"{seeds} {what}, seed{'s 0-' + str(seeds - 1) if seeds > 1 else ' 0'}"


def _effect(effect: NeuronEffect | None) -> tuple[bool, str, str]:
    if effect is None:
        return False, "the neurons it describes matter", "not measured"
    return effect.holds, effect.expected(), effect.text()


CONSTRUCTION = "a property of Bussmann 2023's construction (untrained random cosine neurons), "


def construction_records(
    sizes: list[int], cons: list[float], cons_2pi: list[float], p: int, seeds: int = 3
) -> list[Claim]:
    """The construction's claims as records that are never a model's pass: the same networks
    of random cosine neurons are built for any model (a 1-step MLP reaches the same numbers),
    so they say nothing about this one. Their own verdict is :func:`construction_claims`'."""
    if not {256, 512} <= set(sizes):
        return []
    own = construction_claims(sizes, cons, cons_2pi, p, seeds)
    why = "not a claim about this model"
    return [
        Claim(
            c.claim,
            c.expected,
            f"{CONSTRUCTION}{why}; the construction {'passes' if c.passed else 'fails'}: "
            f"{c.measured}",
            False,
            c.source,
            applicable=False,
        )
        for c in own
    ]


def construction_claims(
    sizes: list[int], cons: list[float], cons_2pi: list[float], p: int = 113, seeds: int = 3
) -> list[Claim]:
    """The algorithm, built with no training: N random cosine neurons (phases U[0, pi]), each
    size scored on all p * p pairs, mean of ``seeds`` draws (seeds 0, 1, ...). The wrong output
    rule (phase a - phase b) fails both (tests/unit/test_claims.py). These check the
    construction, not a model: :func:`construction_records` is what a model's claims carry."""
    at, at2 = dict(zip(sizes, cons, strict=True)), dict(zip(sizes, cons_2pi, strict=True))
    more = f"; 1024: {at[1024]:.4f} / {at2[1024]:.4f}" if 1024 in at else ""
    each = f"{p * p:,} pairs per network, mean of {_draws(seeds)}"
    total = seeds * p * p

    def ci(acc: float) -> str:
        lo, hi = Rate(round(acc * total), total).interval
        return f"95% CI {lo:.4f}-{hi:.4f} over the {total:,} pooled pairs"

    return [
        Claim(
            "the algorithm, with no training: 256 random cosine neurons reach > 95% accuracy",
            "> 0.95",
            f"{at[256]:.4f} ({ci(at[256])}; phases U[0, 2 pi]: {at2[256]:.4f}; {each})",
            at[256] > 0.95,
            PAPER_MLP,
        ),
        Claim(
            "the algorithm, with no training: 512 random cosine neurons reach 100% accuracy",
            "1.0000",
            f"{at[512]:.4f} ({ci(at[512])}; phases U[0, 2 pi]: {at2[512]:.4f}{more}; {each})",
            at[512] == 1.0,
            PAPER_MLP,
        ),
    ]


# ---- transformer ---------------------------------------------------------------------------------
def _recipe(train: Any) -> tuple[bool, str]:
    """Whether the run used Nanda et al. 2023's recipe, and the recipe in words."""
    papers = train.lr == 1e-3 and train.weight_decay == 1.0 and not train.grokfast_lamb
    if papers:
        return True, "the paper's recipe"
    grokfast = f", Grokfast x{train.grokfast_lamb}" if train.grokfast_lamb else ""
    return False, f"AdamW {train.lr}, wd {train.weight_decay}{grokfast}"


def grok_timing(phases: dict[str, int | None], run: Any) -> tuple[str, bool]:
    """What the log says about when the model memorised and generalised, and whether that is
    grokking: the paper's 10K-15K epochs with its recipe, >= 3x the memorisation epoch with a
    faster one. Read from metrics.jsonl only: :func:`tf_claims` gates it on the model."""
    grok, mem = phases["grokked"], phases["memorised"]
    per_step = min(1.0, run.config.train.batch_size / run.task.n_train)
    papers_recipe, recipe = _recipe(run.config.train)
    if grok is None or mem is None:
        return "no generalisation in the log", False
    epochs, memorised = grok * per_step, mem * per_step
    measured = f"memorised at epoch {memorised:.0f}, val accuracy >= 99% at {epochs:.0f} ({recipe})"
    # the paper's timing holds for its recipe only; any recipe must generalise long after
    # it memorises, or it is not grokking
    ok = 10_000 <= epochs <= 15_000 if papers_recipe else epochs >= 3 * memorised
    return measured, ok


def tf_claims(
    res: TransformerAnalysis,
    ev: dict[str, float],
    phases: dict[str, int | None],
    run: Any,
    gates: Gates,
) -> list[Claim]:
    """Nanda et al. 2023's claims: generalisation (from the model), grokking (from the log,
    gated on the model as loaded reaching the log's accuracy) and the key frequencies (gated on
    accuracy and on the effect of projecting them out)."""
    timing, grokked = grok_timing(phases, run)
    log = gates.log
    agrees = log is not None and log.agrees
    log_text = log.text() if log is not None else "no log check"
    freqs = res.key_freqs
    ablation = gates.ablation
    effect = (
        (ablation.causal, _ABLATION_EXPECTED, ablation.text())
        if ablation is not None
        else (False, _ABLATION_EXPECTED, "not measured")
    )
    val = gates.rates.get("val", gates.rates["all"])
    pairs = f"pairs, split seed {gates.split_seed}"
    return [
        Claim(
            "the model generalises: validation loss small",
            "val loss < 1e-3",
            f"{ev['val_loss']:.3g} (val accuracy {val.text(pairs)})",
            ev["val_loss"] < 1e-3,
            PAPER_TF,
        ),
        Claim(
            "it groks: test loss falls long after the training set is memorised, around epoch "
            "10K-15K with the paper's recipe",
            "the paper's recipe: 10,000-15,000 epochs; faster recipes: >= 3x the memorisation "
            f"epoch; and the model as loaded within {LOG_MARGIN} of the log's last validation "
            "accuracy",
            f"{timing}; {log_text}" if agrees else f"{timing}; GATE FAILED, {log_text}",
            grokked and agrees,
            PAPER_TF,
        ),
        gated(
            "a few key frequencies (5 in the paper's run)",
            "3 to 7 (~5)",
            f"{len(freqs)}: {freqs}",
            3 <= len(freqs) <= 7,
            gates,
            PAPER_TF,
            effect,
        ),
    ]


_ABLATION_EXPECTED = (
    f"projecting them out of the MLP activations leaves accuracy <= {BROKEN}, projecting out as "
    f"many other frequencies leaves it >= {KEPT}"
)
