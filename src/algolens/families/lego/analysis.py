"""LEGO analysis: accuracy by chain position, head classes, and shortcut probes. Pure functions.

- :func:`position_accuracies`: accuracy at every chain position on fresh sentences;
  :func:`layer_accuracies` the same after every layer, through the logit lens.
- :func:`classify_heads`: each head's similarity to the association, manipulation and parent
  templates (1 - mean total-variation distance between its pattern rows and the template
  rows), and a class: the template it matches best when that similarity is at least
  ``threshold``, else other. The parent template (a clause's name token attends to its parent
  clause's name token) is the one-hop-per-layer composition of the other two.
- :func:`root_rule` / :func:`root_rule_agreement`: a shortcut that needs no chain following,
  "value = own sign x the root clause's sign" (the root is the one clause with operand 1);
  exact at chain positions 1-2, a coin flip beyond. Agreement near 1 everywhere means the
  model computes this rule rather than following the chain.
- :func:`shortcut_probes`: accuracy on shifted distributions that a true chain-follower still
  solves (unshuffled order, shorter and longer chains, names at unseen chain positions,
  all-'+' chains), and the first chain position where accuracy drops below the training one.
  "Names at unseen positions" needs a model trained with ``names='split'`` (a-m only at even,
  n-z only at odd chain positions); it is then probed with ``names='swapped'``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from tqdm.auto import tqdm

from algolens.analysis.progress import Stages
from algolens.families.base import Analysis
from algolens.families.lego.claims import (
    MARGIN,
    PAPER,
    comparison_claims,
    falls_past_trained,
    follows_chain,
    has_template_heads,
    no_order_shortcut,
    no_root_rule_shortcut,
    run_claims,
    survives_probes,
)
from algolens.families.lego.mimic import (
    association_template,
    attention_patterns,
    manipulation_template,
    parent_template,
)
from algolens.families.lego.task import CLAUSE_LEN, MINUS, ONE, LegoTask
from algolens.tasks.base import Batch, model_device

TEMPLATES = ("association", "manipulation", "parent")  # head_similarities' keys, in order


@dataclass
class HeadClass:
    """One head's similarity to the three templates and the class it gets."""

    layer: int
    head: int
    association: float
    manipulation: float
    parent: float
    kind: str  # "association", "manipulation", "parent" or "other"

    @property
    def name(self) -> str:
        return f"L{self.layer}.H{self.head}"


@dataclass
class ProbeResult:
    """Accuracy per chain position on one shifted distribution."""

    name: str
    description: str
    n_vars: int
    accuracy: list[float]  # per chain position, 1..n_vars
    acc_trained: float  # over chain positions the model was trained on (<= k)
    acc_all: float
    drop_at: int | None  # first 1-based chain position whose accuracy falls > 5 points
    task: dict[str, Any] = field(default_factory=dict)


def fresh_batches(
    model: nn.Module, task: LegoTask, n: int, seed: int, batch_size: int = 512
) -> Iterator[Batch]:
    """``n`` fresh sentences from ``seed``, in batches of at most ``batch_size``, where
    ``model`` is."""
    gen = torch.Generator().manual_seed(seed)
    for start in range(0, n, batch_size):
        yield task.sample(min(batch_size, n - start), gen).to(model_device(model))


def fresh_batch(model: nn.Module, task: LegoTask, n: int, seed: int) -> Batch:
    """``n`` fresh sentences from ``seed`` in one batch, where ``model`` is."""
    return task.sample(n, torch.Generator().manual_seed(seed)).to(model_device(model))


def position_accuracies(
    model: nn.Module, task: LegoTask, n: int = 1024, seed: int = 0, batch_size: int = 512
) -> list[float]:
    """Accuracy at chain positions 1..n_vars on ``n`` fresh sentences."""
    right = torch.zeros(task.n_vars, dtype=torch.float64)
    count = torch.zeros(task.n_vars, dtype=torch.float64)
    with torch.no_grad():
        for batch in fresh_batches(model, task, n, seed, batch_size):
            ok = task.correct(model, batch).to(torch.float64)
            right.index_add_(0, batch.labels["depth"].flatten(), ok.flatten())
            count.index_add_(0, batch.labels["depth"].flatten(), torch.ones_like(ok).flatten())
    return (right / count).tolist()


def layer_accuracies(
    model: nn.Module, task: LegoTask, n: int = 1024, seed: int = 0, batch_size: int = 512
) -> list[list[float]]:
    """``[layer][position]``: accuracy at each chain position of the answers read after each
    layer through the logit lens (the final LayerNorm and the binary head on that layer's
    residual stream). A one-hop-per-layer model knows positions up to ``l + 2`` after layer l.
    The sentences are :func:`position_accuracies`' for the same ``n`` and ``seed``.
    """
    right = torch.zeros(len(model.blocks), task.n_vars, dtype=torch.float64)  # type: ignore[arg-type]
    count = torch.zeros(task.n_vars, dtype=torch.float64)
    with torch.no_grad():
        for batch in fresh_batches(model, task, n, seed, batch_size):
            lens = model.logit_lens(batch.inputs, readout=task.readout)  # type: ignore[operator]
            ok = (lens.argmax(-1) == batch.targets).to(torch.float64)  # [layer, batch, n]
            depth = batch.labels["depth"].flatten()
            right.index_add_(1, depth, ok.flatten(1))
            count.index_add_(0, depth, torch.ones_like(ok[0]).flatten())
    return (right / count).tolist()


def template_similarity(
    patterns: Float[Tensor, "layer batch head pos pos"],
    template: Float[Tensor, "batch pos pos"],
    rows: Tensor | None = None,
) -> Float[Tensor, "layer head"]:
    """1 - mean total-variation distance between pattern rows and template rows.

    ``rows`` (``[batch, pos]`` bools) picks the query rows that count (all by default).
    """
    tv = 0.5 * (patterns - template[None, :, None]).abs().sum(-1)  # [layer, batch, head, pos]
    if rows is None:
        return 1 - tv.mean((1, 3))
    w = rows[None, :, None].to(tv.dtype)
    return 1 - (tv * w).sum((1, 3)) / w.sum((1, 3))


def head_similarities(
    model: nn.Module, tokens: Int[Tensor, "batch pos"], window: int = 2
) -> dict[str, Float[Tensor, "layer head"]]:
    """Association, manipulation and parent similarity of every head on ``tokens``.

    Association counts only query rows at a variable name that occurs twice (the rows where
    the template is not just "attend to yourself"); parent only the clauses' name tokens.
    """
    with torch.no_grad():
        patterns = attention_patterns(model, tokens)
    assoc_t = association_template(tokens)
    eye = torch.eye(tokens.shape[1])
    assoc_rows = (assoc_t * (1 - eye)).sum(-1) > 0  # [batch, pos]
    assoc = template_similarity(patterns, assoc_t, assoc_rows)
    manip_t = manipulation_template(tokens.shape[1], window).expand_as(assoc_t)
    parent_t, parent_rows = parent_template(tokens)
    return {
        "association": assoc,
        "manipulation": template_similarity(patterns, manip_t),
        "parent": template_similarity(patterns, parent_t, parent_rows),
    }


def classify_heads(
    model: nn.Module, tokens: Int[Tensor, "batch pos"], threshold: float = 0.4, window: int = 2
) -> list[HeadClass]:
    """Every head's class (association / manipulation / parent / other) on the sentences
    ``tokens`` (:func:`fresh_batch`'s, in :func:`evaluate`)."""
    sims = head_similarities(model, tokens, window)
    n_layers, n_heads = sims["association"].shape
    out = []
    for layer in range(n_layers):
        for head in range(n_heads):
            s = {kind: float(sim[layer, head]) for kind, sim in sims.items()}
            best = max(s, key=lambda kind: s[kind])
            kind = best if s[best] >= threshold else "other"
            out.append(HeadClass(layer, head, **s, kind=kind))
    return out


def probe_tasks(task: LegoTask, n_ctx: int) -> list[tuple[str, str, LegoTask]]:
    """The shifted distributions that fit a model with ``n_ctx`` positions."""
    base = replace(task, eval_size=0)
    n, max_vars = task.n_vars, n_ctx // 5
    probes = [
        ("train", "the training distribution", base),
        ("unshuffled", "clauses in chain order", replace(base, shuffle=False)),
        ("all_plus", "every sign '+'", replace(base, signs="plus")),
    ]
    if not task.shuffle:  # trained on chains in order: the shift is to shuffled ones
        probes.insert(2, ("shuffled", "clauses shuffled", replace(base, shuffle=True)))
    if n > 4:
        short = max(2, n - 4)
        m = replace(base, n_vars=short, train_k=min(task.k, short), max_vars=max_vars)
        probes.append(("shorter", f"chains of {short}", m))
    if max_vars > n:
        m = replace(base, n_vars=max_vars, max_vars=max_vars)
        probes.append(("longer", f"chains of {max_vars} (positions past {n} never trained)", m))
    if task.names == "split":
        probes.append(
            (
                "names_swapped",
                "each name at chain positions of the other parity",
                replace(base, names="swapped"),
            ),
        )
    else:
        # a subset of what a names='any' model saw; the real shift is 'swapped' after 'split'
        only = replace(base, names="split")
        probes.append(("names_split", "a-m at even, n-z at odd chain positions", only))
    return probes


def shortcut_probes(
    model: nn.Module,
    task: LegoTask,
    n: int = 1024,
    seed: int = 0,
    tolerance: float = 0.05,
    progress: bool = False,
) -> list[ProbeResult]:
    """Accuracy by chain position on every probe, and where it first drops below training's."""
    cfg: Any = model.cfg
    n_ctx = cfg.n_ctx
    results = []
    reference: list[float] | None = None
    probes = probe_tasks(task, n_ctx)
    for name, description, probe in tqdm(
        probes, desc="LEGO shortcut probes", unit="probe", disable=not progress, leave=False
    ):
        acc = position_accuracies(model, probe, n, seed)
        if reference is None:
            reference = acc
        drop_at = next(
            (
                i + 1
                for i, a in enumerate(acc)
                if a < (reference[i] if i < len(reference) else reference[-1]) - tolerance
            ),
            None,
        )
        k = min(task.k, probe.n_vars)
        results.append(
            ProbeResult(
                name=name,
                description=description,
                n_vars=probe.n_vars,
                accuracy=acc,
                acc_trained=sum(acc[:k]) / k,
                acc_all=sum(acc) / len(acc),
                drop_at=drop_at,
                task=probe.to_dict(),
            )
        )
    return results


def root_rule(tokens: Int[Tensor, "batch pos"]) -> Int[Tensor, "batch n"]:
    """The root-sign shortcut's answer bits in clause order: own sign XOR the root's sign."""
    clauses = tokens.view(tokens.shape[0], -1, CLAUSE_LEN)
    own = (clauses[:, :, 2] == MINUS).long()  # [batch, n] sign bits
    is_root = clauses[:, :, 3] == ONE
    root_sign = (own * is_root).sum(-1, keepdim=True)
    return torch.where(is_root, own, own ^ root_sign)


def root_rule_agreement(
    model: nn.Module, task: LegoTask, n: int = 1024, seed: int = 0
) -> list[float]:
    """Per chain position, the share of the model's answers equal to :func:`root_rule`'s."""
    batch = fresh_batch(model, task, n, seed)
    with torch.no_grad():
        pred = task.answer_logits(model(batch.inputs)).argmax(-1)
    same = (pred == root_rule(batch.inputs)).to(torch.float64)
    depth = batch.labels["depth"]
    return [float(same[depth == d].mean()) for d in range(task.n_vars)]


# ---- one run, and the claims ------------------------------------------------------------------


def order_accuracies(
    model: nn.Module, task: LegoTask, n: int = 1024, seed: int = 0
) -> dict[str, Any]:
    """Accuracy on chain positions 1..k of ``n`` fresh shuffled sentences and of ``n`` in chain
    order (the same names and signs, seed ``seed``): a chain-follower gets both alike, a model
    that answers by the clauses' order in the text only the in-order ones."""
    out: dict[str, Any] = {"sentences": n, "seed": seed}
    for name, shuffle in (("shuffled", True), ("in_order", False)):
        acc = position_accuracies(model, replace(task, shuffle=shuffle, eval_size=0), n, seed)
        out[name] = sum(acc[: task.k]) / task.k
        out[f"{name}_by_position"] = acc
    return out


def mean_attention(
    model: nn.Module, task: LegoTask, n: int = 256, seed: int = 0
) -> Float[Tensor, "layer head pos pos"]:
    """Every head's attention pattern averaged over ``n`` fresh sentences."""
    with torch.no_grad():
        return attention_patterns(model, fresh_batch(model, task, n, seed).inputs).mean(1)


def evaluate(
    model: nn.Module,
    task: LegoTask,
    n: int = 2048,
    seed: int = 0,
    lens: bool = False,
    progress: bool = False,
    attention: bool = False,
) -> dict[str, Any]:
    """Accuracy by chain position, head classes, shortcut probes and root-rule agreement of a
    trained model; with ``lens`` accuracy after every layer, with ``attention`` every head's
    mean pattern (``[layer][head][query][key]``). ``progress`` shows a labelled bar."""
    k, m = task.k, min(n, 1024)
    with Stages("LEGO analysis", 5 + lens + attention, progress) as stages:
        acc = stages.run("accuracy by position", position_accuracies, model, task, n, seed)
        sentences = fresh_batch(model, task, min(n, 256), seed).inputs
        heads = stages.run("head classes", classify_heads, model, sentences)
        probes = stages.run(
            "shortcut probes", shortcut_probes, model, task, m, seed, progress=progress
        )
        root = stages.run("root rule", root_rule_agreement, model, task, m, seed)
        order = stages.run("shuffled vs in order", order_accuracies, model, task, m, seed)
        untrained = acc[k:]
        out = {
            "accuracy": acc,
            "acc_trained": sum(acc[:k]) / k,
            "acc_untrained": sum(untrained) / len(untrained) if untrained else None,
            "heads": [asdict(h) for h in heads],
            "probes": [asdict(p) for p in probes],
            "root_rule_agreement": root,
            "order": order,
            "sentences": n,
            "seed": seed,
            "k": k,
            "probe_sentences": m,
            "head_sentences": min(n, 256),
        }
        if lens:
            out["layer_accuracy"] = stages.run("logit lens", layer_accuracies, model, task, n, seed)
        if attention:
            mean = stages.run("attention", mean_attention, model, task, min(n, 256), seed)
            out["attention"] = mean.tolist()
    return out


def analyse(
    run: Any, questions: int = 1000, seed: int = 0, progress: bool = False, source: Any = None
) -> Analysis:
    """``algolens analyse`` for a LEGO run: the evaluation above and the paper's claims."""
    task = run.task
    result = evaluate(
        run.model, task, questions, seed, lens=True, progress=progress, attention=True
    )
    model = run.config.model
    facts = {
        "run": run.path.name if run.path is not None else run.name,
        "task": f"n = {task.n_vars} clauses, trained on chain positions 1-{task.k}",
        "model": f"{model['n_layers']} layers, {model['n_heads']} heads, "
        f"d_model {model['d_model']}",
        "initialisation": _init_text(run.config.init),
        "sentences": f"{questions:,}",
    }
    return Analysis(
        title=f"LEGO: how a {model['n_layers']}-layer encoder follows a chain of "
        f"{task.n_vars} clauses",
        subtitle=f"Trained on the first {task.k} chain positions; accuracy by position, head "
        "classes, shortcut probes and attention, with the paper's claims checked "
        "(Zhang et al. 2022)",
        claims=run_claims(result, task.k),
        data={"result": result, "metrics": run.metrics, "k": task.k},
        facts=facts,
    )


def _init_text(init: Any) -> str:
    """The initialisation in words: ``parent (mimic init: 150 steps, lr 0.003, window 3)``."""
    variant = init.variant or "random"
    mimic = (init.family or {}).get("mimic")
    if not mimic:
        return variant
    words = {"steps": "{} steps", "lr": "lr {}", "window": "window {}"}
    parts = [form.format(mimic[key]) for key, form in words.items() if key in mimic]
    return f"{variant} (mimic init: {', '.join(parts)})"


__all__ = [  # the claims live in .claims; these names stay importable from here
    "MARGIN",
    "PAPER",
    "analyse",
    "classify_heads",
    "comparison_claims",
    "evaluate",
    "falls_past_trained",
    "follows_chain",
    "has_template_heads",
    "layer_accuracies",
    "no_order_shortcut",
    "no_root_rule_shortcut",
    "order_accuracies",
    "position_accuracies",
    "root_rule",
    "root_rule_agreement",
    "run_claims",
    "shortcut_probes",
    "survives_probes",
]
